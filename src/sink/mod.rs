//! The output side of the data plane: InfluxDB line protocol ([`line`]) and the [`Sink`]
//! that delivers batches of it: to InfluxDB 1.x / Telegraf or 2.x over HTTP ([`influx`]),
//! with a bounded on-disk [`spool`] for outages, or to stdout.
//!
//! # Delivery and order
//!
//! [`Sink::write`] sends a batch at once (with retries and backoff) when the spool is empty.
//! When the endpoint stays unreachable (or answers 5xx/429) through every retry, the batch
//! goes to the spool, and so does every later batch while the spool is not empty: a
//! background task replays the spool oldest first whenever the endpoint answers, so batches
//! reach InfluxDB in the order they were written. One batch is in flight at a time (writes
//! are serialised), which is what keeps that order.
//!
//! # Permanent refusals
//!
//! A 4xx answer (other than 429) is permanent: no such database or bucket, bad credentials,
//! a malformed batch. Such a batch is **dropped, not spooled**: logged as an error with
//! InfluxDB's own cause, counted in `dropped_*` and `rejected_batches`, and reported as
//! [`Outcome::Dropped`]. Spooling it would only fill the spool with batches that fail
//! forever and block the ones behind them. Nothing is lost yet: the collector does not
//! advance the watermarks of a dropped batch, so once the operator fixes the cause, the next
//! cycles fetch that window again from vCenter (which keeps an hour of realtime samples).
//!
//! If a *spooled* batch is refused on replay, the cause decides: a batch at fault (400,
//! 413, 422: malformed, type conflict, too large) is moved aside as `*.rejected` and the
//! queue moves on; any other refusal (401/403/404: credentials, missing database) keeps the
//! batch and retries with backoff, because those batches were acknowledged to the collector
//! as durable and the cause is one an operator fixes.

pub mod error;
pub mod grouped;
pub mod influx;
mod interner;
pub mod line;
pub mod line_read;
pub mod otlp;
mod output;
mod proto;
pub mod remote_write;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::SinkError;
pub use influx::{Api, HttpOptions};
pub use output::Output;

/// The unit of a batch's timestamps. Samples are at whole seconds; vCenter's events carry
/// their key in the milliseconds, so that two events never share a point
/// (`collect::events`). InfluxDB is told with `precision=`, remote-write and OTLP convert
/// from it, and the spool keeps it in the file name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Seconds,
    Millis,
}

impl Precision {
    /// InfluxDB's `precision` parameter.
    pub fn param(self) -> &'static str {
        match self {
            Precision::Seconds => "s",
            Precision::Millis => "ms",
        }
    }

    /// Milliseconds per unit.
    pub fn millis(self) -> i64 {
        match self {
            Precision::Seconds => 1000,
            Precision::Millis => 1,
        }
    }
}

/// Complete lines, each terminated by `\n`.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub body: Vec<u8>,
    pub lines: usize,
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint acknowledged it.
    Written,
    /// It is in the on-disk spool and will be replayed in order.
    Spooled,
    /// Neither: the spool is full, the spool failed, or the endpoint refused it
    /// permanently. Counted and logged.
    Dropped,
    /// stdout's reader went away (`vcollect once --output - | head`): nothing more can be
    /// written there. Not an error of the sink; the caller stops quietly.
    Closed,
}

