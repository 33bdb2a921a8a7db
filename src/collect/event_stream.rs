//! One vCenter's event stream, read gap-free across nodes (`[collect] events = true`).
//!
//! The stream is an entity of the shard map: the owner of the bucket of
//! [`EVENTS_ID`](super::events::EVENTS_ID) reads it, so a cluster reads each vCenter's
//! events once. How far it is in the sink is an [`EventPosition`] (the key and time of the
//! newest event read, every selected one up to it written), committed through the
//! [`Assignment`] like the watermarks: after the sink acknowledged the events, and in a
//! cluster only once no batch waits in the local spool (`spool_is_durable`). A node that starts reading (at start, or when the bucket
//! comes to it after a drain or a failure) resumes from the committed position; with none
//! yet, from `lookback`, which it commits as a start marker (key 0) so that the events after
//! it are read even if the first one comes after a handover.
//!
//! Each cycle asks vCenter for the events created since [`OVERLAP`] before the position's
//! time and writes those with a greater key. vCenter numbers events in the order it creates
//! them, and their creation times follow that order within a few milliseconds, so the
//! overlap catches an event created just before the last one written but numbered after it.
//!
//! What a handover costs: the events the old owner wrote after its last commit are written
//! again by the new owner, the same points (same timestamp and tags, see
//! [`super::events::encode`]), so InfluxDB keeps one point per event. Nothing is lost that
//! vCenter still holds: events older than vCenter's retention (`event.maxAge`, 30 days by
//! default) are gone when a stream had no reader for that long, which is logged.
//!
//! A read returns at most [`MAX_EVENTS`](crate::vsphere::MAX_EVENTS) (vCenter pages hold at
//! most 1000): a stream far behind catches up over several cycles. The events of the newest
//! second of a cut read are left for the next read, which starts in that second.
//!
//! vCenter's keys start again when its database is restored from a backup: an event numbered
//! no later than the position but created more than [`OVERLAP`] after it shows that. Then
//! every event created after the position's time is new, and the position follows them
//! ([`EventPosition::advances`] accepts a later time with a smaller key).

use super::assignment::{Assignment, EventPosition};
use super::events::{self, EventSelect};
use super::summary::CycleSummary;
use crate::config::CollectConfig;
use crate::sink::{Outcome, Sink};
use crate::telemetry::EventStreamFigures;
use crate::vsphere::{Client, Event, EventsRead};

/// Seconds before the position's time that a read starts at (see the module doc).
pub const OVERLAP: i64 = 5;

/// vCenter's setting for how many days it keeps events.
const MAX_AGE_OPTION: &str = "event.maxAge";

/// One vCenter's event reader.
#[derive(Debug)]
pub struct EventStream {
    enabled: bool,
    select: EventSelect,
    lookback: i64,
    /// Whether this node read the stream last cycle (to log when it starts and stops).
    reading: bool,
    /// How far this node got while reading (see [`Fresh::upto`]): ahead of the committed
    /// position while the spool holds events it has not delivered.
    written: Option<EventPosition>,
    /// vCenter's time up to which every event is written (for `vcollect_events_lag_seconds`):
    /// a cycle's time once its read was complete and written, else the position's.
    complete_to: Option<i64>,
}

/// What a cycle of the stream works with.
pub struct StreamCycle<'a> {
    pub client: &'a Client,
    pub assignment: &'a dyn Assignment,
    pub vcenter: &'a str,
    /// vCenter's time, unix seconds.
    pub now: i64,
    pub sink: &'a Sink,
    /// This node owns the vCenter's event stream (its bucket, in the cycle's snapshot).
    pub owns: bool,
}

impl EventStream {
    pub fn new(collect: &CollectConfig) -> EventStream {
        EventStream {
            enabled: collect.events,
            select: EventSelect {
                include: collect.event_include.clone(),
                exclude: collect.event_exclude.clone(),
            },
            lookback: collect.lookback.as_secs() as i64,
            reading: false,
            written: None,
            complete_to: None,
        }
    }

