//! vCenter's events as `vsphere_event` points (`[collect] events = true`): which types are
//! written, and how an event becomes a point. Reading the stream, and how far it got, is
//! [`super::event_stream`].
//!
//! A point: `vsphere_event,clustername=…,dcname=…,dsname=…,esxhostname=…,severity=…,task=…,
//! type=VmPoweredOffEvent,vcenter=…,vmname=… key=42i,chain_id=41i,user="…",message="…"
//! <createdTime>`, each name tag only when the event names it; `task` only on a `TaskEvent`
//! (its task's description id, `VirtualMachine.createSnapshot`).
//!
//! **Tasks.** vCenter records most operations only as tasks: a snapshot taken or removed is
//! a `TaskEvent` and nothing else. A pattern `TaskEvent:<task pattern>` selects the events of
//! the tasks whose description id it matches (`TaskEvent:VirtualMachine.createSnapshot`);
//! `TaskEvent` alone selects every task's. vCenter filters by type only, so it sends every
//! `TaskEvent` and the tasks are chosen here.
//!
//! **One point per event.** InfluxDB keeps one point per measurement, tag set and
//! timestamp, and vCenter often records several events of one type on one object in the
//! same second (an alarm evaluation turning several alarms of a host red). So the timestamp
//! is in milliseconds ([`Precision::Millis`]): the second the event was created, and as its
//! milliseconds the event key modulo 1000. vCenter numbers events one after the other, so
//! two events share a point only with 1000 events between them in the same second, of the
//! same type on the same objects. The time is the event's own, not when it was read: a node
//! that writes an event again (a handover, see [`super::event_stream`]) writes the same
//! point. The sub-second part is not vCenter's: its creation time is kept to the second.

use super::wildcard::Wildcard;
use crate::sink::line::LineBuilder;
use crate::sink::{Batch, Precision};
use crate::vsphere::Event;

pub use crate::contract::EVENTS_ID;

/// The measurement of event points.
pub const MEASUREMENT: &str = "vsphere_event";

/// The type of a task's event, which a `TaskEvent:<task>` pattern selects by task.
pub const TASK_EVENT: &str = "TaskEvent";

/// Which event types are written (`event_include` / `event_exclude`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSelect {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl EventSelect {
    /// The types to name in vCenter's filter: the include list's types when they are only
    /// exact names (vCenter then sends only those; it matches an `EventEx` by its id), else
    /// none (every type, chosen here). A `TaskEvent:<task>` pattern names `TaskEvent`.
    pub fn server_types(&self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for p in &self.include {
            let (kind, _) = split(p);
            if Wildcard::has_meta(kind) {
                return Vec::new();
            }
            if !types.iter().any(|t| t == kind) {
                types.push(kind.to_string());
            }
        }
        types
    }

    /// Whether an event of type `kind` (and, a task's, of `task`) is written.
    pub fn selected(&self, kind: &str, task: Option<&str>) -> bool {
        let any = |ps: &[String]| ps.iter().any(|p| matches(p, kind, task));
        any(&self.include) && !any(&self.exclude)
    }
}

/// A pattern's type, and its task pattern (`TaskEvent:<task>`).
fn split(pattern: &str) -> (&str, Option<&str>) {
    match pattern.split_once(':') {
        Some((kind, task)) => (kind, Some(task)),
        None => (pattern, None),
    }
}

/// Whether `pattern` matches an event of type `kind` (and task `task`).
fn matches(pattern: &str, kind: &str, task: Option<&str>) -> bool {
    let (p_kind, p_task) = split(pattern);
    Wildcard::name(p_kind).matches(kind)
        && p_task.is_none_or(|p| task.is_some_and(|t| Wildcard::name(p).matches(t)))
}

