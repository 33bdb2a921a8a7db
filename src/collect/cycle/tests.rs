//! The cycle's rules: unit tests of planning and progress, and a property test that runs
//! many cycles against a model vCenter (late samples, failed calls, restarts) and checks at
//! every step that no watermark or position passes a sample not yet written.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::collect::assignment::{Snapshot, WatermarkUpdate};
use crate::collect::encode::EntityLine;
use crate::collect::targets::Target;
use crate::collect::MoidMap;
use crate::vsphere::{Entity, EntityKind, MetricId, PerfFormat};

const T0: i64 = 999_999_900; // on the 20-s and 300-s grids

fn target(kind: EntityKind, moid: &str, bucket: u32) -> Target {
    Target {
        entity: Entity::new(kind, moid, moid),
        line: EntityLine::default(),
        bucket,
    }
}

fn ids(n: i32) -> Arc<[MetricId]> {
    (0..n)
        .map(|c| MetricId {
            counter_id: c,
            instance: String::new(),
        })
        .collect::<Vec<_>>()
        .into()
}

/// VMs and hosts realtime, the others every 300 s; every kind with two counters.
fn settings() -> Settings {
    Settings {
        cadences: EntityKind::ALL.map(|k| {
            if k.is_realtime() {
                cadence::REALTIME
            } else {
                Cadence::historical(300)
            }
        }),
        metric_ids: EntityKind::ALL.map(|_| ids(2)),
        lookback: 300,
        format: PerfFormat::Normal,
    }
}

fn owning(buckets: &[u32]) -> Snapshot {
    let mut s = Snapshot::default();
    for b in buckets {
        s.own(*b);
    }
    s
}

fn starts(p: &CyclePlan) -> Vec<(String, i64)> {
    let mut v: Vec<_> = p
        .windows
        .iter()
        .map(|(m, w)| (m.to_string(), w.start))
        .collect();
    v.sort();
    v
}

#[test]
fn only_owned_targets_are_planned_from_position_watermark_or_lookback() {
    let targets = [
        target(EntityKind::Vm, "vm-1", 1),
        target(EntityKind::Vm, "vm-2", 1),
        target(EntityKind::Vm, "vm-3", 2),
        target(EntityKind::Host, "host-1", 3),
    ];
    let mut snap = owning(&[1, 3]);
    snap.set_watermark(EntityKind::Vm, 1, T0 - 100);
    let mut pos = Positions::default();
    pos.advance(
        &plan(&targets, &snap, &pos, &settings(), T0),
        &MoidMap::from_iter([("vm-1".to_string(), T0 - 40)]),
        &snap,
    );
    let p = plan(&targets, &snap, &pos, &settings(), T0 + 19);
    // vm-1 from its own position, vm-2 from its bucket's watermark, host-1 from the
    // lookback; vm-3 is another node's.
    assert_eq!(
        starts(&p),
        [
            ("host-1".to_string(), T0 - 300),
            ("vm-1".to_string(), T0 - 40),
            ("vm-2".to_string(), T0 - 100)
        ]
    );
    assert_eq!(p.owned.len(), 3);
    assert_eq!(p.ends[EntityKind::Vm.index()], T0);
    let spec = p.specs.iter().find(|s| s.moid == "vm-2").unwrap();
    assert_eq!(
        (spec.start, spec.end, spec.max_sample),
        (Some(T0 - 100), Some(T0), 6)
    );
}

#[test]
fn an_up_to_date_entity_has_a_window_but_costs_no_call() {
    let targets = [target(EntityKind::Vm, "vm-1", 0)];
    let mut snap = owning(&[0]);
    snap.set_watermark(EntityKind::Vm, 0, T0);
    let p = plan(&targets, &snap, &Positions::default(), &settings(), T0 + 5);
    assert_eq!(starts(&p), [("vm-1".to_string(), T0)]);
    assert!(p.specs.is_empty());
}

#[test]
fn a_kind_without_counters_is_not_planned_and_historical_kinds_once_per_interval() {
    let targets = [
        target(EntityKind::Vm, "vm-1", 0),
        target(EntityKind::Datastore, "ds-1", 0),
    ];
    let mut s = settings();
    s.metric_ids[EntityKind::Vm.index()] = ids(0);
    let snap = owning(&[0]);
    let mut pos = Positions::default();
    let first = plan(&targets, &snap, &pos, &s, T0 + 30);
    assert_eq!(starts(&first), [("ds-1".to_string(), T0 - 1_800)]);
    pos.planned(&first);
    // The datastore's window end has not moved: not due again.
    let again = plan(&targets, &snap, &pos, &s, T0 + 250);
    assert!(again.windows.is_empty() && !again.due[EntityKind::Datastore.index()]);
    let next = plan(&targets, &snap, &pos, &s, T0 + 310);
    assert!(next.due[EntityKind::Datastore.index()]);
}