    /// Reads and writes the events since the position, when this node owns the stream, and
    /// commits how far they are in the sink.
    pub async fn cycle(&mut self, c: StreamCycle<'_>, summary: &mut CycleSummary) {
        if !self.enabled {
            return;
        }
        if !c.owns {
            self.stop(c.vcenter);
            return;
        }
        let committed = c.assignment.event_position(c.vcenter);
        if !self.reading {
            self.start(&c, committed).await;
        }
        let from = match (self.written, committed) {
            (Some(w), Some(k)) if k.advances(&w) => Some(k),
            (w, k) => w.or(k),
        };
        let since = match from {
            // A start marker: nothing can be numbered after it yet created before it.
            Some(p) if p.key == 0 => p.time,
            Some(p) => p.time - OVERLAP,
            None => c.now - self.lookback,
        };
        let read = match c
            .client
            .events_since(since, &self.select.server_types())
            .await
        {
            Ok(read) => read,
            Err(e) => {
                crate::telemetry::metrics().error(c.vcenter, e.cause());
                summary.errors.push(format!("events: {e}"));
                self.report(&c, 0);
                return;
            }
        };
        let truncated = read.truncated;
        let fresh = fresh(read, from, &self.select, c.vcenter);
        let delivered = if fresh.events.is_empty() {
            // Only events of types not written: the stream is past them all the same.
            self.written = fresh.upto.or(self.written);
            Some(0)
        } else {
            self.write(&c, &fresh, summary).await
        };
        if delivered.is_some() {
            self.complete_to = if truncated {
                self.written.map(|w| w.time)
            } else {
                Some(c.now)
            };
        }
        self.commit(&c, committed, summary).await;
        self.report(&c, delivered.unwrap_or(0));
    }

    /// Where the stream is, for `/metrics` (docs/operations.md): `written` events this cycle.
    fn report(&self, c: &StreamCycle<'_>, written: u64) {
        crate::telemetry::metrics().events(
            c.vcenter,
            EventStreamFigures {
                written,
                last: self.written.filter(|w| w.key != 0).map(|w| (w.key, w.time)),
                lag: lag_seconds(c.now, self.complete_to),
            },
        );
    }

    /// This node starts reading: from the committed position (warning when it is older
    /// than what vCenter keeps), else from `lookback`.
    async fn start(&mut self, c: &StreamCycle<'_>, committed: Option<EventPosition>) {
        self.reading = true;
        self.written = None;
        self.complete_to = Some(committed.map_or(c.now - self.lookback, |p| p.time));
        let Some(p) = committed else {
            // A start marker, committed like a position: until an event arrives every cycle
            // reads from here (not from a `lookback` that moves on with the clock), and a
            // node taking the stream over before then starts here too. No event has key 0.
            self.written = Some(EventPosition {
                key: 0,
                time: c.now - self.lookback,
            });
            tracing::info!(
                vcenter = c.vcenter,
                lookback_s = self.lookback,
                "reading vCenter's events: no position committed yet, from lookback"
            );
            return;
        };
        tracing::info!(
            vcenter = c.vcenter,
            key = p.key,
            time = p.time,
            "reading vCenter's events from the committed position"
        );
        if let Ok(Some(days)) = c.client.option_int(MAX_AGE_OPTION).await {
            if days > 0 && c.now - p.time > days * 86_400 {
                tracing::warn!(
                    vcenter = c.vcenter,
                    key = p.key,
                    time = p.time,
                    max_age_days = days,
                    "the event stream had no reader for longer than vCenter keeps events: \
                     the events it dropped since are lost"
                );
            }
        }
    }

    /// This node does not own the stream (any more): forgets how far it got, so that it
    /// starts from the committed position if the stream comes back.
    fn stop(&mut self, vcenter: &str) {
        if self.reading {
            tracing::info!(
                vcenter,
                "stopped reading vCenter's events: the stream is another node's"
            );
            crate::telemetry::metrics().events_stopped(vcenter);
        }
        self.reading = false;
        self.written = None;
        self.complete_to = None;
    }

