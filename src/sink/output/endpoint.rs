//! An HTTP or OTLP/gRPC endpoint (InfluxDB, a remote-write or an OTLP receiver) with its
//! retries, its on-disk spool and the task that replays the spool ([`super::replay`]).
//! Batches keep their order: while older ones wait in the spool, a new one queues behind them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
pub(super) use super::shared::State;
use crate::sink::influx::{self, HttpOptions, Payload, Writer};
use crate::sink::spool::{Push, Spool};
use crate::sink::{Batch, Outcome, Precision, SinkError};

/// The endpoint and the replay task that owns a share of it. Dropping it stops the task.
pub(super) struct Endpoint {
    pub(super) state: Arc<State>,
    cancel: CancellationToken,
    replay: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Endpoint {
    /// Opens the spool in `spool_dir` (created if needed; batches a previous process left
    /// there are replayed first) and spawns the replay task: call it inside a tokio runtime.
    pub(super) fn open(
        name: &str,
        opts: HttpOptions,
        spool_dir: PathBuf,
        spool_max_bytes: u64,
    ) -> Result<Endpoint, SinkError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| SinkError::Config("an HTTP output needs a tokio runtime".into()))?;
        let replay_backoff = opts.retry_backoff.max(Duration::from_millis(50));
        let writer = Writer::new(opts)?;
        let spool =
            Spool::open(&spool_dir, spool_max_bytes).map_err(|source| SinkError::Spool {
                path: spool_dir.clone(),
                source,
            })?;
        let counters = Counters::named(name);
        counters.set_depth(spool.len(), spool.bytes());
        let state = Arc::new(State {
            counters,
            writer,
            spool: Arc::new(Mutex::new(spool)),
            spool_dir,
            gate: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            replay_backoff,
        });
        let cancel = CancellationToken::new();
        let task = rt.spawn(super::replay::run(state.clone(), cancel.clone()));
        Ok(Endpoint {
            state,
            cancel,
            replay: Mutex::new(Some(task)),
        })
    }

    /// Writes the batch, or spools it when the endpoint stays unavailable after its retries
    /// (or older batches are still spooled), or drops it when the endpoint refuses it.
    pub(super) async fn write(&self, batch: Batch, precision: Precision) -> Outcome {
        let s = &*self.state;
        let c = &s.counters;
        let raw_len = batch.body.len();
        let payload = s.writer.payload(batch.body, batch.lines).at(precision);
        let _gate = s.gate.lock().await;
        if c.spool_depth() > 0 {
            // Older batches are waiting: this one queues behind them.
            return self.spool(payload).await;
        }
        match s.writer.write(&payload).await {
            Ok(()) => {
                c.written(payload.lines, raw_len);
                Outcome::Written
            }
            Err(e) if e.is_permanent() => {
                tracing::error!(
                    sink = %s.writer.url(),
                    lines = payload.lines,
                    bytes = raw_len,
                    error = %e,
                    "batch dropped: the endpoint refused it (the window will be collected again)"
                );
                c.dropped(payload.lines, true);
                Outcome::Dropped
            }
            Err(e) => {
                tracing::warn!(
                    sink = %s.writer.url(),
                    lines = payload.lines,
                    bytes = raw_len,
                    error = %e,
                    "endpoint unavailable after retries: spooling the batch"
                );
                self.spool(payload).await
            }
        }
    }

    async fn spool(&self, p: Payload) -> Outcome {
        let s = &*self.state;
        let c = &s.counters;
        let lines = p.lines;
        let spool = s.spool.clone();
        let res = tokio::task::spawn_blocking(move || {
            let gz;
            let data: &[u8] = if p.gzipped {
                &p.data
            } else {
                gz = influx::gzip(&p.data);
                &gz
            };
            let mut s = spool.lock().unwrap_or_else(|e| e.into_inner());
            let r = s.push(data, p.precision);
            (r, s.len(), s.bytes(), data.len())
        })
        .await;
        let (url, dir) = (s.writer.url(), s.spool_dir.display());
        match res {
            Ok((Ok(Push::Stored), len, bytes, _)) => {
                c.spooled();
                c.set_depth(len, bytes);
                s.wake.notify_one();
                tracing::debug!(sink = %url, lines, spool_batches = len, spool_bytes = bytes, "batch spooled");
                Outcome::Spooled
            }
            Ok((Ok(Push::Full), len, bytes, size)) => {
                c.dropped(lines, false);
                tracing::error!(
                    sink = %url,
                    spool = %dir,
                    lines,
                    bytes = size,
                    spool_batches = len,
                    spool_bytes = bytes,
                    dropped_batches = c.dropped_batches(),
                    "spool full: batch dropped (its window will be collected again while vCenter still has it)"
                );
                Outcome::Dropped
            }
            Ok((Err(e), ..)) => {
                c.dropped(lines, false);
                tracing::error!(sink = %url, spool = %dir, lines, error = %e, "cannot write to the spool: batch dropped");
                Outcome::Dropped
            }
            Err(e) => {
                c.dropped(lines, false);
                tracing::error!(error = %e, "spool task failed: batch dropped");
                Outcome::Dropped
            }
        }
    }

    /// Stops the replay task (what is spooled stays on disk for the next start).
    pub(super) async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self.replay.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
