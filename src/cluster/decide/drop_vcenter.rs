//! Forgetting a vCenter: when no member's configuration names a vCenter of the shard map any
//! more, the leader proposes [`Command::DropVcenter`] so that its owners and watermarks do not
//! stay in the replicated state for ever.
//!
//! The rule errs on the side of keeping: a vCenter is dropped only when **every** live
//! (not left) member has told the leader which vCenters it is configured with and none of
//! them names it. A member that is down, did not answer, or runs a release that does not
//! report its vCenters (0.1) counts as "still has every vCenter" and blocks the drop: losing
//! the watermarks of a vCenter still collected would make its collectors start over from what
//! vCenter still holds.
//!
//! The command carries [`Precondition::LiveMembersAre`]: a member that registers (or is marked
//! down) between the decision and the commit has not been asked, so the state machine refuses
//! the drop and the leader decides again.

use std::collections::{BTreeMap, BTreeSet};

use crate::cluster::state::precondition::Precondition;
use crate::cluster::state::{ClusterState, Command, NodeId, NodeState};

/// What a member said about its configuration: the vCenter names, or `None` when it did not
/// say (unreachable, or a release that does not report them).
pub type Configured = BTreeMap<NodeId, Option<BTreeSet<String>>>;

/// One vCenter to forget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drop {
    pub vcenter: String,
    /// The live members that were asked (the precondition).
    pub members: Vec<NodeId>,
}

impl Drop {
    pub fn command(&self) -> Command {
        Command::DropVcenter {
            vcenter: self.vcenter.clone(),
            expect: vec![Precondition::LiveMembersAre {
                ids: self.members.clone(),
            }],
        }
    }
}

/// The vCenters of the shard map that `own` (the leader's configuration) does not name: the
/// only ones worth asking the members about (the leader's own configuration blocks the rest).
pub fn candidates(state: &ClusterState, own: &[String]) -> Vec<String> {
    state
        .vcenters
        .keys()
        .filter(|vc| !own.contains(vc))
        .cloned()
        .collect()
}

/// The vCenters to drop, given what every member reported (`configured`, the leader's own
/// entry included).
pub fn decide(state: &ClusterState, configured: &Configured) -> Vec<Drop> {
    let live: Vec<_> = state
        .members
        .nodes
        .values()
        .filter(|m| m.state != NodeState::Left)
        .collect();
    if live.is_empty() || live.iter().any(|m| m.state == NodeState::Down) {
        return Vec::new();
    }
    let mut reported = Vec::with_capacity(live.len());
    for m in &live {
        match configured.get(&m.id) {
            Some(Some(names)) => reported.push(names),
            _ => return Vec::new(),
        }
    }
    let members: Vec<NodeId> = live.iter().map(|m| m.id).collect();
    state
        .vcenters
        .keys()
        .filter(|vc| reported.iter().all(|names| !names.contains(*vc)))
        .map(|vc| Drop {
            vcenter: vc.clone(),
            members: members.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::decide::fixture::state;
    use crate::cluster::state::VcenterShards;
    use NodeState::*;

    fn with_vcenters(mut s: ClusterState, names: &[&str]) -> ClusterState {
        for n in names {
            s.vcenters.insert(n.to_string(), VcenterShards::default());
        }
        s
    }

    fn has(names: &[&str]) -> Option<BTreeSet<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    fn dropped(s: &ClusterState, c: &Configured) -> Vec<String> {
        decide(s, c).into_iter().map(|d| d.vcenter).collect()
    }

    #[test]
    fn drops_only_what_every_live_member_reported_without() {
        let s = with_vcenters(
            state(&[(1, Active), (2, Active), (3, Draining)], &[1, 2, 3]),
            &["a", "b", "c"],
        );
        let c = Configured::from([(1, has(&["a"])), (2, has(&["a", "b"])), (3, has(&["a"]))]);
        assert_eq!(dropped(&s, &c), ["c"]);
        let d = &decide(&s, &c)[0];
        assert_eq!(d.members, [1, 2, 3]);
        assert_eq!(
            d.command(),
            Command::DropVcenter {
                vcenter: "c".into(),
                expect: vec![Precondition::LiveMembersAre { ids: vec![1, 2, 3] }],
            }
        );
        // Everyone still has everything: nothing.
        let c = Configured::from([
            (1, has(&["a", "b", "c"])),
            (2, has(&["a", "b", "c"])),
            (3, has(&["a", "b", "c"])),
        ]);
        assert!(decide(&s, &c).is_empty());
    }

    #[test]
    fn a_member_that_did_not_report_blocks_every_drop() {
        let s = with_vcenters(state(&[(1, Active), (2, Active)], &[1, 2]), &["a", "b"]);
        // A 0.1 node (or one that did not answer): unknown.
        let c = Configured::from([(1, has(&["a"])), (2, None)]);
        assert!(decide(&s, &c).is_empty());
        // Not asked at all.
        let c = Configured::from([(1, has(&["a"]))]);
        assert!(decide(&s, &c).is_empty());
    }

    #[test]
    fn a_down_member_blocks_even_if_it_answered() {
        let s = with_vcenters(state(&[(1, Active), (2, Down)], &[1, 2]), &["a", "b"]);
        let c = Configured::from([(1, has(&["a"])), (2, has(&["a"]))]);
        assert!(decide(&s, &c).is_empty());
    }

    #[test]
    fn left_members_do_not_count() {
        let s = with_vcenters(state(&[(1, Active), (2, Left)], &[1]), &["a", "b"]);
        let c = Configured::from([(1, has(&["a"]))]);
        let d = decide(&s, &c);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].vcenter.as_str(), d[0].members.clone()),
            ("b", vec![1])
        );
    }

    #[test]
    fn no_members_no_drop_and_candidates_skip_the_leaders_own() {
        let s = with_vcenters(ClusterState::default(), &["a"]);
        assert!(decide(&s, &Configured::new()).is_empty());
        let s = with_vcenters(state(&[(1, Active)], &[1]), &["a", "b", "c"]);
        assert_eq!(candidates(&s, &["a".into(), "x".into()]), ["b", "c"]);
    }
}