/// An optional name as a tag value (empty: no tag).
fn name(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The unit of [`encode`]'s timestamps.
pub const PRECISION: Precision = Precision::Millis;

/// An event's timestamp: its second, and its key modulo 1000 as the milliseconds.
pub fn timestamp_ms(e: &Event) -> i64 {
    e.time.saturating_mul(1000) + e.key.rem_euclid(1000)
}

/// The points of `events` (timestamps in [`PRECISION`]).
pub fn encode(vcenter: &str, events: &[Event]) -> Batch {
    let mut batch = Batch::default();
    for e in events {
        let written = LineBuilder::new(&mut batch.body, MEASUREMENT)
            .tag("clustername", name(&e.cluster))
            .tag("dcname", name(&e.datacenter))
            .tag("dsname", name(&e.datastore))
            .tag("esxhostname", name(&e.host))
            .tag("severity", name(&e.severity))
            .tag("task", name(&e.task))
            .tag("type", &e.kind)
            .tag("vcenter", vcenter)
            .tag("vmname", name(&e.vm))
            .field_i64("key", e.key)
            .field_i64("chain_id", e.chain_id)
            .field_str("user", &e.user)
            .field_str("message", &e.message)
            .finish(timestamp_ms(e));
        if written {
            batch.lines += 1;
        }
    }
    batch
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
            vm: Some("web 1".into()),
            message: "web 1 is \"off\"".into(),
            ..Event::default()
        }
    }

    #[test]
    fn exact_types_go_to_vcenter_patterns_are_applied_here() {
        let exact = EventSelect {
            include: vec!["VmPoweredOffEvent".into()],
            exclude: vec![],
        };
        assert_eq!(exact.server_types(), ["VmPoweredOffEvent"]);
        let patterns = EventSelect {
            include: vec!["Vm*".into()],
            exclude: vec!["VmBeingCreatedEvent".into()],
        };
        assert!(patterns.server_types().is_empty());
        assert!(patterns.selected("VmPoweredOnEvent", None));
        assert!(
            !patterns.selected("VmBeingCreatedEvent", None)
                && !patterns.selected("HostEvent", None)
        );
    }

    #[test]
    fn a_task_pattern_selects_the_events_of_those_tasks() {
        let snapshots = EventSelect {
            include: vec![
                "VmPoweredOffEvent".into(),
                "TaskEvent:VirtualMachine.createSnapshot".into(),
                "TaskEvent:vm.Snapshot.*".into(),
                "com.vmware.vc.vm.VmStateRevertedToSnapshot".into(),
            ],
            exclude: vec![],
        };
        // vCenter is asked for every task's event (and matches an EventEx by its id).
        assert_eq!(
            snapshots.server_types(),
            [
                "VmPoweredOffEvent",
                "TaskEvent",
                "com.vmware.vc.vm.VmStateRevertedToSnapshot"
            ]
        );
        let task = |t| snapshots.selected("TaskEvent", Some(t));
        assert!(task("VirtualMachine.createSnapshot") && task("vm.Snapshot.remove"));
        assert!(!task("VirtualMachine.powerOn"));
        assert!(!snapshots.selected("TaskEvent", None));
        assert!(snapshots.selected("com.vmware.vc.vm.VmStateRevertedToSnapshot", None));
        // A task pattern names only tasks; `TaskEvent` alone, every task.
        assert!(!snapshots.selected("VmPoweredOnEvent", Some("VirtualMachine.createSnapshot")));
        let every = EventSelect {
            include: vec!["TaskEvent".into()],
            exclude: vec!["TaskEvent:VirtualMachine.powerOn".into()],
        };
        assert!(every.selected("TaskEvent", Some("VirtualMachine.createSnapshot")));
        assert!(!every.selected("TaskEvent", Some("VirtualMachine.powerOn")));
    }

    #[test]
    fn an_event_is_one_point_with_the_names_it_carries() {
        let b = encode("vc1", &[ev(42, 1_700_000_000, "VmPoweredOffEvent")]);
        assert_eq!(b.lines, 1);
        assert_eq!(
            String::from_utf8(b.body).unwrap(),
            "vsphere_event,type=VmPoweredOffEvent,vcenter=vc1,vmname=web\\ 1 key=42i,chain_id=42i,user=\"\",message=\"web 1 is \\\"off\\\"\" 1700000000042\n"
        );
    }

    #[test]
    fn events_of_one_type_on_one_object_in_one_second_are_distinct_points() {
        let same = [
            ev(1999, 1_700_000_000, "AlarmStatusChangedEvent"),
            ev(2000, 1_700_000_000, "AlarmStatusChangedEvent"),
            ev(2001, 1_700_000_000, "AlarmStatusChangedEvent"),
        ];
        let ts: Vec<i64> = same.iter().map(timestamp_ms).collect();
        assert_eq!(
            ts,
            [1_700_000_000_999, 1_700_000_000_000, 1_700_000_000_001]
        );
        // Written again, an event is the same point.
        assert_eq!(timestamp_ms(&same[1]), timestamp_ms(&same[1].clone()));
        let body = String::from_utf8(encode("vc1", &same).body).unwrap();
        let stamps: std::collections::BTreeSet<&str> =
            body.lines().filter_map(|l| l.rsplit(' ').next()).collect();
        assert_eq!(stamps.len(), 3, "{body}");
    }
}
