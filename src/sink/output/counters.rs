//! One output's counters: what its self-metrics (`output` label) and `SinkStats` report.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::sink::SinkStats;

#[derive(Default)]
pub(super) struct Counters {
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
    pub(super) fn named(name: &str) -> Counters {
        Counters {
            name: name.to_string(),
            ..Counters::default()
        }
    }

    pub(super) fn written(&self, lines: usize, bytes: usize) {
        crate::telemetry::metrics().output_written(&self.name);
        self.written_batches.fetch_add(1, Relaxed);
        self.written_lines.fetch_add(lines as u64, Relaxed);
        self.written_bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub(super) fn spooled(&self) {
        self.spooled_batches.fetch_add(1, Relaxed);
    }

    pub(super) fn dropped(&self, lines: usize, rejected: bool) {
        crate::telemetry::metrics().sink_dropped(&self.name);
        self.dropped_batches.fetch_add(1, Relaxed);
        self.dropped_lines.fetch_add(lines as u64, Relaxed);
        if rejected {
            self.rejected_batches.fetch_add(1, Relaxed);
        }
    }

    /// Dropped batches so far (for the log line that drops one more).
    pub(super) fn dropped_batches(&self) -> u64 {
        self.dropped_batches.load(Relaxed)
    }

    /// Batches waiting in the spool.
    pub(super) fn spool_depth(&self) -> u64 {
        self.spool_depth_batches.load(Relaxed)
    }

    pub(super) fn set_depth(&self, batches: u64, bytes: u64) {
        self.spool_depth_batches.store(batches, Relaxed);
        self.spool_depth_bytes.store(bytes, Relaxed);
        crate::telemetry::metrics().spool(&self.name, batches, bytes);
    }

    pub(super) fn stats(&self) -> SinkStats {
        SinkStats {
            written_batches: self.written_batches.load(Relaxed),
            written_lines: self.written_lines.load(Relaxed),
            written_bytes: self.written_bytes.load(Relaxed),
            spooled_batches: self.spooled_batches.load(Relaxed),
            dropped_batches: self.dropped_batches.load(Relaxed),
            dropped_lines: self.dropped_lines.load(Relaxed),
            rejected_batches: self.rejected_batches.load(Relaxed),
            spool_depth_batches: self.spool_depth_batches.load(Relaxed),
            spool_depth_bytes: self.spool_depth_bytes.load(Relaxed),
        }
    }
}
