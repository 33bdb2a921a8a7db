//! One output: an HTTP or OTLP/gRPC endpoint (InfluxDB, a remote-write or an OTLP receiver)
//! with its retries, its on-disk spool and the task that replays it, or stdout.
//! [`super::Sink`] fans a batch out to every configured output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::influx::{self, HttpOptions, Payload, Writer};
use super::spool::{Push, Spool};
use super::{Batch, Outcome, Precision, SinkError, SinkStats};

#[derive(Default)]
struct Counters {
    /// The output's name, the `output` label of its self-metrics.
    name: String,
    written_batches: AtomicU64,
    written_lines: AtomicU64,
    written_bytes: AtomicU64,
    spooled_batches: AtomicU64,
    dropped_batches: AtomicU64,
    dropped_lines: AtomicU64,
    rejected_batches: AtomicU64,
    spool_depth_batches: AtomicU64,
    spool_depth_bytes: AtomicU64,
}

impl Counters {
    fn named(name: &str) -> Counters {
        Counters {
            name: name.to_string(),
            ..Counters::default()
        }
    }

    fn written(&self, lines: usize, bytes: usize) {
        crate::telemetry::metrics().output_written(&self.name);
        self.written_batches.fetch_add(1, Relaxed);
        self.written_lines.fetch_add(lines as u64, Relaxed);
        self.written_bytes.fetch_add(bytes as u64, Relaxed);
    }

    fn dropped(&self, lines: usize, rejected: bool) {
        crate::telemetry::metrics().sink_dropped(&self.name);
        self.dropped_batches.fetch_add(1, Relaxed);
        self.dropped_lines.fetch_add(lines as u64, Relaxed);
        if rejected {
            self.rejected_batches.fetch_add(1, Relaxed);
        }
    }

    fn depth(&self, s: &Spool) {
        self.set_depth(s.len(), s.bytes());
    }

    fn set_depth(&self, batches: u64, bytes: u64) {
        self.spool_depth_batches.store(batches, Relaxed);
        self.spool_depth_bytes.store(bytes, Relaxed);
        crate::telemetry::metrics().spool(&self.name, batches, bytes);
    }
}

/// One endpoint batches go to. Cheap to clone; clones share the endpoint, spool and
/// counters.
#[derive(Clone)]
pub struct Output {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    replay: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct Shared {
    counters: Counters,
    http: Option<Http>,
    /// stdout was closed by its reader (a broken pipe).
    closed: std::sync::atomic::AtomicBool,
}

struct Http {
    writer: Writer,
    spool: Arc<Mutex<Spool>>,
    spool_dir: PathBuf,
    /// Held while a batch is in flight (and while deciding where a batch goes): one write
    /// at a time keeps the order.
    gate: tokio::sync::Mutex<()>,
    /// Wakes the replay task when a batch was spooled.
    wake: Notify,
    replay_backoff: Duration,
}

/// The longest pause between two replay attempts while the endpoint is down.
const MAX_REPLAY_BACKOFF: Duration = Duration::from_secs(10);

impl Output {
    /// An HTTP sink with its spool in `spool_dir` (created if needed; batches a previous
    /// process left there are replayed first). Spawns the replay task: call it inside a
    /// tokio runtime.
    pub fn http(
        opts: HttpOptions,
        spool_dir: PathBuf,
        spool_max_bytes: u64,
    ) -> Result<Output, SinkError> {
        let name = opts.api.kind();
        Output::named_http(name, opts, spool_dir, spool_max_bytes)
    }

