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
use vcollect::collect::{self, agent, Assignment, Collector, Peek, Standalone};
use vcollect::config::{self, Config};
use vcollect::contract::EntityKind;
use vcollect::sink::{self, Sink};

/// Prints a line on stdout. A closed pipe (`vcollect status | head`) ends the process
/// quietly, as Unix tools do, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

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
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the vcollect configuration equivalent to a Telegraf one (its [[inputs.vsphere]]
    /// blocks, [agent] interval and InfluxDB output), with comments naming what is not
    /// carried over. Secrets are never printed: they become *_env or *_file keys.
    ImportTelegraf {
        /// The Telegraf configuration file (telegraf.conf), then any --config-directory files
        /// (telegraf.d/*.conf): they are read as one, as Telegraf reads them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where the printed configuration points password and token files.
        #[arg(long, default_value = config::telegraf::DEFAULT_SECRETS_DIR)]
        secrets_dir: PathBuf,
    },
    /// The cluster as one node sees it: leader, term, and one row per member with its Raft
    /// indexes, lag, last contact, buckets and last collection cycle.
    Status {
        #[command(flatten)]
        admin: AdminArgs,
        /// Show what the asked node knows even when it knows no leader (otherwise an error).
        #[arg(long)]
        stale: bool,
    },
    /// The members: id, name, address, role, voter, state, buckets.
    Members {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Per vCenter, the buckets each node owns and the entities it collected last cycle.
    Assignments {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Exit 0 when a leader is known, its quorum answers and this node collects (or drains
    /// on purpose); else exit 1 with one line saying why.
    Health {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Move a node's buckets to the other active nodes (it stays a member).
    Drain {
        #[command(flatten)]
        admin: AdminArgs,
        /// The node: name or id.
        node: String,
        /// Return when the new owners have collected past the node's last window.
        #[arg(long)]
        wait: bool,
        /// Upper bound of --wait.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        wait_timeout: std::time::Duration,
    },
    /// Make a drained node active again: it gets buckets again.
    Undrain {
        #[command(flatten)]
        admin: AdminArgs,
        /// The node: name or id.
        node: String,
    },
    /// Hand leadership to NODE, or to the most caught-up voter.
    TransferLeader {
        #[command(flatten)]
        admin: AdminArgs,
        /// The new leader: name or id (default: the best placed voter).
        node: Option<String>,
    },
    /// Remove a dead node from the cluster (refused if it would lose quorum, unless --force).
    Remove {
        #[command(flatten)]
        admin: AdminArgs,
        /// The node: name or id.
        node: String,
        /// Remove it even if it is alive or the remaining voters would not form a quorum.
        #[arg(long)]
        force: bool,
    },
    /// Take the asked node (default: this node) out of the cluster for good: transfer
    /// leadership if it leads, drain it and wait, then remove it.
    Leave {
        #[command(flatten)]
        admin: AdminArgs,
        /// Upper bound of the drain wait.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        wait_timeout: std::time::Duration,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a complete, commented configuration: every key, its default, what it does.
    Example,
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
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
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
    // openraft logs whole Raft states at info: quiet unless asked for with RUST_LOG.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    // Colour only for a terminal: log files and journald get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Example) => {
            out!("{}", config::EXAMPLE.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportTelegraf { files, secrets_dir } => {
            let text = config::telegraf::import_files(&files, &secrets_dir)?;
            out!("{}", text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate => {
            let cfg = Config::load(&cli.config)?;
            out!(
                "{}: valid ({} vCenter(s), {} VM and {} host counters, output {})",
                cli.config.display(),
                cfg.vcenters.len(),
                cfg.collect.kind(EntityKind::Vm).counters.len(),
                cfg.collect.kind(EntityKind::Host).counters.len(),
                cfg.output.url
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Once { output, json } => {
            let cfg = Arc::new(Config::load(&cli.config)?);
            let sink = open_sink(&cfg, output.as_deref())?;
            let assignment: Arc<dyn Assignment> = Arc::new(Standalone::open(&cfg.node.data_dir)?);
            let assignment = progress_only_to_the_sink(assignment, &cfg, output.as_deref());
            let collector = Collector::new(cfg.clone(), sink.clone(), assignment);
            let summaries = collector.once().await;
            sink.shutdown().await;
            if sink.output_closed() {
                // `once --output - | head`: the reader has what it wanted.
                return Ok(ExitCode::SUCCESS);
            }
            let left = sink.stats();
            let failed = summaries.iter().any(|s| !s.ok());
            // With `--output -` stdout carries the lines: the summary goes to stderr.
            let to_stdout = !sink_is_stdout(&cfg, output.as_deref());
            let text = if json {
                serde_json::to_string_pretty(&summaries)?
            } else {
                summaries
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
                    + &spool_note(&left, sink.spool_dir())
            };
            if to_stdout {
                out!("{text}");
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
            let node = match &cfg.cluster {
                Some(_) => Some(
                    cluster::Node::start(&cfg)
                        .await
                        .context("starting the cluster node")?,
                ),
                None => None,
            };
            // SIGTERM: a leader hands leadership over first (while it can still replicate),
            // then the collector stops at its cycle boundary.
            let shutdown = CancellationToken::new();
            let signalled = CancellationToken::new();
            tokio::spawn(agent::shutdown_on_signal(signalled.clone()));
            {
                let handle = node.as_ref().map(|n| n.handle());
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    signalled.cancelled().await;
                    if let Some(h) = handle {
                        match h.step_down(cluster::admin::TRANSFER_TIMEOUT).await {
                            Ok(Some(l)) => tracing::info!(new_leader = l, "handed leadership over"),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "leadership transfer failed; stopping anyway")
                            }
                        }
                    }
                    shutdown.cancel();
                });
            }
            if let Some(listen) = &cfg.metrics.listen {
                serve_metrics(&cfg, listen, shutdown.clone()).await?;
            }
            if let Some(n) = &node {
                n.handle().export_metrics();
            }
            let assignment: Arc<dyn Assignment> = match &node {
                Some(n) => n.assignment(),
                None => Arc::new(Standalone::open(&cfg.node.data_dir)?),
            };
            let assignment = progress_only_to_the_sink(assignment, &cfg, output.as_deref());
            let collector = Collector::new(cfg.clone(), sink.clone(), assignment);
            tracing::info!(
                node = %cfg.node.name,
                cluster = node.is_some(),
                vcenters = cfg.vcenters.len(),
                interval = %humantime::format_duration(cfg.collect.interval),
                "agent started"
            );
            let grace = async {
                shutdown.cancelled().await;
                tokio::time::sleep(agent::SHUTDOWN_GRACE).await;
            };
            tokio::select! {
                _ = collector.run(shutdown.clone()) => {}
                _ = grace => tracing::warn!(
                    grace = ?agent::SHUTDOWN_GRACE,
                    "the cycle in flight did not finish in time: stopping without it"
                ),
            }
            if tokio::time::timeout(std::time::Duration::from_secs(30), sink.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("the sink did not flush within 30s");
            }
            if let Some(n) = node {
                if let Err(e) = n.shutdown().await {
                    tracing::warn!(error = %e, "cluster node did not shut down cleanly");
                }
            }
            tracing::info!("agent stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { admin, stale } => {
            if let Some(cfg) = standalone(&cli.config, &admin) {
                return standalone_status(&cfg, admin.json);
            }
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            let report = ask_status(&addr, &opts, false).await?;
            let leader_answers = report.members.iter().any(|m| m.leader && m.reachable);
            if !stale && report.leader_id.is_none() {
                return fail(
                    admin.json,
                    format!(
                        "node {} at {addr} knows no leader (no quorum, or an election is running); \
                         --stale shows what it knows",
                        report.node_id
                    ),
                );
            }
            let quorum_ok = report
                .quorum_ack_age_ms
                .is_some_and(|a| a <= report.failure_timeout_ms.max(1));
            if !stale && leader_answers && !quorum_ok {
                return fail(
                    admin.json,
                    format!(
                        "node {} leads but no quorum has answered it for {}: the cluster has no \
                         working leader; --stale shows what node {} knows",
                        report.leader_id.unwrap_or(0),
                        report
                            .quorum_ack_age_ms
                            .map(|a| format!("{:.1}s", a as f64 / 1000.0))
                            .unwrap_or_else(|| "ever".into()),
                        report.node_id
                    ),
                );
            }
            if !stale && !leader_answers {
                return fail(
                    admin.json,
                    format!(
                        "node {} at {addr} knows no leader that answers (it last followed node {}); \
                         --stale shows what it knows",
                        report.node_id,
                        report.leader_id.unwrap_or(0)
                    ),
                );
            }
            if admin.json {
                out!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Members { admin } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            let report = ask_status(&addr, &opts, true).await?;
            if admin.json {
                let v = serde_json::json!({
                    "leader_id": report.leader_id,
                    "leader": report.leader,
                    "voters": report.voters,
                    "learners": report.learners,
                    "joint": report.joint,
                    "members": report.members.iter().map(|m| serde_json::json!({
                        "id": m.id, "name": m.name, "address": m.address, "role": m.role,
                        "voter": m.voter, "state": m.state, "buckets": m.buckets,
                        "leader": m.leader,
                    })).collect::<Vec<_>>(),
                });
                out!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", report.members_table());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Assignments { admin } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            let report = ask_status(&addr, &opts, false).await?;
            if admin.json {
                let v = serde_json::json!({ "vcenters": report.vcenters });
                out!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", report.assignments_table());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { admin } => {
            let verdict = match standalone(&cli.config, &admin) {
                Some(cfg) => collect::last_cycle::standalone_health(&cfg),
                None => {
                    let (addr, opts) = admin_target(&cli.config, &admin)?;
                    match cluster::status_ext(&addr, &opts, false).await {
                        Ok(r) => r.health(),
                        Err(e) => Err(format!("unhealthy: {}", cluster::admin::explain(&e))),
                    }
                }
            };
            match verdict {
                Ok(line) => {
                    if admin.json {
                        out!("{}", serde_json::json!({"healthy": true, "message": line}));
                    } else {
                        out!("{line}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    let why = if why.starts_with("unhealthy") {
                        why
                    } else {
                        format!("unhealthy: {why}")
                    };
                    if admin.json {
                        out!("{}", serde_json::json!({"healthy": false, "message": why}));
                    } else {
                        out!("{why}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Drain {
            admin,
            node,
            wait,
            wait_timeout,
        } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            let op = AdminOp::Drain { node: node.clone() };
            let reply = match cluster::admin::admin(&addr, &opts, &op).await {
                Ok(r) => r,
                Err(e) => return fail(admin.json, cluster::admin::explain(&e)),
            };
            let mut out = vec![reply.message.clone()];
            let mut waited = None;
            if wait {
                if !admin.json {
                    out!("{}", reply.message);
                    out.clear();
                }
                let buckets: Option<cluster::admin::Buckets> =
                    serde_json::from_slice(&reply.detail).ok();
                let target = reply.node_id.map(|i| i.to_string()).unwrap_or(node);
                match cluster::admin::wait_drained_at(
                    &addr,
                    &opts,
                    &target,
                    buckets.as_ref(),
                    wait_timeout,
                )
                .await
                {
                    Ok(w) => {
                        out.push(w.message.clone());
                        waited = Some(w.waited_ms);
                    }
                    Err(e) => return fail(admin.json, cluster::admin::explain(&e)),
                }
            }
            done(
                admin.json,
                out,
                serde_json::json!({"node_id": reply.node_id, "waited_ms": waited}),
            )
        }
        Command::Undrain { admin, node } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            write_op(&addr, &opts, admin.json, AdminOp::Undrain { node }).await
        }
        Command::TransferLeader { admin, node } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            write_op(
                &addr,
                &opts,
                admin.json,
                AdminOp::TransferLeader { to: node },
            )
            .await
        }
        Command::Remove { admin, node, force } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            write_op(&addr, &opts, admin.json, AdminOp::Remove { node, force }).await
        }
        Command::Leave {
            admin,
            wait_timeout,
        } => {
            let (addr, opts) = admin_target(&cli.config, &admin)?;
            leave(&addr, &opts, admin.json, wait_timeout).await
        }
    }
}

use cluster::admin::AdminOp;

async fn ask_status(
    addr: &str,
    opts: &cluster::ClientOptions,
    local: bool,
) -> anyhow::Result<cluster::StatusReport> {
    cluster::status_ext(addr, opts, local)
        .await
        .map_err(|e| anyhow::anyhow!("{}", cluster::admin::explain(&e)))
}

/// Prints the error (as JSON too with `--json`) and returns exit status 1.
fn fail(json: bool, msg: String) -> anyhow::Result<ExitCode> {
    if json {
        out!("{}", serde_json::json!({"ok": false, "error": msg}));
    }
    eprintln!("vcollect: {msg}");
    Ok(ExitCode::FAILURE)
}

fn done(json: bool, lines: Vec<String>, extra: serde_json::Value) -> anyhow::Result<ExitCode> {
    if json {
        let mut v = serde_json::json!({"ok": true, "message": lines.join("\n")});
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for l in lines {
            out!("{l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn write_op(
    addr: &str,
    opts: &cluster::ClientOptions,
    json: bool,
    op: AdminOp,
) -> anyhow::Result<ExitCode> {
    match cluster::admin::admin(addr, opts, &op).await {
        Ok(r) => done(
            json,
            vec![r.message],
            serde_json::json!({"node_id": r.node_id}),
        ),
        Err(e) => fail(json, cluster::admin::explain(&e)),
    }
}

/// `leave`: the asked node transfers leadership if it leads, drains, waits, removes itself.
async fn leave(
    addr: &str,
    opts: &cluster::ClientOptions,
    json: bool,
    wait_timeout: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let report = match cluster::status_ext(addr, opts, true).await {
        Ok(r) => r,
        Err(e) => return fail(json, cluster::admin::explain(&e)),
    };
    let me = report.node_id;
    if me == 0 {
        return fail(json, format!("the node at {addr} has not joined a cluster"));
    }
    let mut lines = Vec::new();
    let step = |line: String, lines: &mut Vec<String>| {
        if !json {
            out!("{line}");
        }
        lines.push(line);
    };
    if report.leader_id == Some(me) {
        let op = AdminOp::TransferLeader { to: None };
        match cluster::admin::admin(addr, opts, &op).await {
            Ok(r) => step(r.message, &mut lines),
            Err(e) => return fail(json, cluster::admin::explain(&e)),
        }
    }
    let id = me.to_string();
    let drained =
        match cluster::admin::admin(addr, opts, &AdminOp::Drain { node: id.clone() }).await {
            Ok(r) => r,
            Err(e) => return fail(json, cluster::admin::explain(&e)),
        };
    step(drained.message.clone(), &mut lines);
    let buckets: Option<cluster::admin::Buckets> = serde_json::from_slice(&drained.detail).ok();
    match cluster::admin::wait_drained_at(addr, opts, &id, buckets.as_ref(), wait_timeout).await {
        Ok(w) => step(w.message, &mut lines),
        Err(e) => return fail(json, cluster::admin::explain(&e)),
    }
    let op = AdminOp::Remove {
        node: id,
        force: false,
    };
    match cluster::admin::admin(addr, opts, &op).await {
        Ok(r) => step(r.message, &mut lines),
        Err(e) => return fail(json, cluster::admin::explain(&e)),
    }
    step(
        "this node has left: stop its service and wipe its data directory before reusing it".into(),
        &mut lines,
    );
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": true, "node_id": me, "steps": lines})
            )?
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration, when it is a standalone node's (no `[cluster]`) and no `--addr` asks
/// another node: there is no cluster to ask.
fn standalone(config: &Path, admin: &AdminArgs) -> Option<Config> {
    if admin.addr.is_some() {
        return None;
    }
    Config::load(config).ok().filter(|c| c.cluster.is_none())
}

/// `status` on a standalone node: what its agent's last cycles did.
fn standalone_status(cfg: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let cycles = collect::last_cycle::load(&cfg.node.data_dir).unwrap_or_default();
    if json {
        let v =
            serde_json::json!({"standalone": true, "node": cfg.node.name, "last_cycles": cycles});
        out!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{}: standalone node (no [cluster] in {}): no cluster to ask",
        cfg.node.name,
        cfg.file.display()
    );
    let now = chrono::Utc::now().timestamp();
    for vc in &cfg.vcenters {
        match cycles.get(&vc.name) {
            Some(c) => out!(
                "vCenter {}: last cycle {}s ago, {} samples in {:.2}s{}",
                vc.name,
                now - c.at,
                c.samples,
                c.duration_ms as f64 / 1000.0,
                c.error
                    .as_deref()
                    .map(|e| format!(", error: {e}"))
                    .unwrap_or_default()
            ),
            None => out!("vCenter {}: no cycle yet", vc.name),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The node address and token an admin subcommand uses: flags and environment first, then
/// the configuration file (this node's advertised or listen address, the cluster token).
fn admin_target(
    config: &Path,
    admin: &AdminArgs,
) -> anyhow::Result<(String, cluster::ClientOptions)> {
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
            vcollect::secret::read_text(f).map_err(|e| anyhow::anyhow!("the token file: {e}"))?
        }
        (None, Some(c)) => c
            .cluster
            .as_ref()
            .and_then(|cl| cl.token.clone())
            .context("the configuration has no [cluster] token_file; pass --token-file")?,
        (None, None) => unreachable!("config loaded when --token-file is missing"),
    };
    let mut opts = match cfg.as_ref().and_then(|c| c.cluster.as_ref()) {
        Some(cc) => cluster::ClientOptions::from_config(cc)
            .map_err(|e| anyhow::anyhow!("cluster TLS settings: {e}"))?,
        None => cluster::ClientOptions::new(None, admin.timeout),
    };
    opts.token = Some(token);
    opts.timeout = admin.timeout;
    Ok((addr, opts))
}

/// Whether the run writes to stdout (`--output -`, or `[output] url = "-"`).
fn sink_is_stdout(cfg: &Config, output: Option<&str>) -> bool {
    output == Some("-") || cfg.output.url == "-"
}

/// Only what reached the configured sink may move a watermark: a run to stdout (a peek an
/// admin runs on a live node) reads the watermarks but never moves them, local or replicated.
fn progress_only_to_the_sink(
    assignment: Arc<dyn Assignment>,
    cfg: &Config,
    output: Option<&str>,
) -> Arc<dyn Assignment> {
    if sink_is_stdout(cfg, output) {
        Arc::new(Peek(assignment))
    } else {
        assignment
    }
}

/// `[metrics] listen`: `/metrics`, and `/healthz` with the verdict of `vcollect health`.
async fn serve_metrics(
    cfg: &Arc<Config>,
    listen: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use vcollect::telemetry::HealthCheck;
    let token = cfg.cluster.as_ref().and_then(|c| c.token.clone());
    let health: HealthCheck = match &cfg.cluster {
        None => {
            let cfg = cfg.clone();
            Arc::new(move || {
                let v = collect::last_cycle::standalone_health(&cfg);
                Box::pin(async move { v.map_err(|why| format!("unhealthy: {why}")) })
            })
        }
        Some(cc) => {
            let mut opts = cluster::ClientOptions::from_config(cc)
                .map_err(|e| anyhow::anyhow!("cluster TLS settings: {e}"))?;
            opts.token = token.clone();
            opts.timeout = std::time::Duration::from_secs(3);
            let addr = cfg
                .node
                .advertise
                .clone()
                .unwrap_or_else(|| cfg.node.listen.replace("0.0.0.0", "127.0.0.1"));
            Arc::new(move || {
                let (addr, opts) = (addr.clone(), opts.clone());
                Box::pin(async move {
                    match cluster::status_ext(&addr, &opts, false).await {
                        Ok(r) => r.health(),
                        Err(e) => Err(cluster::admin::explain(&e)),
                    }
                    .map_err(|why| match why.starts_with("unhealthy") {
                        true => why,
                        false => format!("unhealthy: {why}"),
                    })
                })
            })
        }
    };
    vcollect::telemetry::serve(listen, token, health, shutdown).await?;
    Ok(())
}

/// The sink from `[output]`, or stdout for `--output -`.
fn open_sink(cfg: &Config, output: Option<&str>) -> anyhow::Result<Sink> {
    let out = &cfg.output;
    if sink_is_stdout(cfg, output) {
        return Ok(Sink::stdout());
    }
    if let Some(other) = output {
        anyhow::bail!("--output accepts only `-` (stdout); got {other:?}");
    }
    let api = out.api.clone();
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

/// A line for the `once` summary when batches wait in the spool (the sink was down).
fn spool_note(stats: &sink::SinkStats, dir: Option<&Path>) -> String {
    match (stats.spool_depth_batches, dir) {
        (0, _) | (_, None) => String::new(),
        (n, Some(d)) => format!(
            "\n{n} batch(es), {} bytes, left in the spool {}: sent when vcollect next runs \
             and the sink answers",
            stats.spool_depth_bytes,
            d.display()
        ),
    }
}

fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("spool")
}
