//! The task that replays an endpoint's spool, oldest batch first, whenever the endpoint
//! answers; it backs off (doubling, up to [`MAX_REPLAY_BACKOFF`]) while it does not.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::shared::State;
use crate::sink::influx::Payload;
use crate::sink::spool::Spooled;

/// The longest pause between two replay attempts while the endpoint is down.
const MAX_REPLAY_BACKOFF: Duration = Duration::from_secs(10);

/// Replays until cancelled.
pub(super) async fn run(s: Arc<State>, cancel: CancellationToken) {
    let c = &s.counters;
    let mut backoff = s.replay_backoff;
    loop {
        if c.spool_depth() == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = s.wake.notified() => continue,
            }
        }
        let gate = tokio::select! {
            _ = cancel.cancelled() => return,
            g = s.gate.lock() => g,
        };
        let spool = s.spool.clone();
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
        let seq = b.seq;
        let payload = payload_of(b, s.writer.gzip());
        let res = tokio::select! {
            _ = cancel.cancelled() => return,
            r = s.writer.send(&payload) => r,
        };
        match res {
            Ok(()) => {
                replayed(&s, seq, &payload).await;
                backoff = s.replay_backoff;
            }
            Err(e) if e.is_bad_batch() => {
                c.dropped(payload.lines, true);
                set_aside(&s, seq, e.to_string()).await;
            }
            Err(e) => {
                drop(gate);
                let (url, retry_in) = (s.writer.url(), humantime::format_duration(backoff));
                if e.is_permanent() {
                    tracing::error!(sink = %url, spool_batches = len, error = %e, retry_in = %retry_in, "spool replay refused; keeping the batches");
                } else {
                    tracing::warn!(sink = %url, spool_batches = len, error = %e, retry_in = %retry_in, "spool replay: endpoint still unavailable");
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_REPLAY_BACKOFF.max(s.replay_backoff));
            }
        }
    }
}

/// A spooled batch as the writer sends it: the spool keeps both forms.
fn payload_of(b: Spooled, gzip: bool) -> Payload {
    let raw_len = b.body.len();
    let (data, gzipped) = if gzip {
        (b.gz.into(), true)
    } else {
        (b.body.into(), false)
    };
    Payload {
        data,
        gzipped,
        lines: b.lines,
        raw_len,
        precision: b.precision,
    }
}

/// The endpoint took the spool's front batch: count it and remove it from the spool.
async fn replayed(s: &State, seq: u64, payload: &Payload) {
    let c = &s.counters;
    c.written(payload.lines, payload.raw_len);
    let spool = s.spool.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut s = spool.lock().unwrap_or_else(|e| e.into_inner());
        let r = s.pop(seq);
        (r, s.len(), s.bytes())
    })
    .await;
    if let Ok((r, len, bytes)) = r {
        c.set_depth(len, bytes);
        if let Err(e) = r {
            tracing::error!(spool = %s.spool_dir.display(), error = %e, "cannot remove a replayed batch from the spool");
        }
        if len == 0 {
            tracing::info!(sink = %s.writer.url(), "spool drained");
        }
        tracing::debug!(sink = %s.writer.url(), lines = payload.lines, spool_batches = len, "spooled batch replayed");
    }
}

/// The endpoint refused the front batch for what it holds: it can never be written, so it
/// is set aside (kept on disk for a person) and the replay goes on with the next.
async fn set_aside(s: &State, seq: u64, why: String) {
    let spool = s.spool.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut s = spool.lock().unwrap_or_else(|e| e.into_inner());
        s.set_aside(seq, "rejected", &why);
        (s.len(), s.bytes())
    })
    .await;
    if let Ok((len, bytes)) = r {
        s.counters.set_depth(len, bytes);
    }
}