    /// [`Output::http`] with the name its self-metrics carry (`output` label).
    pub fn named_http(
        name: &str,
        opts: HttpOptions,
        spool_dir: PathBuf,
        spool_max_bytes: u64,
    ) -> Result<Output, SinkError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| SinkError::Config("Output::http needs a tokio runtime".into()))?;
        let replay_backoff = opts.retry_backoff.max(Duration::from_millis(50));
        let writer = Writer::new(opts)?;
        let spool =
            Spool::open(&spool_dir, spool_max_bytes).map_err(|source| SinkError::Spool {
                path: spool_dir.clone(),
                source,
            })?;
        let counters = Counters::named(name);
        counters.depth(&spool);
        let shared = Arc::new(Shared {
            counters,
            http: Some(Http {
                writer,
                spool: Arc::new(Mutex::new(spool)),
                spool_dir,
                gate: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                replay_backoff,
            }),
            closed: Default::default(),
        });
        let cancel = CancellationToken::new();
        let task = rt.spawn(replay(shared.clone(), cancel.clone()));
        Ok(Output {
            inner: Arc::new(Inner {
                shared,
                cancel,
                replay: Mutex::new(Some(task)),
            }),
        })
    }

    /// Lines to stdout (`--output -`); no spool.
    pub fn stdout() -> Output {
        Output {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    counters: Counters::named("stdout"),
                    http: None,
                    closed: Default::default(),
                }),
                cancel: CancellationToken::new(),
                replay: Mutex::new(None),
            }),
        }
    }

    /// stdout's reader went away: later batches cannot be written either.
    pub fn output_closed(&self) -> bool {
        self.inner.shared.closed.load(Relaxed)
    }

    /// The endpoint's URL (`-` for stdout).
    pub fn url(&self) -> &str {
        self.inner
            .shared
            .http
            .as_ref()
            .map_or("-", |h| h.writer.url())
    }

    /// The spool directory (none for stdout).
    pub fn spool_dir(&self) -> Option<&Path> {
        self.inner
            .shared
            .http
            .as_ref()
            .map(|h| h.spool_dir.as_path())
    }

    /// Delivers a batch: written, spooled, or dropped (see the module's documentation).
    pub async fn write(&self, batch: Batch) -> Outcome {
        self.write_at(batch, Precision::Seconds).await
    }

    /// [`Output::write`] for a batch whose timestamps are in `precision`.
    pub async fn write_at(&self, batch: Batch, precision: Precision) -> Outcome {
        let shared = &self.inner.shared;
        let c = &shared.counters;
        if batch.body.is_empty() {
            return Outcome::Written;
        }
        let Some(h) = &shared.http else {
            let mut out = std::io::stdout().lock();
            return match out.write_all(&batch.body).and_then(|_| out.flush()) {
                Ok(()) => {
                    c.written(batch.lines, batch.body.len());
                    Outcome::Written
                }
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    shared.closed.store(true, Relaxed);
                    tracing::debug!("stdout closed by its reader");
                    Outcome::Closed
                }
                Err(e) => {
                    tracing::error!(error = %e, lines = batch.lines, "writing to stdout failed");
                    c.dropped(batch.lines, false);
                    Outcome::Dropped
                }
            };
        };
        let raw_len = batch.body.len();
        let payload = h.writer.payload(batch.body, batch.lines).at(precision);
        let _gate = h.gate.lock().await;
        if c.spool_depth_batches.load(Relaxed) > 0 {
            // Older batches are waiting: this one queues behind them.
            return self.spool(h, payload).await;
        }
        match h.writer.write(&payload).await {
            Ok(()) => {
                c.written(payload.lines, raw_len);
                Outcome::Written
            }
            Err(e) if e.is_permanent() => {
                tracing::error!(
                    sink = %h.writer.url(),
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
                    sink = %h.writer.url(),
                    lines = payload.lines,
                    bytes = raw_len,
                    error = %e,
                    "endpoint unavailable after retries: spooling the batch"
                );
                self.spool(h, payload).await
            }
        }
    }

    async fn spool(&self, h: &Http, p: Payload) -> Outcome {
        let c = &self.inner.shared.counters;
        let lines = p.lines;
        let spool = h.spool.clone();
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
        match res {
            Ok((Ok(Push::Stored), len, bytes, _)) => {
                c.spooled_batches.fetch_add(1, Relaxed);
                c.set_depth(len, bytes);
                h.wake.notify_one();
                tracing::debug!(sink = %h.writer.url(), lines, spool_batches = len, spool_bytes = bytes, "batch spooled");
                Outcome::Spooled
            }
            Ok((Ok(Push::Full), len, bytes, size)) => {
                c.dropped(lines, false);
                tracing::error!(
                    sink = %h.writer.url(),
                    spool = %h.spool_dir.display(),
                    lines,
                    bytes = size,
                    spool_batches = len,
                    spool_bytes = bytes,
                    dropped_batches = c.dropped_batches.load(Relaxed),
                    "spool full: batch dropped (its window will be collected again while vCenter still has it)"
                );
                Outcome::Dropped
            }
            Ok((Err(e), ..)) => {
                c.dropped(lines, false);
                tracing::error!(sink = %h.writer.url(), spool = %h.spool_dir.display(), lines, error = %e, "cannot write to the spool: batch dropped");
                Outcome::Dropped
            }
            Err(e) => {
                c.dropped(lines, false);
                tracing::error!(error = %e, "spool task failed: batch dropped");
                Outcome::Dropped
            }
        }
    }

    /// Counters and spool depth.
    pub fn stats(&self) -> SinkStats {
        let c = &self.inner.shared.counters;
        SinkStats {
            written_batches: c.written_batches.load(Relaxed),
            written_lines: c.written_lines.load(Relaxed),
            written_bytes: c.written_bytes.load(Relaxed),
            spooled_batches: c.spooled_batches.load(Relaxed),
            dropped_batches: c.dropped_batches.load(Relaxed),
            dropped_lines: c.dropped_lines.load(Relaxed),
            rejected_batches: c.rejected_batches.load(Relaxed),
            spool_depth_batches: c.spool_depth_batches.load(Relaxed),
            spool_depth_bytes: c.spool_depth_bytes.load(Relaxed),
        }
    }

    /// Checks the endpoint once, without writing anything (a zero-line write): it answers,
    /// the credentials are accepted and (1.x) the database exists. For `validate` and
    /// startup. Stdout always passes.
    pub async fn check(&self) -> Result<(), SinkError> {
        match &self.inner.shared.http {
            Some(h) => h.writer.check().await,
            None => Ok(()),
        }
    }

    /// Stops the replay task (what is spooled stays on disk for the next start).
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let task = self
            .inner
            .replay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Replays the spool, oldest first, whenever the endpoint answers.