#[test]
fn positions_of_entities_no_longer_owned_are_forgotten() {
    let targets = [
        target(EntityKind::Vm, "vm-1", 1),
        target(EntityKind::Vm, "vm-2", 2),
    ];
    let snap = owning(&[1, 2]);
    let mut pos = Positions::default();
    let p = plan(&targets, &snap, &pos, &settings(), T0);
    let written = MoidMap::from_iter([("vm-1".into(), T0), ("vm-2".into(), T0)]);
    pos.advance(&p, &written, &snap);
    assert_eq!(pos.last("vm-2"), Some(T0));
    // Bucket 2 moved away and back: the committed watermark is the truth again.
    let p = plan(&targets, &owning(&[1]), &pos, &settings(), T0 + 20);
    pos.planned(&p);
    assert_eq!((pos.last("vm-1"), pos.last("vm-2")), (Some(T0), None));
    assert_eq!(pos.queried_end(EntityKind::Vm), Some(T0 + 20));
}

#[test]
fn a_bucket_moves_to_its_slowest_entity_and_only_forward() {
    let targets = [
        target(EntityKind::Vm, "vm-1", 1),
        target(EntityKind::Vm, "vm-2", 1),
        target(EntityKind::Vm, "vm-3", 2),
    ];
    let mut snap = owning(&[1, 2]);
    snap.set_watermark(EntityKind::Vm, 2, T0 - 20);
    snap.set_watermark(EntityKind::Vm, 1, T0 - 100);
    let mut pos = Positions::default();
    let p = plan(&targets, &snap, &pos, &settings(), T0);
    // vm-2's call failed: bucket 1 stays at vm-2's start (its watermark: nothing new);
    // vm-3 wrote nothing new (a late sample): bucket 2 not moved either.
    let written = MoidMap::from_iter([("vm-1".to_string(), T0)]);
    assert_eq!(pos.advance(&p, &written, &snap), []);
    let p = plan(&targets, &snap, &pos, &settings(), T0 + 20);
    let written =
        MoidMap::from_iter([("vm-2".to_string(), T0 - 60), ("vm-3".to_string(), T0 + 20)]);
    let up = |bucket, ts| WatermarkUpdate {
        kind: EntityKind::Vm,
        bucket,
        ts,
    };
    assert_eq!(
        pos.advance(&p, &written, &snap),
        [up(1, T0 - 60), up(2, T0 + 20)]
    );
}

#[test]
fn commits_wait_for_the_configured_sink_and_a_delivered_spool() {
    assert_eq!(Commit::decide(true, false, false), Commit::Yes);
    assert_eq!(Commit::decide(true, true, true), Commit::Yes);
    assert_eq!(Commit::decide(true, true, false), Commit::SpoolPending);
    assert_eq!(Commit::decide(false, false, true), Commit::NotTheSink);
    assert!(Commit::Yes.note().is_none() && Commit::SpoolPending.note().is_some());
}

/// A model vCenter for the property test: three VMs in two buckets; the sample at `ts` of
/// entity `e` is posted at `posted[e][k]` (late by up to three intervals, in order).
struct Model {
    targets: Vec<Target>,
    posted: Vec<Vec<i64>>,
    written: BTreeSet<(usize, i64)>,
    snapshot: Snapshot,
    positions: Positions,
}

impl Model {
    fn new(lags: &[(u8, u8, u8)]) -> Model {
        let targets = vec![
            target(EntityKind::Vm, "vm-0", 0),
            target(EntityKind::Vm, "vm-1", 0),
            target(EntityKind::Vm, "vm-2", 1),
        ];
        let mut posted = vec![Vec::new(); 3];
        for (k, l) in lags.iter().enumerate() {
            for (e, lag) in [l.0, l.1, l.2].into_iter().enumerate() {
                let ts = T0 + 20 * k as i64;
                let at = ts + 20 * i64::from(lag % 4);
                let prev = posted[e].last().copied().unwrap_or(at);
                posted[e].push(at.max(prev));
            }
        }
        Model {
            targets,
            posted,
            written: BTreeSet::new(),
            snapshot: owning(&[0, 1]),
            positions: Positions::default(),
        }
    }

