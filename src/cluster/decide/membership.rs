//! Join and promotion: the leader's one membership change per tick.
//!
//! Rules, in this order (the first that applies is the change): a member that has left is
//! removed from the voters, or from the learners (never the leader itself: it leaves through
//! `vcollect leave`, which hands leadership over first); a registered member not in the
//! membership becomes a learner; a caught-up active learner (within [`CAUGHT_UP`] entries of
//! the leader's log, and known to have something) is promoted while there are fewer voters
//! than `max_voters`. Nothing changes while a membership is uncommitted, and a committed
//! joint configuration is finished ([`Change::FinishJoint`]) before any rule applies: the
//! controller checks both.

use std::collections::BTreeSet;

use super::LeaderView;
use crate::cluster::state::{ClusterState, NodeId, NodeState};

/// A learner within this many entries of the leader's log is caught up.
pub const CAUGHT_UP: u64 = 100;

/// One membership change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    RemoveVoter(NodeId),
    RemoveLearner(NodeId),
    /// Add a learner at this address.
    AddLearner(NodeId, String),
    Promote(NodeId),
    /// Flatten a committed joint configuration to these voters (its newest half). Not one of
    /// [`decide`]'s rules: the controller makes it before any of them when it finds one.
    FinishJoint(BTreeSet<NodeId>),
}

pub fn decide(state: &ClusterState, view: &LeaderView, max_voters: usize) -> Option<Change> {
    let nodes = state.members.nodes.values();
    for m in nodes.clone() {
        if m.state != NodeState::Left || m.id == view.me {
            continue;
        }
        if view.voters.contains(&m.id) {
            return Some(Change::RemoveVoter(m.id));
        }
        if view.learners.contains(&m.id) {
            return Some(Change::RemoveLearner(m.id));
        }
    }
    if let Some(m) = nodes.clone().find(|m| {
        m.state != NodeState::Left && !view.voters.contains(&m.id) && !view.learners.contains(&m.id)
    }) {
        return Some(Change::AddLearner(m.id, m.addr.clone()));
    }
    if view.voters.len() >= max_voters {
        return None;
    }
    view.learners
        .iter()
        .copied()
        .find(|id| {
            let active = state
                .members
                .nodes
                .get(id)
                .is_some_and(|n| n.state == NodeState::Active);
            let matched = view.matched(*id);
            active && matched > 0 && matched + CAUGHT_UP >= view.last_log_index
        })
        .map(Change::Promote)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixture::{state, view};
    use super::*;
    use NodeState::*;

    const FRESH: Duration = Duration::from_millis(100);

    #[test]
    fn left_members_go_first_then_new_ones_join_then_learners_are_promoted() {
        let s = state(&[(1, Active), (2, Left), (3, Active), (4, Active)], &[1, 2]);
        let mut v = view(1, &[1, 2, 3], &[1, 2], FRESH);
        assert_eq!(decide(&s, &v, 3), Some(Change::RemoveVoter(2)));
        v.voters.remove(&2);
        v.learners.insert(2);
        assert_eq!(decide(&s, &v, 3), Some(Change::RemoveLearner(2)));
        v.learners.remove(&2);
        assert_eq!(
            decide(&s, &v, 3),
            Some(Change::AddLearner(4, "h4:1".into()))
        );
        v.learners.insert(4);
        v.matched.insert(4, Some(500));
        assert_eq!(decide(&s, &v, 3), Some(Change::Promote(3)));
        // At max_voters (one voter left now) nobody is promoted.
        assert_eq!(decide(&s, &v, 1), None);
    }

    #[test]
    fn the_leader_is_never_removed_and_laggards_are_not_promoted() {
        let s = state(&[(1, Left), (2, Active), (3, Draining)], &[1]);
        let mut v = view(1, &[1, 2, 3], &[1], FRESH);
        v.matched.insert(2, Some(300));
        assert_eq!(decide(&s, &v, 3), None);
        v.matched.insert(2, Some(0));
        v.last_log_index = 50;
        assert_eq!(decide(&s, &v, 3), None, "nothing replicated yet");
        v.matched.insert(2, Some(1));
        assert_eq!(decide(&s, &v, 3), Some(Change::Promote(2)));
    }
}