async fn replay(shared: Arc<Shared>, cancel: CancellationToken) {
    let Some(h) = &shared.http else { return };
    let c = &shared.counters;
    let mut backoff = h.replay_backoff;
    loop {
        if c.spool_depth_batches.load(Relaxed) == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = h.wake.notified() => continue,
            }
        }
        let gate = tokio::select! {
            _ = cancel.cancelled() => return,
            g = h.gate.lock() => g,
        };
        let spool = h.spool.clone();
        let front = tokio::task::spawn_blocking(move || {
            let mut s = spool.lock().unwrap_or_else(|e| e.into_inner());
            (s.front(), s.len(), s.bytes())
        })
        .await;
        let Ok((front, len, bytes)) = front else {
            return;
        };
        c.set_depth(len, bytes);
        let Some(b) = front else { continue };
        let payload = if h.writer.gzip() {
            Payload {
                data: b.gz.into(),
                gzipped: true,
                lines: b.lines,
                raw_len: b.body.len(),
                precision: b.precision,
            }
        } else {
            Payload {
                raw_len: b.body.len(),
                data: b.body.into(),
                gzipped: false,
                lines: b.lines,
                precision: b.precision,
            }
        };
        let res = tokio::select! {
            _ = cancel.cancelled() => return,
            r = h.writer.send(&payload) => r,
        };
        let seq = b.seq;
        let spool = h.spool.clone();
        match res {
            Ok(()) => {
                c.written(payload.lines, payload.raw_len);
                let r = tokio::task::spawn_blocking(move || {
                    let mut s = spool.lock().unwrap_or_else(|e| e.into_inner());
                    let r = s.pop(seq);
                    (r, s.len(), s.bytes())
                })
                .await;
                if let Ok((r, len, bytes)) = r {
                    c.set_depth(len, bytes);
                    if let Err(e) = r {
                        tracing::error!(spool = %h.spool_dir.display(), error = %e, "cannot remove a replayed batch from the spool");
                    }
                    if len == 0 {
                        tracing::info!(sink = %h.writer.url(), "spool drained");
                    }
                }
                tracing::debug!(sink = %h.writer.url(), lines = payload.lines, spool_batches = len, "spooled batch replayed");
                backoff = h.replay_backoff;
            }
            Err(e) if e.is_bad_batch() => {
                c.dropped(payload.lines, true);
                let why = e.to_string();
                let r = tokio::task::spawn_blocking(move || {
                    let mut s = spool.lock().unwrap_or_else(|e| e.into_inner());
                    s.set_aside(seq, "rejected", &why);
                    (s.len(), s.bytes())
                })
                .await;
                if let Ok((len, bytes)) = r {
                    c.set_depth(len, bytes);
                }
            }
            Err(e) => {
                drop(gate);
                if e.is_permanent() {
                    tracing::error!(sink = %h.writer.url(), spool_batches = len, error = %e, retry_in = %humantime::format_duration(backoff), "spool replay refused; keeping the batches");
                } else {
                    tracing::warn!(sink = %h.writer.url(), spool_batches = len, error = %e, retry_in = %humantime::format_duration(backoff), "spool replay: endpoint still unavailable");
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_REPLAY_BACKOFF.max(h.replay_backoff));
            }
        }
    }
}