    /// Writes `fresh`'s events; on success its end is this node's position, and the points
    /// written are returned.
    async fn write(
        &mut self,
        c: &StreamCycle<'_>,
        fresh: &Fresh,
        summary: &mut CycleSummary,
    ) -> Option<u64> {
        let batch = events::encode(c.vcenter, &fresh.events);
        let (lines, bytes) = (batch.lines, batch.body.len());
        match c.sink.write_at(batch, events::PRECISION).await {
            Outcome::Written | Outcome::Spooled => {
                self.written = fresh.upto.or(self.written);
                summary.lines += lines as u64;
                summary.bytes += bytes as u64;
                return Some(lines as u64);
            }
            Outcome::Closed => {}
            Outcome::Dropped => summary.errors.push(format!(
                "vCenter {}: {lines} vsphere_event points dropped by the sink",
                c.vcenter
            )),
        }
        None
    }

    /// Commits this node's position when it is ahead of the committed one and in the sink:
    /// not for a run whose output is not the configured sink, and in a cluster not while
    /// the spool holds batches (another node would resume from the position if this one
    /// never came back; the spool is FIFO, so once it is empty the position is delivered).
    async fn commit(
        &self,
        c: &StreamCycle<'_>,
        committed: Option<EventPosition>,
        summary: &mut CycleSummary,
    ) {
        let Some(w) = self.written else { return };
        if committed.is_some_and(|k| !w.advances(&k)) || !c.assignment.records_progress() {
            return;
        }
        let spooled = c.sink.stats().spool_depth_batches > 0;
        if spooled && !c.assignment.spool_is_durable() {
            return;
        }
        if let Err(e) = c.assignment.commit_events(c.vcenter, w).await {
            crate::telemetry::metrics().error(c.vcenter, "event_position");
            summary.errors.push(e.to_string());
        }
    }
}

/// Seconds of vCenter's clock (`now`) that the stream is behind: since the time up to which
/// every event is written (`complete_to`); 0 before this node read anything.
pub fn lag_seconds(now: i64, complete_to: Option<i64>) -> f64 {
    complete_to.map_or(0, |t| (now - t).max(0)) as f64
}

/// What a read brings after the position.
#[derive(Debug, Default)]
pub struct Fresh {
    /// The selected events to write, oldest (lowest key) first.
    pub events: Vec<Event>,
    /// The position once they are written: the newest event read after the old one, of any
    /// type. Counting the types not written too keeps the position moving while only those
    /// arrive (with a type pattern vCenter sends every type), so that reads stay short.
    pub upto: Option<EventPosition>,
}

