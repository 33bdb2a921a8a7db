//! Self-metrics: what the collector itself does, for Prometheus (`[metrics] listen`).
//!
//! A neutral module: the data plane (cycles, QueryPerf, the sink) and the control plane
//! (Raft figures) both record through [`metrics()`], and neither imports the other. The
//! registry exists in every process (recording is a few atomic operations); it is only
//! served when `[metrics] listen` is set.

mod metrics;
mod server;

use std::sync::OnceLock;

pub use metrics::{EventStreamFigures, Metrics, RaftFigures};
pub use server::{serve, HealthCheck, HealthFuture, ServeError};

/// This process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The text exposition of every metric.
pub fn encode() -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &metrics().registry)?;
    Ok(out)
}
