//! The `vcollect` command line: the agent, one-shot collection and the admin commands.
//!
//! This is the binary's edge: errors become `anyhow` messages with their causes, printed
//! once, and an exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use vcollect::cluster;
use vcollect::collect::{agent, Assignment, Collector, Standalone};
use vcollect::config::{self, Config, OutputApi};
use vcollect::secret::Secret;
use vcollect::sink::{self, Sink};

#[derive(Parser)]
#[command(
    name = "vcollect",
    version,
    about = "A clustered vSphere performance collector"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "VCOLLECT_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Collect every interval until SIGTERM (the daemon).
    Agent {
        /// `-` writes line protocol to stdout instead of the configured sink.
        #[arg(long)]
        output: Option<String>,
    },
    /// Collect one window for every vCenter, print a summary and exit (non-zero on errors).
    Once {
        /// `-` writes line protocol to stdout instead of the configured sink.
        #[arg(long)]
        output: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration file without running anything.
    Validate,
    /// The cluster as one node sees it: leader, term, and each member's state and buckets.
    Status {
        #[command(flatten)]
        admin: AdminArgs,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// How admin subcommands reach a node.
#[derive(clap::Args)]
struct AdminArgs {
    /// A node's gRPC address (default: this node's from --config).
    #[arg(long, env = "VCOLLECT_ADDR")]
    addr: Option<String>,
    /// File holding the cluster token (default: the config's cluster token).
    #[arg(long, env = "VCOLLECT_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// How long to wait for the node.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vcollect: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vcollect: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate => {
            let cfg = Config::load(&cli.config)?;
            println!(
                "{}: valid ({} vCenter(s), {} VM and {} host counters, output {})",
                cli.config.display(),
                cfg.vcenters.len(),
                cfg.collect.vm_counters.len(),
                cfg.collect.host_counters.len(),
                cfg.output.url
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Once { output, json } => {
            let cfg = Arc::new(Config::load(&cli.config)?);
            let sink = open_sink(&cfg, output.as_deref())?;
            let assignment = Arc::new(Standalone::open(&cfg.node.data_dir)?);
            let collector = Collector::new(cfg.clone(), sink.clone(), assignment);
            let summaries = collector.once().await;
            sink.shutdown().await;
            let failed = summaries.iter().any(|s| !s.ok());
            // With `--output -` stdout carries the lines: the summary goes to stderr.
            let to_stdout = output.as_deref() != Some("-") && cfg.output.url != "-";
            let text = if json {
                serde_json::to_string_pretty(&summaries)?
            } else {
                summaries
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            if to_stdout {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Agent { output } => {
            let cfg = Arc::new(Config::load(&cli.config)?);
            let sink = open_sink(&cfg, output.as_deref())?;
            let shutdown = CancellationToken::new();
            tokio::spawn(agent::shutdown_on_signal(shutdown.clone()));
            let node = match &cfg.cluster {
                Some(_) => Some(
                    cluster::Node::start(&cfg)
                        .await
                        .context("starting the cluster node")?,
                ),
                None => None,
            };
            let assignment: Arc<dyn Assignment> = match &node {
                Some(n) => n.assignment(),
                None => Arc::new(Standalone::open(&cfg.node.data_dir)?),
            };
            let collector = Collector::new(cfg.clone(), sink.clone(), assignment);
            tracing::info!(
                node = %cfg.node.name,
                cluster = node.is_some(),
                vcenters = cfg.vcenters.len(),
                interval = %humantime::format_duration(cfg.collect.interval),
                "agent started"
            );
            collector.run(shutdown).await;
            sink.shutdown().await;
            if let Some(n) = node {
                if let Err(e) = n.shutdown().await {
                    tracing::warn!(error = %e, "cluster node did not shut down cleanly");
                }
            }
            tracing::info!("agent stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { admin, json } => {
            let (addr, token) = admin_target(&cli.config, &admin)?;
            let report = cluster::status(&addr, &token, admin.timeout)
                .await
                .with_context(|| format!("asking {addr} for the cluster status"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The node address and token an admin subcommand uses: flags and environment first, then
/// the configuration file (this node's advertised or listen address, the cluster token).
fn admin_target(config: &Path, admin: &AdminArgs) -> anyhow::Result<(String, Secret)> {
    let cfg = match (&admin.addr, &admin.token_file) {
        (Some(_), Some(_)) => None,
        _ => Some(Config::load(config).with_context(|| {
            "no --addr/--token-file (or VCOLLECT_ADDR/VCOLLECT_TOKEN_FILE) given, and the \
             configuration cannot tell them"
                .to_string()
        })?),
    };
    let addr = match (&admin.addr, &cfg) {
        (Some(a), _) => a.clone(),
        (None, Some(c)) => c
            .node
            .advertise
            .clone()
            .unwrap_or_else(|| c.node.listen.replace("0.0.0.0", "127.0.0.1")),
        (None, None) => unreachable!("config loaded when --addr is missing"),
    };
    let token = match (&admin.token_file, &cfg) {
        (Some(f), _) => {
            let raw = std::fs::read_to_string(f)
                .with_context(|| format!("reading the token file {}", f.display()))?;
            Secret::new(raw.trim_end_matches(['\n', '\r']))
        }
        (None, Some(c)) => c
            .cluster
            .as_ref()
            .and_then(|cl| cl.token.clone())
            .context("the configuration has no [cluster] token_file; pass --token-file")?,
        (None, None) => unreachable!("config loaded when --token-file is missing"),
    };
    Ok((addr, token))
}

/// The sink from `[output]`, or stdout for `--output -`.
fn open_sink(cfg: &Config, output: Option<&str>) -> anyhow::Result<Sink> {
    let out = &cfg.output;
    if output == Some("-") || out.url == "-" {
        return Ok(Sink::stdout());
    }
    if let Some(other) = output {
        anyhow::bail!("--output accepts only `-` (stdout); got {other:?}");
    }
    let api = match &out.api {
        OutputApi::V1 {
            database,
            retention_policy,
            username,
            password,
        } => sink::Api::V1 {
            database: database.clone(),
            retention_policy: retention_policy.clone(),
            username: username.clone(),
            password: password.clone(),
        },
        OutputApi::V2 { org, bucket, token } => sink::Api::V2 {
            org: org.clone(),
            bucket: bucket.clone(),
            token: token.clone(),
        },
    };
    let opts = sink::HttpOptions {
        url: out.url.clone(),
        api,
        timeout: out.timeout,
        gzip: out.gzip,
        max_retries: out.max_retries,
        retry_backoff: std::time::Duration::from_millis(500),
    };
    let spool = spool_dir(&cfg.node.data_dir);
    Sink::http(opts, spool.clone(), out.spool_max_bytes)
        .with_context(|| format!("opening the sink {} (spool {})", out.url, spool.display()))
}

fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("spool")
}
