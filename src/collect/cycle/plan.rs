//! Planning one cycle: which entities are asked for, from when to when, in which QueryPerf
//! specs. A pure function of the targets, one [`Snapshot`] of the assignment, this node's
//! own [`Positions`], the kinds' cadences and counters, and vCenter's clock.

use std::sync::Arc;

use super::cadence::Cadence;
use super::positions::Positions;
use crate::collect::assignment::Snapshot;
use crate::collect::targets::Target;
use crate::collect::MoidMap;
use crate::vsphere::{EntityKind, MetricId, PerfFormat, PerfQuerySpec};

/// What a cycle is planned from, besides the targets, the snapshot and the positions.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Each kind's cadence (realtime for VMs and hosts, the historical interval otherwise).
    pub cadences: [Cadence; EntityKind::COUNT],
    /// The metric ids asked per kind; empty: the kind is not collected.
    pub metric_ids: [Arc<[MetricId]>; EntityKind::COUNT],
    /// `collect.lookback` in seconds: how far back a first window reaches.
    pub lookback: i64,
    /// The QueryPerf answer format.
    pub format: PerfFormat,
}

/// One entity's window: samples after `start` up to the kind's window end.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    pub target: &'a Target,
    /// Exclusive: the newest sample known to be in the sink, or where a first window starts.
    /// The encoder drops every sample at or before it; nothing else filters.
    pub start: i64,
}

/// One cycle's plan.
#[derive(Debug, Default)]
pub struct CyclePlan<'a> {
    /// Per kind: collected and due this cycle (historical kinds at most once per interval).
    pub due: [bool; EntityKind::COUNT],
    /// Per kind: where this cycle's windows end (vCenter's clock on the kind's grid).
    pub ends: [i64; EntityKind::COUNT],
    /// The owned entities of due kinds, by moid. An entity whose window is empty (it is up
    /// to date) is here too, so that its bucket's watermark can follow it.
    pub windows: MoidMap<&'a str, Window<'a>>,
    /// Every owned entity of any kind: the positions of the others are forgotten.
    pub owned: Vec<&'a str>,
    /// The QueryPerf specs of the windows with something to ask, by kind.
    pub specs: Vec<PerfQuerySpec>,
}

/// Plans a cycle at vCenter time `now`: every owned target of a due kind gets the window
/// (its last written sample, else its bucket's watermark, else `now - lookback`; see
/// [`Cadence::window_start`], window end]. A kind without counters has no window and costs
/// no call.
pub fn plan<'a>(
    targets: &'a [Target],
    snapshot: &Snapshot,
    positions: &Positions,
    settings: &Settings,
    now: i64,
) -> CyclePlan<'a> {
    let cadences = &settings.cadences;
    let ends = cadences.map(|c| c.window_end(now));
    let due = EntityKind::ALL.map(|k| {
        let i = k.index();
        !settings.metric_ids[i].is_empty() && cadences[i].due(ends[i], positions.queried_end(k))
    });
    let mut p = CyclePlan {
        due,
        ends,
        ..CyclePlan::default()
    };
    for t in targets.iter().filter(|t| snapshot.owns(t.bucket)) {
        let (kind, moid) = (t.entity.kind, t.entity.moid.as_str());
        p.owned.push(moid);
        let i = kind.index();
        if !due[i] {
            continue;
        }
        let last = positions
            .last(moid)
            .or_else(|| snapshot.watermark(kind, t.bucket));
        let start = cadences[i].window_start(ends[i], last, settings.lookback);
        if start < ends[i] {
            p.specs.push(PerfQuerySpec {
                kind,
                moid: moid.to_string(),
                start: Some(start),
                end: Some(ends[i]),
                max_sample: cadences[i].max_samples(start, ends[i]),
                metric_ids: settings.metric_ids[i].clone(),
                interval_id: cadences[i].interval as i32,
                format: settings.format,
            });
        }
        p.windows.insert(moid, Window { target: t, start });
    }
    p.specs.sort_by_key(|s| s.kind);
    p
}