    /// One cycle at `now`; `ok[e]`: entity e's call succeeds.
    fn cycle(&mut self, now: i64, ok: [bool; 3]) {
        let p = plan(
            &self.targets,
            &self.snapshot,
            &self.positions,
            &settings(),
            now,
        );
        self.positions.planned(&p);
        let mut durable = MoidMap::default();
        for (e, t) in self.targets.iter().enumerate() {
            let Some(w) = p.windows.get(t.entity.moid.as_str()) else {
                continue;
            };
            if !ok[e] {
                continue;
            }
            let end = p.ends[0];
            let got: Vec<i64> = (0..self.posted[e].len())
                .map(|k| T0 + 20 * k as i64)
                .filter(|ts| {
                    *ts > w.start && *ts <= end && self.posted[e][((ts - T0) / 20) as usize] <= now
                })
                .collect();
            self.written.extend(got.iter().map(|ts| (e, *ts)));
            if let Some(newest) = got.last() {
                durable.insert(t.entity.moid.clone(), *newest);
            }
        }
        for u in self.positions.advance(&p, &durable, &self.snapshot) {
            let old = self.snapshot.watermark(u.kind, u.bucket);
            assert!(old.is_none_or(|o| u.ts > o), "a watermark went back");
            self.snapshot.set_watermark(u.kind, u.bucket, u.ts);
        }
    }

    /// Every sample at or before its bucket's watermark, or its entity's position, is
    /// written (samples before T0 do not exist).
    fn check(&self) -> Result<(), String> {
        for (e, t) in self.targets.iter().enumerate() {
            let mark = self.snapshot.watermark(t.entity.kind, t.bucket);
            let pos = self.positions.last(&t.entity.moid);
            let upto = mark.into_iter().chain(pos).max().unwrap_or(T0 - 1);
            for k in 0..self.posted[e].len() as i64 {
                let ts = T0 + 20 * k;
                if ts <= upto && !self.written.contains(&(e, ts)) {
                    return Err(format!(
                        "{} sample {ts} unwritten below {upto}",
                        t.entity.moid
                    ));
                }
            }
        }
        Ok(())
    }
}

proptest! {
    /// Late samples, failed calls and restarts (a new owner with no positions) never leave
    /// a gap under a watermark; once calls succeed again every posted sample is written.
    #[test]
    fn no_sample_is_passed_over(
        lags in prop::collection::vec((0u8..4, 0u8..4, 0u8..4), 60),
        steps in prop::collection::vec((any::<[bool; 3]>(), 0u8..20, 0u8..16), 60),
    ) {
        let mut m = Model::new(&lags);
        for (c, (ok, jitter, restart)) in steps.iter().enumerate() {
            if *restart == 0 {
                m.positions = Positions::default();
            }
            m.cycle(T0 + 20 * c as i64 + i64::from(*jitter), *ok);
            m.check().map_err(TestCaseError::fail)?;
        }
        // Healed: every sample posted by then is written.
        let now = T0 + 20 * 64;
        m.cycle(now, [true; 3]);
        for e in 0..3 {
            for (k, at) in m.posted[e].iter().enumerate() {
                let ts = T0 + 20 * k as i64;
                if *at <= now {
                    prop_assert!(m.written.contains(&(e, ts)), "vm-{e} {ts} lost");
                }
            }
        }
    }

    /// A window never starts before what vCenter keeps, nor after the window end, and
    /// asks no more samples than vCenter keeps: an entity silent for longer than retention
    /// stops holding its bucket back.
    #[test]
    fn windows_stay_within_retention(mark in 0i64..10_000_000, ago in 0i64..100_000) {
        let now = T0 + mark;
        let mut snap = owning(&[0]);
        snap.set_watermark(EntityKind::Vm, 0, now - ago);
        let targets = [target(EntityKind::Vm, "vm-1", 0)];
        let p = plan(&targets, &snap, &Positions::default(), &settings(), now);
        let w = p.windows["vm-1"];
        let end = p.ends[0];
        prop_assert!(w.start >= end - cadence::REALTIME_RETENTION);
        prop_assert!(w.start <= end.max(now - ago));
        for s in &p.specs {
            prop_assert!(s.max_sample <= 181);
        }
    }
}
