//! The predicates of `vcollect drain NODE --wait` (and `leave`): when is a drained node's work
//! taken over?
//!
//! Three conditions, in order: (1) it owns no bucket; (2) its cycle in flight is over (its
//! last cycle of every vCenter covered no entity, or it does not answer or collect any more);
//! (3) every handed-over bucket that had a watermark when the wait began has moved past it
//! (the new owners collected past its last window).

use std::collections::BTreeMap;

use crate::cluster::state::{ClusterState, NodeId};
use crate::contract::{CycleReport, EntityKind, BUCKETS};

/// Buckets per vCenter (what a drain moved away).
pub type Buckets = BTreeMap<String, Vec<u32>>;

/// One bucket's watermark when the wait began.
pub type Mark = (String, EntityKind, u32, i64);

/// (1) Buckets `node` still owns.
pub fn still_owned(state: &ClusterState, node: NodeId) -> usize {
    state.owned_by(node).values().map(Vec::len).sum()
}

/// What a node said of its collection when asked (or that it could not be asked).
#[derive(Debug, Clone, Default)]
pub struct NodeCycles {
    /// It answered.
    pub reachable: bool,
    /// It collects (it has not lost the cluster).
    pub collecting: bool,
    /// Its last cycle per vCenter.
    pub cycles: Vec<CycleReport>,
}

/// (2) The node's cycle in flight is over, judging by its own report.
pub fn cycle_over(report: &NodeCycles, vcenters: &[String]) -> bool {
    let idle = vcenters.iter().all(|vc| {
        report
            .cycles
            .iter()
            .any(|c| &c.vcenter == vc && c.entities == 0)
    });
    !report.reachable || !report.collecting || idle
}

/// The buckets of the drain (`None`: every bucket of every vCenter).
pub fn drained_buckets(state: &ClusterState, buckets: Option<Buckets>) -> Buckets {
    buckets.unwrap_or_else(|| {
        state
            .vcenters
            .keys()
            .map(|vc| (vc.clone(), (0..BUCKETS).collect()))
            .collect()
    })
}

/// (3) The watermarks of `buckets` now: what the new owners must move past. Only the
/// realtime kinds (VMs, hosts) count: their watermarks move every cycle, so they show within
/// a cycle or two that the new owner collects the bucket. A historical kind's watermark moves
/// once per historical interval (5 minutes, or as late as vCenter posts its rollups), and the
/// same owner resumes it from the committed watermark when it is due, so waiting for it would
/// make a drain last minutes without making it any safer.
pub fn baseline(state: &ClusterState, buckets: &Buckets) -> Vec<Mark> {
    let mut base = Vec::new();
    for (vc, bs) in buckets {
        let Some(v) = state.vcenters.get(vc) else {
            continue;
        };
        for (kind, marks) in v.watermarks.iter().filter(|(k, _)| k.is_realtime()) {
            for &b in bs {
                if let Some(Some(w)) = marks.get(b as usize) {
                    base.push((vc.clone(), *kind, b, *w));
                }
            }
        }
    }
    base
}

/// (3) How many of `base` have not moved past their mark yet.
pub fn pending(state: &ClusterState, base: &[Mark]) -> usize {
    base.iter()
        .filter(|(vc, kind, b, w)| {
            state
                .vcenters
                .get(vc)
                .and_then(|v| v.watermark(*kind, *b))
                .is_none_or(|now| now <= *w)
        })
        .count()
}

/// Who owns the given buckets now, and how many each.
pub fn new_owners(state: &ClusterState, buckets: &Buckets) -> BTreeMap<NodeId, usize> {
    let mut owners: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (vc, bs) in buckets {
        for b in bs {
            if let Some(o) = state
                .vcenters
                .get(vc)
                .and_then(|v| v.owners.get(*b as usize).copied().flatten())
            {
                *owners.entry(o).or_default() += 1;
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::super::fixture::state;
    use super::*;
    use crate::cluster::state::{NodeState, Touched, WatermarkWindow};
    use crate::cluster::Command;

    #[test]
    fn watermarks_must_move_past_the_baseline() {
        let mut s = state(&[(1, NodeState::Active), (2, NodeState::Active)], &[1, 2]);
        let mut t = Touched::default();
        s.apply(
            &Command::SetOwners {
                vcenter: "vc".into(),
                moves: vec![(0, 1), (1, 1), (2, 2)],
            },
            &mut t,
        );
        let commit_kind = |s: &mut ClusterState, kind, ts, buckets: Vec<u32>| {
            s.apply(
                &Command::commit_watermarks(
                    1,
                    vec![WatermarkWindow {
                        vcenter: "vc".into(),
                        kind,
                        ts,
                        buckets,
                    }],
                ),
                &mut Touched::default(),
            );
        };
        let commit =
            |s: &mut ClusterState, ts, buckets| commit_kind(s, EntityKind::Vm, ts, buckets);
        commit(&mut s, 100, vec![0, 1]);
        // A historical kind moves once per 5 minutes: not waited for.
        commit_kind(&mut s, EntityKind::Cluster, 300, vec![0]);
        assert_eq!(still_owned(&s, 1), 2);
        let drained: Buckets = [("vc".to_string(), vec![0, 1])].into();
        let base = baseline(&s, &drained);
        assert_eq!(base.len(), 2);
        assert_eq!(pending(&s, &base), 2);
        commit(&mut s, 120, vec![0]);
        assert_eq!(pending(&s, &base), 1);
        commit(&mut s, 120, vec![1]);
        assert_eq!(pending(&s, &base), 0);
        assert_eq!(new_owners(&s, &drained), [(1, 2)].into());
        assert_eq!(drained_buckets(&s, None)["vc"].len(), BUCKETS as usize);
    }

    #[test]
    fn a_cycle_is_over_when_it_covered_nothing_or_the_node_is_gone() {
        let vcs = vec!["vc".to_string()];
        let mut r = NodeCycles {
            reachable: true,
            collecting: true,
            cycles: vec![CycleReport {
                vcenter: "vc".into(),
                entities: 3,
                ..Default::default()
            }],
        };
        assert!(!cycle_over(&r, &vcs));
        r.cycles[0].entities = 0;
        assert!(cycle_over(&r, &vcs));
        r.cycles[0].entities = 3;
        r.collecting = false;
        assert!(cycle_over(&r, &vcs));
    }
}
