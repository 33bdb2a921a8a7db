//! Running the cycles: once for every vCenter (`vcollect once`), or every interval until
//! shutdown (`vcollect agent`).
//!
//! Each vCenter runs on its own loop, so a slow or failing vCenter never delays or stops the
//! others. Each loop is a task of its own on the runtime's workers, not polled by the thread
//! that awaits [`Collector::run`] (the main thread's `block_on`): two vCenters' cycles run on
//! two cores at once, and a call's connection and its reader share a worker (the CPU this
//! saves is within the measurements' noise: docs/benchmarks.md, "Seventh pass").
//!
//! Shutdown is graceful: a cycle in flight finishes (its window is written and its
//! watermarks committed) before the loop ends and the session is logged out.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::assignment::Assignment;
use super::limits::LearnedFile;
use super::summary::CycleSummary;
use super::vcenter::{until_next_tick, VcenterCollector};
use crate::config::Config;
use crate::sink::{Batch, Sink};

/// Everything one node needs to collect. Cheap to clone: each vCenter's task holds one.
#[derive(Clone)]
pub struct Collector {
    config: Arc<Config>,
    sink: Sink,
    assignment: Arc<dyn Assignment>,
}

impl Collector {
    pub fn new(config: Arc<Config>, sink: Sink, assignment: Arc<dyn Assignment>) -> Collector {
        crate::telemetry::metrics().interval(config.collect.interval);
        Collector {
            config,
            sink,
            assignment,
        }
    }

    fn collectors(&self) -> Vec<VcenterCollector> {
        let collect = Arc::new(self.config.collect.clone());
        let learned = Arc::new(LearnedFile::open(&self.config.node.data_dir));
        self.config
            .vcenters
            .iter()
            .map(|vc| {
                VcenterCollector::new(
                    vc.clone(),
                    collect.clone(),
                    self.config.batch_lines(),
                    self.config.batch_bytes(),
                    learned.clone(),
                )
            })
            .collect()
    }

    /// One cycle for every vCenter, concurrently. Returns a summary per vCenter; the caller
    /// prints it, so the cycle is not logged as well (each error is said once).
    pub async fn once(&self) -> Vec<CycleSummary> {
        let runs: Vec<_> = self
            .collectors()
            .into_iter()
            .map(|mut vc| {
                let me = self.clone();
                tokio::spawn(async move {
                    let s = vc.cycle(me.assignment.as_ref(), &me.sink).await;
                    me.record(&s).await;
                    vc.close().await;
                    s
                })
            })
            .collect();
        let mut out = Vec::with_capacity(runs.len());
        for r in futures::future::join_all(runs).await {
            out.push(r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
        }
        out
    }

    /// Cycles every `collect.interval` (aligned to wall-clock multiples of it) until
    /// `shutdown` is cancelled; the cycle in flight then finishes. Dropping the returned
    /// future (the daemon's grace period ran out) aborts the vCenters' tasks.
    pub async fn run(&self, shutdown: CancellationToken) {
        let interval = self.config.collect.interval;
        let mut loops = tokio::task::JoinSet::new();
        for mut vc in self.collectors() {
            let (me, shutdown) = (self.clone(), shutdown.clone());
            loops.spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(until_next_tick(interval)) => {}
                    }
                    let s = vc.cycle(me.assignment.as_ref(), &me.sink).await;
                    me.report(&s).await;
                }
                tracing::info!(vcenter = vc.name(), "stopped collecting");
                vc.close().await;
            });
        }
        while let Some(r) = loops.join_next().await {
            if let Err(e) = r {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }

    /// Logs a cycle and records it.
    async fn report(&self, s: &CycleSummary) {
        if s.ok() {
            tracing::info!(
                vcenter = %s.vcenter,
                entities = s.entities,
                queried = s.queried,
                samples = s.samples,
                lines = s.lines,
                bytes = s.bytes,
                duration_ms = s.duration.as_millis() as u64,
                watermarks = s.watermarks,
                "cycle done"
            );
        } else {
            tracing::warn!(
                vcenter = %s.vcenter,
                entities = s.entities,
                samples = s.samples,
                errors = s.errors.len(),
                first_error = %s.errors[0],
                duration_ms = s.duration.as_millis() as u64,
                "cycle had errors"
            );
        }
        self.record(s).await;
    }

    /// Tells the assignment what the cycle did and writes its self-monitoring line.
    async fn record(&self, s: &CycleSummary) {
        self.assignment.report(s);
        crate::telemetry::metrics().cycle(
            &s.vcenter,
            s.duration,
            s.samples,
            s.lines,
            s.bytes,
            s.entities,
            s.window_end,
        );
        let ts = chrono::Utc::now().timestamp();
        let body = s.to_line(&self.config.node.name, &self.sink.stats(), ts);
        let _ = self.sink.write(Batch { body, lines: 1 }).await;
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }
}

/// Waits for SIGTERM or SIGINT, then cancels `token`.
pub async fn shutdown_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down: finishing the cycle in flight");
    token.cancel();
}

/// How long a graceful stop may take before the process gives up on the cycle in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
