//! The agent: what `vcollect agent` starts and, on SIGTERM, stops in order. This is the one
//! place that wires the planes together (the sink, the cluster node, the collector and the
//! metrics endpoint); neither plane knows the other exists.
//!
//! Shutdown order, and why: a leader first hands leadership over (while it can still
//! replicate, so the cluster does not wait an election timeout), then the collector stops
//! at its cycle boundary (bounded by [`agent::SHUTDOWN_GRACE`]), then the sink flushes what
//! it holds, and only then the node stops (the last watermarks need the cluster).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cluster;
use crate::collect::assignment::AssignmentError;
use crate::collect::{self, agent, Assignment, Collector, Peek, Standalone};
use crate::config::Config;
use crate::sink::{Sink, SinkError};
use crate::telemetry::{self, HealthCheck, ServeError};

/// How long the sink may take to flush at shutdown.
const SINK_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the agent could not start (once started, it only logs).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--output accepts only `-` (stdout); got {0:?}")]
    Output(String),
    #[error("opening the sink {url} (spool {})", spool.display())]
    Sink {
        url: String,
        spool: PathBuf,
        #[source]
        source: SinkError,
    },
    #[error("starting the cluster node")]
    Node(#[source] cluster::Error),
    /// The message only (as the CLI always printed it), not the cause chain.
    #[error("cluster TLS settings: {0}")]
    Tls(cluster::Error),
    #[error(transparent)]
    Assignment(#[from] AssignmentError),
    #[error(transparent)]
    Metrics(#[from] ServeError),
}

/// `vcollect agent`: collects every interval until SIGTERM, then stops in order (see the
/// module documentation).
pub async fn run(cfg: Arc<Config>, output: Option<&str>) -> Result<(), Error> {
    let sink = open_sink(&cfg, output)?;
    let node = match &cfg.cluster {
        Some(_) => Some(cluster::Node::start(&cfg).await.map_err(Error::Node)?),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let signalled = CancellationToken::new();
    tokio::spawn(agent::shutdown_on_signal(signalled.clone()));
    tokio::spawn(step_down_then_stop(
        node.as_ref().map(cluster::Node::handle),
        signalled,
        shutdown.clone(),
    ));
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
    let assignment = progress_only_to_the_sink(assignment, &cfg, output);
    let collector = Collector::new(cfg.clone(), sink.clone(), assignment);
    tracing::info!(
        node = %cfg.node.name,
        cluster = node.is_some(),
        vcenters = cfg.vcenters.len(),
        interval = %humantime::format_duration(cfg.collect.interval),
        "agent started"
    );
    collect_until(&collector, shutdown).await;
    stop(sink, node).await;
    tracing::info!("agent stopped");
    Ok(())
}

/// On the signal, a leader hands leadership over first (while it can still replicate);
/// then the collector is told to stop.
async fn step_down_then_stop(
    node: Option<cluster::Handle>,
    signalled: CancellationToken,
    shutdown: CancellationToken,
) {
    signalled.cancelled().await;
    if let Some(h) = node {
        match h.step_down(cluster::TRANSFER_TIMEOUT).await {
            Ok(Some(l)) => tracing::info!(new_leader = l, "handed leadership over"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "leadership transfer failed; stopping anyway"),
        }
    }
    shutdown.cancel();
}

/// Runs the collector until `shutdown`, then lets the cycle in flight finish within the
/// grace period.
async fn collect_until(collector: &Collector, shutdown: CancellationToken) {
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
}

/// Flushes the sink, then stops the node.
async fn stop(sink: Sink, node: Option<cluster::Node>) {
    if tokio::time::timeout(SINK_FLUSH_TIMEOUT, sink.shutdown())
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
}

/// This node's gRPC address as a local client dials it: the advertised address, else the
/// listen address with a wildcard host made loopback.
pub fn local_addr(cfg: &Config) -> String {
    cfg.node
        .advertise
        .clone()
        .unwrap_or_else(|| cfg.node.listen.replace("0.0.0.0", "127.0.0.1"))
}

/// `Err(why)` as `vcollect health` and `/healthz` print it: always starting `unhealthy`.
pub fn unhealthy(why: String) -> String {
    if why.starts_with("unhealthy") {
        why
    } else {
        format!("unhealthy: {why}")
    }
}

/// `[metrics] listen`: `/metrics`, and `/healthz` with the verdict of `vcollect health`.
async fn serve_metrics(
    cfg: &Arc<Config>,
    listen: &str,
    shutdown: CancellationToken,
) -> Result<(), Error> {
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
            let mut opts = cluster::ClientOptions::from_config(cc).map_err(Error::Tls)?;
            opts.token = token.clone();
            opts.timeout = Duration::from_secs(3);
            let addr = local_addr(cfg);
            Arc::new(move || {
                let (addr, opts) = (addr.clone(), opts.clone());
                Box::pin(async move {
                    match cluster::status_ext(&addr, &opts, false).await {
                        Ok(r) => r.health(),
                        Err(e) => Err(e.explain()),
                    }
                    .map_err(unhealthy)
                })
            })
        }
    };
    telemetry::serve(listen, token, health, shutdown).await?;
    Ok(())
}

/// Whether the run writes to stdout (`--output -`, or `[output] url = "-"`).
pub fn sink_is_stdout(cfg: &Config, output: Option<&str>) -> bool {
    output == Some("-") || cfg.outputs.iter().any(|o| o.is_stdout())
}

/// Only what reached the configured sink may move a watermark: a run to stdout (a peek an
/// admin runs on a live node) reads the watermarks but never moves them, local or replicated.
pub fn progress_only_to_the_sink(
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

/// The sink from `[output]` (or every `[[output]]`, each built from its table), or stdout
/// for `--output -`.
pub fn open_sink(cfg: &Config, output: Option<&str>) -> Result<Sink, Error> {
    match output {
        None => {}
        Some("-") => return Ok(Sink::stdout()),
        Some(other) => return Err(Error::Output(other.to_string())),
    }
    let mut outputs = Vec::with_capacity(cfg.outputs.len());
    for (i, out) in cfg.outputs.iter().enumerate() {
        let spool = spool_dir(&cfg.node.data_dir, i, &out.name);
        let o = out
            .build(spool.clone(), &cfg.node.name)
            .map_err(|source| Error::Sink {
                url: out.endpoint.url.clone(),
                spool,
                source,
            })?;
        outputs.push((out.name.clone(), o));
    }
    Ok(Sink::of(outputs))
}

/// Where an output spools the batches its endpoint did not take yet: the first output in
/// `<data_dir>/spool` (where the one output always kept it), another in
/// `<data_dir>/spool-<name>`.
fn spool_dir(data_dir: &Path, index: usize, name: &str) -> PathBuf {
    if index == 0 {
        data_dir.join("spool")
    } else {
        data_dir.join(format!("spool-{name}"))
    }
}