/// The events of `read` after position `from` (see the module doc: the key order, the
/// restart of keys, a cut read), and the position past them.
pub fn fresh(
    read: EventsRead,
    from: Option<EventPosition>,
    select: &EventSelect,
    vcenter: &str,
) -> Fresh {
    let mut events = read.events;
    if let Some(p) = from {
        let restarted = events
            .iter()
            .find(|e| e.key <= p.key && e.time > p.time + OVERLAP);
        if let Some(e) = restarted {
            tracing::warn!(
                vcenter,
                position_key = p.key,
                position_time = p.time,
                event_key = e.key,
                event_time = e.time,
                "vCenter's event keys started again (its database restored?): \
                 writing every event created after the position's time"
            );
            events.retain(|e| e.time > p.time);
        } else {
            events.retain(|e| e.key > p.key);
        }
    }
    events.sort_by_key(|e| e.key);
    events.dedup_by_key(|e| e.key);
    if read.truncated {
        // The read stopped inside the newest second: the rest of it comes next time.
        let newest = events.iter().map(|e| e.time).max().unwrap_or(i64::MIN);
        if events.iter().any(|e| e.time < newest) {
            events.retain(|e| e.time < newest);
        }
    }
    let upto = events.last().map(|e| EventPosition {
        key: e.key,
        time: e.time,
    });
    events.retain(|e| select.selected(&e.kind, e.task.as_deref()));
    Fresh { events, upto }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: i64, time: i64, kind: &str) -> Event {
        Event {
            key,
            chain_id: key,
            time,
            kind: kind.into(),
            ..Event::default()
        }
    }

    fn keys(f: &Fresh) -> Vec<i64> {
        f.events.iter().map(|e| e.key).collect()
    }

    fn all_but(exclude: &str) -> EventSelect {
        EventSelect {
            include: vec!["*".into()],
            exclude: vec![exclude.into()],
        }
    }

    fn read(events: Vec<Event>) -> EventsRead {
        EventsRead {
            events,
            truncated: false,
        }
    }

    #[test]
    fn only_selected_events_after_the_position_oldest_first() {
        let select = all_but("TaskEvent");
        let got = fresh(
            read(vec![ev(3, 20, "A"), ev(1, 10, "A"), ev(2, 10, "TaskEvent")]),
            None,
            &select,
            "vc",
        );
        assert_eq!(keys(&got), [1, 3]);
        assert_eq!(got.upto, Some(EventPosition { key: 3, time: 20 }));
        let at = Some(EventPosition { key: 3, time: 20 });
        // The same second read again: its written keys are dropped; an event numbered after
        // the position but created just before it is kept.
        let got = fresh(
            read(vec![ev(3, 20, "A"), ev(5, 20, "A"), ev(4, 19, "A")]),
            at,
            &select,
            "vc",
        );
        assert_eq!(keys(&got), [4, 5]);
    }

    #[test]
    fn the_lag_is_what_vcenter_created_since_the_stream_was_complete() {
        assert_eq!(lag_seconds(1_000, Some(1_000)), 0.0);
        assert_eq!(lag_seconds(1_000, Some(940)), 60.0);
        // A clock that steps back, or nothing read yet: no lag.
        assert_eq!(lag_seconds(1_000, Some(1_010)), 0.0);
        assert_eq!(lag_seconds(1_000, None), 0.0);
    }

    #[test]
    fn keys_that_start_again_are_new_events() {
        let select = all_but("TaskEvent");
        let at = EventPosition {
            key: 120,
            time: 1000,
        };
        let got = fresh(
            read(vec![
                ev(100, 990, "A"),
                ev(101, 2000, "A"),
                ev(102, 2001, "A"),
            ]),
            Some(at),
            &select,
            "vc",
        );
        assert_eq!(keys(&got), [101, 102]);
        let p = EventPosition {
            key: 102,
            time: 2001,
        };
        assert!(p.advances(&at));
    }

    #[test]
    fn a_cut_read_leaves_its_newest_second_for_the_next() {
        let select = all_but("TaskEvent");
        let cut = EventsRead {
            events: vec![ev(1, 10, "A"), ev(2, 11, "A"), ev(3, 11, "A")],
            truncated: true,
        };
        assert_eq!(keys(&fresh(cut, None, &select, "vc")), [1]);
        let one_second = EventsRead {
            events: vec![ev(1, 10, "A"), ev(2, 10, "A")],
            truncated: true,
        };
        assert_eq!(keys(&fresh(one_second, None, &select, "vc")), [1, 2]);
    }

    #[test]
    fn the_position_moves_past_types_not_written() {
        let select = all_but("TaskEvent");
        let at = Some(EventPosition { key: 3, time: 20 });
        let got = fresh(
            read(vec![ev(4, 21, "A"), ev(5, 22, "TaskEvent")]),
            at,
            &select,
            "vc",
        );
        assert_eq!(keys(&got), [4]);
        assert_eq!(got.upto, Some(EventPosition { key: 5, time: 22 }));
        let only_skipped = fresh(read(vec![ev(6, 23, "TaskEvent")]), at, &select, "vc");
        assert!(only_skipped.events.is_empty());
        assert_eq!(only_skipped.upto, Some(EventPosition { key: 6, time: 23 }));
        let nothing = fresh(read(vec![ev(3, 20, "A")]), at, &select, "vc");
        assert_eq!(nothing.upto, None);
    }
}
