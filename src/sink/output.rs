//! One output batches go to: an endpoint ([`endpoint`]: InfluxDB, a remote-write or an OTLP
//! receiver, with its retries, spool and replay task) or stdout ([`stdout`]). Each kind is
//! its own implementation; [`Output`] only dispatches to it. [`super::Sink`] fans a batch out
//! to every configured output.

mod counters;
mod endpoint;
mod replay;
mod shared;
mod stdout;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::influx::HttpOptions;
use super::{Batch, Outcome, Precision, SinkError, SinkStats};
use endpoint::Endpoint;
use stdout::Stdout;

/// One output. Cheap to clone; clones share the endpoint, spool and counters.
#[derive(Clone)]
pub struct Output {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Endpoint(Arc<Endpoint>),
    Stdout(Arc<Stdout>),
}

impl Output {
    /// An HTTP output named after its API (`influx`, `remote_write` or `otlp`). See
    /// [`Output::named_http`].
    pub fn http(
        opts: HttpOptions,
        spool_dir: PathBuf,
        spool_max_bytes: u64,
    ) -> Result<Output, SinkError> {
        let name = opts.api.kind();
        Output::named_http(name, opts, spool_dir, spool_max_bytes)
    }

    /// An HTTP output whose self-metrics carry `name` (the `output` label), with its spool in
    /// `spool_dir` (created if needed; batches a previous process left there are replayed
    /// first). Spawns the replay task: call it inside a tokio runtime.
    pub fn named_http(
        name: &str,
        opts: HttpOptions,
        spool_dir: PathBuf,
        spool_max_bytes: u64,
    ) -> Result<Output, SinkError> {
        let e = Endpoint::open(name, opts, spool_dir, spool_max_bytes)?;
        Ok(Output {
            kind: Kind::Endpoint(Arc::new(e)),
        })
    }

    /// Lines to stdout (`--output -`); no spool.
    pub fn stdout() -> Output {
        Output {
            kind: Kind::Stdout(Arc::new(Stdout::new())),
        }
    }

    /// stdout's reader went away: later batches cannot be written either.
    pub fn output_closed(&self) -> bool {
        match &self.kind {
            Kind::Endpoint(_) => false,
            Kind::Stdout(s) => s.closed(),
        }
    }

    /// The endpoint's URL (`-` for stdout).
    pub fn url(&self) -> &str {
        match &self.kind {
            Kind::Endpoint(e) => e.state.writer.url(),
            Kind::Stdout(_) => "-",
        }
    }

    /// The spool directory (none for stdout).
    pub fn spool_dir(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Endpoint(e) => Some(e.state.spool_dir.as_path()),
            Kind::Stdout(_) => None,
        }
    }

    /// Delivers a batch (timestamps in seconds): written, spooled, or dropped.
    pub async fn write(&self, batch: Batch) -> Outcome {
        self.write_at(batch, Precision::Seconds).await
    }

    /// [`Output::write`] for a batch whose timestamps are in `precision`.
    pub async fn write_at(&self, batch: Batch, precision: Precision) -> Outcome {
        if batch.body.is_empty() {
            return Outcome::Written;
        }
        match &self.kind {
            Kind::Endpoint(e) => e.write(batch, precision).await,
            Kind::Stdout(s) => s.write(&batch),
        }
    }

    /// Counters and spool depth.
    pub fn stats(&self) -> SinkStats {
        match &self.kind {
            Kind::Endpoint(e) => e.state.counters.stats(),
            Kind::Stdout(s) => s.counters.stats(),
        }
    }

    /// Checks the endpoint once, without writing anything (a zero-line write): it answers,
    /// the credentials are accepted and (1.x) the database exists. For `validate` and
    /// startup. Stdout always passes.
    pub async fn check(&self) -> Result<(), SinkError> {
        match &self.kind {
            Kind::Endpoint(e) => e.state.writer.check().await,
            Kind::Stdout(_) => Ok(()),
        }
    }

    /// Stops the replay task (what is spooled stays on disk for the next start).
    pub async fn shutdown(&self) {
        if let Kind::Endpoint(e) = &self.kind {
            e.shutdown().await;
        }
    }
}
