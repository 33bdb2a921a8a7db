//! Rebalancing: for every configured vCenter, the bucket moves that balance its shard map over
//! the active members with as few moves as possible ([`crate::cluster::shard::plan`]).
//!
//! The moves go into the log as one `SetOwners` per vCenter; the state machine applies them
//! only if every new owner is still active, so a plan made on a state that changed since is
//! refused as a whole and made again on the next tick.

use std::collections::BTreeMap;

use crate::cluster::state::{ClusterState, Command, NodeId};

/// One vCenter's moves, with a summary for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moves {
    pub vcenter: String,
    pub moves: Vec<(u32, NodeId)>,
    /// Buckets leaving each previous owner ("none": never assigned).
    pub from: BTreeMap<String, u32>,
    /// Buckets each new owner receives.
    pub to: BTreeMap<NodeId, u32>,
}

impl Moves {
    pub fn command(&self) -> Command {
        Command::SetOwners {
            vcenter: self.vcenter.clone(),
            moves: self.moves.clone(),
        }
    }
}

/// The moves of every vCenter in `vcenters` that is not balanced (in the order given).
pub fn decide(state: &ClusterState, vcenters: &[String]) -> Vec<Moves> {
    vcenters
        .iter()
        .filter_map(|vc| {
            let moves = state.plan_vcenter(vc);
            if moves.is_empty() {
                return None;
            }
            let current = state.vcenters.get(vc);
            let mut to: BTreeMap<NodeId, u32> = BTreeMap::new();
            let mut from: BTreeMap<String, u32> = BTreeMap::new();
            for &(b, owner) in &moves {
                *to.entry(owner).or_default() += 1;
                let prev = current
                    .and_then(|v| v.owners.get(b as usize).copied().flatten())
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "none".into());
                *from.entry(prev).or_default() += 1;
            }
            Some(Moves {
                vcenter: vc.clone(),
                moves,
                from,
                to,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::fixture::state;
    use super::*;
    use crate::cluster::state::{NodeState, Response, Touched};
    use crate::contract::BUCKETS;

    fn apply_all(s: &mut ClusterState, vcs: &[String]) -> usize {
        let moves = decide(s, vcs);
        for m in &moves {
            let r = s.apply(&m.command(), &mut Touched::default());
            assert!(matches!(r, Response::OwnersSet { .. }), "{r:?}");
        }
        moves.iter().map(|m| m.moves.len()).sum()
    }

    #[test]
    fn a_new_vcenter_is_spread_and_a_down_node_hands_over_only_its_buckets() {
        use NodeState::*;
        let vcs = vec!["vc1".to_string()];
        let mut s = state(&[(1, Active), (2, Active)], &[1, 2]);
        let m = decide(&s, &vcs);
        assert_eq!(m[0].from, BTreeMap::from([("none".to_string(), BUCKETS)]));
        assert_eq!(m[0].to, BTreeMap::from([(1, 512), (2, 512)]));
        apply_all(&mut s, &vcs);
        assert!(decide(&s, &vcs).is_empty());
        s.members.nodes.get_mut(&2).unwrap().state = Down;
        let m = decide(&s, &vcs);
        assert_eq!(m[0].from, BTreeMap::from([("2".to_string(), 512)]));
    }

    proptest! {
        /// Any sequence of state changes: after the leader's moves every bucket has an active
        /// owner, loads differ by at most one, a second look moves nothing, and a node that
        /// stays active keeps every bucket it had up to its quota.
        #[test]
        fn planner_converges_in_one_step(changes in proptest::collection::vec((1u64..7, 0u8..3), 1..12)) {
            use NodeState::*;
            let vcs = vec!["a".to_string(), "b".to_string()];
            let mut s = state(&[(1, Active)], &[1]);
            apply_all(&mut s, &vcs);
            for (id, st) in changes {
                let st = [Active, Down, Draining][st as usize];
                if s.members.nodes.contains_key(&id) {
                    s.members.nodes.get_mut(&id).unwrap().state = st;
                } else {
                    let mut extra = state(&[(id, st)], &[]);
                    s.members.nodes.append(&mut extra.members.nodes);
                }
                let before = s.clone();
                let moved = apply_all(&mut s, &vcs);
                prop_assert!(decide(&s, &vcs).is_empty());
                let active = s.active_nodes();
                for vc in &vcs {
                    let owners = &s.vcenters[vc].owners;
                    if active.is_empty() {
                        continue;
                    }
                    prop_assert!(owners.iter().all(|o| o.is_some_and(|o| active.contains(&o))));
                    let loads: Vec<usize> = active.iter().map(|a| owners.iter().filter(|o| **o == Some(*a)).count()).collect();
                    prop_assert!(loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1);
                    // Minimal movement: nothing moves between two nodes that stay active and
                    // are both within their quota.
                    let old = &before.vcenters[vc].owners;
                    let quota = BUCKETS as usize / active.len() + 1;
                    for a in &active {
                        let kept = old.iter().zip(owners).filter(|(o, n)| **o == Some(*a) && **n == Some(*a)).count();
                        let had = old.iter().filter(|o| **o == Some(*a)).count();
                        prop_assert!(kept >= had.min(quota - 1));
                    }
                }
                prop_assert!(moved <= 2 * BUCKETS as usize);
            }
        }
    }
}
