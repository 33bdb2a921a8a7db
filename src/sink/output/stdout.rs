//! The stdout output (`--output -`, or `url = "-"`): line protocol as it is written, no
//! retries and no spool. A reader that goes away (`vcollect once --output - | head`) ends the
//! run rather than failing it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::counters::Counters;
use crate::sink::{Batch, Outcome};

pub(super) struct Stdout {
    pub(super) counters: Counters,
    /// stdout was closed by its reader (a broken pipe).
    closed: AtomicBool,
}

impl Stdout {
    pub(super) fn new() -> Stdout {
        Stdout {
            counters: Counters::named("stdout"),
            closed: AtomicBool::new(false),
        }
    }

    pub(super) fn closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    pub(super) fn write(&self, batch: &Batch) -> Outcome {
        let mut out = std::io::stdout().lock();
        match out.write_all(&batch.body).and_then(|_| out.flush()) {
            Ok(()) => {
                self.counters.written(batch.lines, batch.body.len());
                Outcome::Written
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Relaxed);
                tracing::debug!("stdout closed by its reader");
                Outcome::Closed
            }
            Err(e) => {
                tracing::error!(error = %e, lines = batch.lines, "writing to stdout failed");
                self.counters.dropped(batch.lines, false);
                Outcome::Dropped
            }
        }
    }
}
