//! What an endpoint's writes and its replay task share: the writer, the spool and the gate
//! that keeps one batch in flight at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::counters::Counters;
use crate::sink::influx::Writer;
use crate::sink::spool::Spool;

/// What the writes and the replay task share.
pub(super) struct State {
    pub(super) counters: Counters,
    pub(super) writer: Writer,
    pub(super) spool: Arc<Mutex<Spool>>,
    pub(super) spool_dir: PathBuf,
    /// Held while a batch is in flight (and while deciding where a batch goes): one write
    /// at a time keeps the order.
    pub(super) gate: tokio::sync::Mutex<()>,
    /// Wakes the replay task when a batch was spooled.
    pub(super) wake: Notify,
    pub(super) replay_backoff: Duration,
}