impl Outcome {
    /// The worse of two outputs' outcomes for one batch: a watermark moves only when every
    /// output holds it (written, or spooled), and a closed stdout ends the run.
    pub fn worst(self, other: Outcome) -> Outcome {
        let rank = |o: Outcome| match o {
            Outcome::Written => 0,
            Outcome::Spooled => 1,
            Outcome::Dropped => 2,
            Outcome::Closed => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Counters since the sink was opened, and the spool's current depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SinkStats {
    /// Batches acknowledged by the endpoint (directly or replayed from the spool).
    pub written_batches: u64,
    pub written_lines: u64,
    /// Uncompressed bytes.
    pub written_bytes: u64,
    /// Batches that went to the spool.
    pub spooled_batches: u64,
    /// Batches lost to this sink: spool full, spool I/O error, or refused (see below).
    pub dropped_batches: u64,
    pub dropped_lines: u64,
    /// Of `dropped_batches`, those the endpoint refused permanently (4xx).
    pub rejected_batches: u64,
    pub spool_depth_batches: u64,
    /// Compressed bytes on disk.
    pub spool_depth_bytes: u64,
}

impl SinkStats {
    /// The sum of several outputs' counters and depths.
    fn add(mut self, o: SinkStats) -> SinkStats {
        self.written_batches += o.written_batches;
        self.written_lines += o.written_lines;
        self.written_bytes += o.written_bytes;
        self.spooled_batches += o.spooled_batches;
        self.dropped_batches += o.dropped_batches;
        self.dropped_lines += o.dropped_lines;
        self.rejected_batches += o.rejected_batches;
        self.spool_depth_batches += o.spool_depth_batches;
        self.spool_depth_bytes += o.spool_depth_bytes;
        self
    }
}

/// Where batches go: every configured output (`[[output]]`), each with its own retries,
/// spool and replay. A batch is written to all of them at once, so a dead output delays the
/// others only by its own retries of that one batch (then its batches go straight to its
/// spool). Its [`Outcome`] is the worst of theirs: a watermark moves only when every output
/// holds the samples (written, or spooled where the caller counts a spool as durable).
/// Cheap to clone.
#[derive(Clone)]
pub struct Sink {
    outputs: Arc<Vec<(String, Output)>>,
}

impl Sink {
    /// Several named outputs (at least one).
    pub fn of(outputs: Vec<(String, Output)>) -> Sink {
        Sink {
            outputs: Arc::new(outputs),
        }
    }

    /// One HTTP output, named after its API (`influx`, `remote_write` or `otlp`). See
    /// [`Output::http`].
    pub fn http(
        opts: HttpOptions,
        spool_dir: PathBuf,
        spool_max_bytes: u64,
    ) -> Result<Sink, SinkError> {
        let name = opts.api.kind();
        let o = Output::http(opts, spool_dir, spool_max_bytes)?;
        Ok(Sink::of(vec![(name.to_string(), o)]))
    }

    /// Lines to stdout (`--output -`); no spool.
    pub fn stdout() -> Sink {
        Sink::of(vec![("stdout".to_string(), Output::stdout())])
    }

    /// The outputs and their names.
    pub fn outputs(&self) -> impl Iterator<Item = (&str, &Output)> {
        self.outputs.iter().map(|(n, o)| (n.as_str(), o))
    }

    /// Delivers a batch (timestamps in seconds) to every output; the worst outcome of theirs.
    pub async fn write(&self, batch: Batch) -> Outcome {
        self.write_at(batch, Precision::Seconds).await
    }

    /// [`Sink::write`] for a batch whose timestamps are in `precision`.
    pub async fn write_at(&self, batch: Batch, precision: Precision) -> Outcome {
        if let [(_, only)] = self.outputs.as_slice() {
            return only.write_at(batch, precision).await;
        }
        let writes = self
            .outputs
            .iter()
            .map(|(_, o)| o.write_at(batch.clone(), precision));
        futures::future::join_all(writes)
            .await
            .into_iter()
            .fold(Outcome::Written, Outcome::worst)
    }

    /// stdout's reader went away: later batches cannot be written either.
    pub fn output_closed(&self) -> bool {
        self.outputs.iter().any(|(_, o)| o.output_closed())
    }

    /// The first output's URL (`-` for stdout).
    pub fn url(&self) -> &str {
        self.outputs.first().map_or("-", |(_, o)| o.url())
    }

    /// The first output's spool directory (none for stdout).
    pub fn spool_dir(&self) -> Option<&Path> {
        self.outputs.first().and_then(|(_, o)| o.spool_dir())
    }

    /// Counters and spool depths, summed over the outputs.
    pub fn stats(&self) -> SinkStats {
        self.outputs
            .iter()
            .fold(SinkStats::default(), |s, (_, o)| s.add(o.stats()))
    }

    /// Checks every output once, without writing anything (see [`Output::check`]).
    pub async fn check(&self) -> Result<(), SinkError> {
        for (_, o) in self.outputs.iter() {
            o.check().await?;
        }
        Ok(())
    }

    /// Stops every output's replay task (what is spooled stays on disk).
    pub async fn shutdown(&self) {
        futures::future::join_all(self.outputs.iter().map(|(_, o)| o.shutdown())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_outputs_report_the_worst_outcome() {
        use Outcome::*;
        let all = [Written, Spooled, Dropped, Closed];
        for (i, a) in all.into_iter().enumerate() {
            for (j, b) in all.into_iter().enumerate() {
                assert_eq!(a.worst(b), all[i.max(j)], "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn stats_add_up_over_outputs() {
        let one = SinkStats {
            written_lines: 3,
            spool_depth_batches: 1,
            ..SinkStats::default()
        };
        let sum = one.add(one);
        assert_eq!((sum.written_lines, sum.spool_depth_batches), (6, 2));
    }
}
