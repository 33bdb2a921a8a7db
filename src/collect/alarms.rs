//! Triggered alarms as `vsphere_alarm` points (`[collect] alarms = true`).
//!
//! The states come with the inventory (`triggeredAlarmState`, read in the same retrieval,
//! the alarms' names in one more call), so they are as fresh as the last discovery: one
//! point per triggered alarm of each owned, collected entity per discovery, at vCenter's
//! time of the cycle that discovered it. vCenter drops an alarm that turned green from
//! `triggeredAlarmState`; so that a graph does not show it red for ever, an alarm this node
//! wrote triggered at its previous discovery and no longer sees on the same entity gets
//! one green point.
//!
//! A point: `vsphere_alarm,<the entity's tags>,alarm=<name> status=<0 green, 1 yellow,
//! 2 red, 3 gray>i,acknowledged=<bool> <time>`.

use std::collections::{HashMap, HashSet};

use super::targets::Target;
use crate::sink::{line, Batch};

/// The measurement of alarm points.
pub const MEASUREMENT: &str = "vsphere_alarm";

/// The `status` field of an `overallStatus`: 0 green, 1 yellow, 2 red, 3 gray (and
/// anything vCenter may add).
pub fn status_code(status: &str) -> i64 {
    match status {
        "green" => 0,
        "yellow" => 1,
        "red" => 2,
        _ => 3,
    }
}

/// The alarms this node wrote triggered at its last discovery.
#[derive(Debug, Default)]
pub struct AlarmPoints {
    /// (entity moid, alarm moid) → the escaped start of its line, up to the fields.
    last: HashMap<(String, String), Vec<u8>>,
}

impl AlarmPoints {
    /// The points of one discovery at `ts` (unix seconds): every triggered alarm of
    /// `targets` (this node's), then a green one for each alarm of one of them triggered at
    /// the previous call that is not any more. An alarm whose entity is no longer among
    /// `targets` (its bucket moved to another node, it was deleted or powered off) is
    /// forgotten without a point: its new owner writes its state.
    pub fn lines<'a>(&mut self, targets: impl Iterator<Item = &'a Target>, ts: i64) -> Batch {
        let mut batch = Batch::default();
        let mut now = HashMap::new();
        let mut seen = HashSet::new();
        for t in targets {
            seen.insert(t.entity.moid.as_str());
            for a in &t.entity.extras.alarms {
                let mut head = Vec::with_capacity(200);
                line::escape_measurement(MEASUREMENT, &mut head);
                head.extend_from_slice(&t.line.tags);
                head.extend_from_slice(b",alarm=");
                line::escape_tag_value(&a.name, &mut head);
                point(
                    &head,
                    status_code(&a.status),
                    a.acknowledged,
                    ts,
                    &mut batch,
                );
                now.insert((t.entity.moid.clone(), a.alarm.clone()), head);
            }
        }
        let mut cleared: Vec<_> = self
            .last
            .iter()
            .filter(|(k, _)| !now.contains_key(*k) && seen.contains(k.0.as_str()))
            .collect();
        cleared.sort();
        for (_, head) in cleared {
            point(head, 0, false, ts, &mut batch);
        }
        self.last = now;
        batch
    }
}

fn point(head: &[u8], status: i64, acknowledged: bool, ts: i64, batch: &mut Batch) {
    let out = &mut batch.body;
    out.extend_from_slice(head);
    out.extend_from_slice(b" status=");
    line::write_i64(status, out);
    out.extend_from_slice(b",acknowledged=");
    out.extend_from_slice(if acknowledged { b"true" } else { b"false" });
    out.push(b' ');
    line::write_timestamp(ts, out);
    out.push(b'\n');
    batch.lines += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::encode::EntityLine;
    use crate::vsphere::{Entity, EntityKind, TriggeredAlarm};

    fn host(alarms: &[(&str, &str, &str, bool)]) -> Target {
        let mut e = Entity::new(EntityKind::Host, "host-21", "esx 1");
        e.extras.alarms = alarms
            .iter()
            .map(|(alarm, name, status, acknowledged)| TriggeredAlarm {
                alarm: alarm.to_string(),
                name: name.to_string(),
                status: status.to_string(),
                acknowledged: *acknowledged,
            })
            .collect();
        Target {
            line: EntityLine::new("vc1", &e),
            bucket: 0,
            entity: e,
        }
    }

    fn text(b: &Batch) -> String {
        String::from_utf8(b.body.clone()).unwrap()
    }

    #[test]
    fn statuses_are_numbered_as_documented() {
        let codes: Vec<i64> = ["green", "yellow", "red", "gray", "new"]
            .map(status_code)
            .to_vec();
        assert_eq!(codes, [0, 1, 2, 3, 3]);
    }

    #[test]
    fn a_triggered_alarm_is_a_point_and_a_cleared_one_turns_green_once() {
        let mut p = AlarmPoints::default();
        let t = host(&[
            ("alarm-1", "Host connection", "red", false),
            ("alarm-2", "CPU usage", "yellow", true),
        ]);
        let b = p.lines([&t].into_iter(), 1_700_000_000);
        assert_eq!(b.lines, 2);
        assert_eq!(
            text(&b),
            "vsphere_alarm,esxhostname=esx\\ 1,moid=host-21,source=esx\\ 1,vcenter=vc1,alarm=Host\\ connection status=2i,acknowledged=false 1700000000\n\
             vsphere_alarm,esxhostname=esx\\ 1,moid=host-21,source=esx\\ 1,vcenter=vc1,alarm=CPU\\ usage status=1i,acknowledged=true 1700000000\n"
        );
        let t = host(&[("alarm-2", "CPU usage", "red", true)]);
        let b = p.lines([&t].into_iter(), 1_700_000_300);
        let s = text(&b);
        assert_eq!(b.lines, 2, "{s}");
        assert!(s.contains("alarm=CPU\\ usage status=2i"), "{s}");
        assert!(
            s.contains("alarm=Host\\ connection status=0i,acknowledged=false 1700000300"),
            "{s}"
        );
        // Green once: the next discovery writes only what is triggered.
        let b = p.lines([&t].into_iter(), 1_700_000_600);
        assert_eq!(b.lines, 1, "{}", text(&b));
        // An entity no longer this node's: forgotten, no green point for it.
        let b = p.lines(std::iter::empty(), 1_700_000_900);
        assert_eq!(b.lines, 0, "{}", text(&b));
        let b = p.lines([&host(&[])].into_iter(), 1_700_001_200);
        assert_eq!(b.lines, 0, "{}", text(&b));
        // Nothing triggered, nothing before: nothing at all.
        let mut q = AlarmPoints::default();
        assert_eq!(q.lines([&host(&[])].into_iter(), 1).lines, 0);
    }
}
