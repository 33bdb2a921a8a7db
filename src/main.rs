//! The `vcollect` command line: the agent, one-shot collection and the admin commands.
//!
//! This is the binary's edge: errors become `anyhow` messages with their causes, printed
//! once, and an exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use vcollect::collect::{Assignment, Collector, Standalone};
use vcollect::config::{self, Config};
use vcollect::contract::EntityKind;
use vcollect::daemon;
use vcollect::sink;

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

mod commands;

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
    #[command(flatten)]
    Admin(commands::AdminCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a complete, commented configuration: every key, its default, what it does.
    Example,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// One glibc malloc arena for every thread (unless `MALLOC_ARENA_MAX` says otherwise).
/// glibc gives each thread that allocates an arena of its own, up to 8 per core, and an
/// arena keeps what was freed in it: with each vCenter's cycle on the runtime's workers, a
/// 10,000-VM `once` run peaked at 51-55 MB instead of 46; with one arena at 44-45 MB, for
/// the same CPU time (two arenas: 44-51 MB). Small blocks come from glibc's per-thread cache
/// without the arena's lock (docs/benchmarks.md, "Seventh pass"). Called
/// before any other thread exists.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
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
        Command::Validate => validate(&cli.config),
        Command::Once { output, json } => once(&cli.config, output.as_deref(), json).await,
        Command::Agent { output } => {
            let cfg = Arc::new(Config::load(&cli.config)?);
            daemon::run(cfg, output.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(admin) => commands::run(&cli.config, admin).await,
    }
}

/// `validate`: loads the configuration and says what it holds.
fn validate(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    out!(
        "{}: valid ({} vCenter(s), {} VM and {} host counters, output {})",
        config.display(),
        cfg.vcenters.len(),
        cfg.collect.kind(EntityKind::Vm).counters.len(),
        cfg.collect.kind(EntityKind::Host).counters.len(),
        cfg.outputs
            .iter()
            .map(|o| o.endpoint.url.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `once`: one window for every vCenter, then a summary (on stderr when stdout carries the
/// lines); exit 1 when a vCenter failed.
async fn once(config: &Path, output: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = Arc::new(Config::load(config)?);
    let sink = daemon::open_sink(&cfg, output)?;
    let assignment: Arc<dyn Assignment> = Arc::new(Standalone::open(&cfg.node.data_dir)?);
    let assignment = daemon::progress_only_to_the_sink(assignment, &cfg, output);
    let collector = Collector::new(cfg.clone(), sink.clone(), assignment);
    let summaries = collector.once().await;
    sink.shutdown().await;
    if sink.output_closed() {
        // `once --output - | head`: the reader has what it wanted.
        return Ok(ExitCode::SUCCESS);
    }
    let left = sink.stats();
    let failed = summaries.iter().any(|s| !s.ok());
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
    // With `--output -` stdout carries the lines: the summary goes to stderr.
    if daemon::sink_is_stdout(&cfg, output) {
        eprintln!("{text}");
    } else {
        out!("{text}");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
