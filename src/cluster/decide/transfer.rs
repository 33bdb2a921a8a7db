//! `vcollect transfer-leader [NODE]` and the leader's step-down on SIGTERM: who may lead next.
//!
//! Rule: a voter that answers the leader and whose log is within [`TRANSFER_LAG`] entries of
//! the leader's. Without a target, the best placed one: active before draining, the longest
//! log first, the lowest id last.

use super::{describe, resolve, unsafe_, LeaderView, Refusal};
use crate::cluster::state::{ClusterState, NodeId, NodeState};

/// A voter within this many entries of the leader's log may take over leadership.
pub const TRANSFER_LAG: u64 = 100;

/// Where leadership should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTo {
    /// The named node leads already.
    AlreadyLeads(String),
    /// Hand leadership to this voter.
    To(NodeId),
}

/// Validates the operator's target (`Some`) or picks the best successor (`None`).
pub fn decide(
    state: &ClusterState,
    view: &LeaderView,
    to: Option<&str>,
) -> Result<TransferTo, Refusal> {
    let Some(q) = to else {
        return successor(state, view).map(TransferTo::To).ok_or_else(|| {
            unsafe_("no other voter answers and is caught up: leadership stays".into())
        });
    };
    let mem = resolve(state, q)?;
    if mem.id == view.me {
        return Ok(TransferTo::AlreadyLeads(format!(
            "{} already leads",
            describe(mem)
        )));
    }
    if mem.state == NodeState::Left {
        return Err(unsafe_(format!("{} has left the cluster", describe(mem))));
    }
    if !view.voters.contains(&mem.id) {
        return Err(unsafe_(format!(
            "{} is not a voter: only voters can lead",
            describe(mem)
        )));
    }
    if !view.answers(state, mem.id) {
        return Err(unsafe_(format!(
            "{} does not answer the leader",
            describe(mem)
        )));
    }
    let matched = view.matched(mem.id);
    if matched + TRANSFER_LAG < view.last_log_index {
        return Err(unsafe_(format!(
            "{} lags {} entries behind the leader; try again when it has caught up",
            describe(mem),
            view.last_log_index - matched
        )));
    }
    Ok(TransferTo::To(mem.id))
}

/// The voter best placed to lead after this one: it acknowledged within `failure_timeout`,
/// is caught up, is neither down nor left; active before draining, the longest log first.
pub fn successor(state: &ClusterState, view: &LeaderView) -> Option<NodeId> {
    let mut c: Vec<(bool, std::cmp::Reverse<u64>, NodeId)> = view
        .voters
        .iter()
        .copied()
        .filter(|&id| id != view.me)
        .filter(|id| {
            view.ack_age
                .get(id)
                .copied()
                .flatten()
                .is_some_and(|age| age < view.failure_timeout)
        })
        .filter_map(|id| {
            let st = state.members.nodes.get(&id).map(|n| n.state)?;
            if matches!(st, NodeState::Left | NodeState::Down) {
                return None;
            }
            let matched = view.matched.get(&id).copied().flatten()?;
            (matched + TRANSFER_LAG >= view.last_log_index).then_some((
                st != NodeState::Active,
                std::cmp::Reverse(matched),
                id,
            ))
        })
        .collect();
    c.sort();
    c.first().map(|t| t.2)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixture::{state, view};
    use super::*;
    use NodeState::*;

    const FRESH: Duration = Duration::from_millis(100);

    #[test]
    fn successor_prefers_active_then_longest_log() {
        let s = state(
            &[(1, Active), (2, Draining), (3, Active), (4, Active)],
            &[1, 2, 3, 4],
        );
        let mut v = view(1, &[1, 2, 3, 4], &[1, 2, 3, 4], FRESH);
        v.matched.insert(2, Some(500));
        v.matched.insert(3, Some(450));
        v.matched.insert(4, Some(480));
        assert_eq!(successor(&s, &v), Some(4));
        // A silent one is skipped, a lagging one too.
        v.ack_age.insert(4, Some(Duration::from_secs(9)));
        assert_eq!(successor(&s, &v), Some(3));
        v.matched.insert(3, Some(10));
        assert_eq!(successor(&s, &v), Some(2));
        v.ack_age.insert(2, None);
        assert_eq!(successor(&s, &v), None);
        assert!(decide(&s, &v, None)
            .unwrap_err()
            .to_string()
            .contains("leadership stays"));
    }

    #[test]
    fn a_named_target_must_be_a_caught_up_answering_voter() {
        let s = state(&[(1, Active), (2, Active), (3, Active)], &[1, 2]);
        let mut v = view(1, &[1, 2, 3], &[1, 2], FRESH);
        assert_eq!(decide(&s, &v, Some("n2")), Ok(TransferTo::To(2)));
        assert!(matches!(
            decide(&s, &v, Some("n1")),
            Ok(TransferTo::AlreadyLeads(_))
        ));
        assert!(decide(&s, &v, Some("n3"))
            .unwrap_err()
            .to_string()
            .contains("not a voter"));
        v.matched.insert(2, Some(300));
        let r = decide(&s, &v, Some("n2")).unwrap_err().to_string();
        assert!(r.contains("lags 200 entries"), "{r}");
        v.ack_age.insert(2, Some(Duration::from_secs(5)));
        assert!(decide(&s, &v, Some("n2"))
            .unwrap_err()
            .to_string()
            .contains("does not answer"));
    }
}
