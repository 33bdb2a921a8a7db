//! Conditions an admin command carries into the Raft log, re-checked by the state machine when
//! the entry is applied.
//!
//! The leader decides on the replica it has just confirmed and on its own replication metrics,
//! but between that check and the commit the state may change (the controller marks a node
//! down or up, another admin drains the last other node). A command that carries its
//! precondition is applied only if the precondition still holds on the state it is applied to,
//! and every replica reaches the same verdict (it depends on the replicated state alone), so a
//! refused operation cannot slip through between check and commit.
//!
//! Compatibility: the conditions travel in an optional field (`expect`) of the existing
//! commands. Entries written before it existed apply as before (no condition); a replica of
//! the previous release ignores the field, so during a rolling upgrade an old replica would
//! apply a command that the new ones refuse only if the leader's own check passed and the
//! state changed in between (the race this closes once every node runs this release).

use serde::{Deserialize, Serialize};

use super::{ClusterState, NodeId, NodeState};

/// One condition on the replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "check")]
pub enum Precondition {
    /// The member exists and is in one of `states`.
    StateIn { id: NodeId, states: Vec<NodeState> },
    /// A member other than `id` is active: someone keeps collecting.
    OtherActive { id: NodeId },
    /// Without `id`, a majority of the remaining voters is neither down nor left (the leader
    /// marks a silent member down, so "up" is the replicated view of "answering"). `leader`,
    /// the node that proposed it, counts as up whatever its recorded state (it is deciding).
    QuorumWithout {
        id: NodeId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<NodeId>,
    },
    /// The members that have not left are exactly `ids` (ascending), and none is down: the
    /// leader asked each of them before deciding (a vCenter drop), and nobody it did not ask
    /// has registered since.
    LiveMembersAre { ids: Vec<NodeId> },
}

/// Why a precondition does not hold (the refusal's reason, in the operator's words).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Unmet {
    #[error("node {id} is {now} now, not {expected}")]
    State {
        id: NodeId,
        now: String,
        expected: String,
    },
    #[error("node {0} is the last active node: no other member would collect")]
    LastActive(NodeId),
    #[error(
        "removing node {id} would drop below quorum: {up} of the {remaining} remaining voters \
         are up, {need} needed"
    )]
    Quorum {
        id: NodeId,
        up: usize,
        remaining: usize,
        need: usize,
    },
    #[error("the members changed since the decision (now {now:?}, decided with {expected:?})")]
    MembersChanged {
        now: Vec<NodeId>,
        expected: Vec<NodeId>,
    },
    #[error("node {0} is down: it could not be asked")]
    MemberDown(NodeId),
}

/// Votes needed for a majority of `voters`.
pub fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

impl Precondition {
    /// Checks the condition against `state` (deterministic: the same on every replica).
    pub fn check(&self, state: &ClusterState) -> Result<(), Unmet> {
        match self {
            Precondition::StateIn { id, states } => {
                let now = state.members.nodes.get(id).map(|m| m.state);
                match now {
                    Some(s) if states.contains(&s) => Ok(()),
                    _ => Err(Unmet::State {
                        id: *id,
                        now: now.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
                        expected: states
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(" or "),
                    }),
                }
            }
            Precondition::OtherActive { id } => state
                .active_nodes()
                .iter()
                .any(|&n| n != *id)
                .then_some(())
                .ok_or(Unmet::LastActive(*id)),
            Precondition::LiveMembersAre { ids } => {
                let live = state
                    .members
                    .nodes
                    .values()
                    .filter(|m| m.state != NodeState::Left);
                if let Some(m) = live.clone().find(|m| m.state == NodeState::Down) {
                    return Err(Unmet::MemberDown(m.id));
                }
                let now: Vec<NodeId> = live.map(|m| m.id).collect();
                if now == *ids {
                    Ok(())
                } else {
                    Err(Unmet::MembersChanged {
                        now,
                        expected: ids.clone(),
                    })
                }
            }
            Precondition::QuorumWithout { id, leader } => {
                let voters = &state.members.raft_voters;
                if !voters.contains(id) {
                    return Ok(());
                }
                let remaining: Vec<NodeId> = voters.iter().copied().filter(|v| v != id).collect();
                let up = remaining
                    .iter()
                    .filter(|v| {
                        Some(**v) == *leader
                            || state.members.nodes.get(v).is_some_and(|m| {
                                !matches!(m.state, NodeState::Down | NodeState::Left)
                            })
                    })
                    .count();
                let need = majority(remaining.len());
                if up >= need {
                    Ok(())
                } else {
                    Err(Unmet::Quorum {
                        id: *id,
                        up,
                        remaining: remaining.len(),
                        need,
                    })
                }
            }
        }
    }
}

/// Checks every condition, the first unmet one wins.
pub fn check_all(expect: &[Precondition], state: &ClusterState) -> Result<(), Unmet> {
    expect.iter().try_for_each(|p| p.check(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    // The decisions' fixture: the same small cluster the rules are tested on.
    use crate::cluster::decide::fixture::state;

    #[test]
    fn quorum_without_counts_the_remaining_voters_that_are_up() {
        use NodeState::*;
        // 3 voters, one down: removing a live one leaves 1 of 2 up, 2 needed.
        let s = state(&[(1, Active), (2, Down), (3, Draining)], &[1, 2, 3]);
        let q = Precondition::QuorumWithout {
            id: 3,
            leader: None,
        };
        assert_eq!(
            q.check(&s),
            Err(Unmet::Quorum {
                id: 3,
                up: 1,
                remaining: 2,
                need: 2
            })
        );
        assert!(q
            .check(&s)
            .unwrap_err()
            .to_string()
            .contains("would drop below quorum"));
        // Removing the down one leaves 2 of 2 up.
        assert_eq!(
            Precondition::QuorumWithout {
                id: 2,
                leader: None
            }
            .check(&s),
            Ok(())
        );
        // 3 voters all up: removing one leaves 2 of 2.
        let s = state(&[(1, Active), (2, Active), (3, Draining)], &[1, 2, 3]);
        assert_eq!(q.check(&s), Ok(()));
        // A learner is not part of the quorum.
        let s = state(&[(1, Active), (2, Down), (3, Draining)], &[1, 2]);
        assert_eq!(q.check(&s), Ok(()));
        // 5 voters, 2 down: removing a live one leaves 2 of 4 up, 3 needed.
        let s = state(
            &[
                (1, Active),
                (2, Down),
                (3, Draining),
                (4, Down),
                (5, Active),
            ],
            &[1, 2, 3, 4, 5],
        );
        assert!(matches!(
            q.check(&s),
            Err(Unmet::Quorum { need: 3, up: 2, .. })
        ));
    }

    #[test]
    fn majority_arithmetic() {
        assert_eq!(
            (1..=6).map(majority).collect::<Vec<_>>(),
            vec![1, 2, 2, 3, 3, 4]
        );
    }

    #[test]
    fn other_active_and_state_in() {
        use NodeState::*;
        let s = state(&[(1, Active), (2, Draining)], &[1, 2]);
        assert_eq!(
            Precondition::OtherActive { id: 1 }.check(&s),
            Err(Unmet::LastActive(1))
        );
        assert_eq!(Precondition::OtherActive { id: 2 }.check(&s), Ok(()));
        let p = Precondition::StateIn {
            id: 2,
            states: vec![Active, Down],
        };
        assert_eq!(
            p.check(&s).unwrap_err().to_string(),
            "node 2 is draining now, not active or down"
        );
        let p = Precondition::StateIn {
            id: 9,
            states: vec![Active],
        };
        assert!(p.check(&s).unwrap_err().to_string().contains("unknown"));
    }

    #[test]
    fn live_members_are_refuses_a_new_or_down_member() {
        use NodeState::*;
        let p = Precondition::LiveMembersAre { ids: vec![1, 2] };
        assert_eq!(
            p.check(&state(&[(1, Active), (2, Draining)], &[1, 2])),
            Ok(())
        );
        // A left member does not count.
        assert_eq!(
            p.check(&state(&[(1, Active), (2, Active), (3, Left)], &[1, 2])),
            Ok(())
        );
        // One registered since: it was not asked.
        assert!(matches!(
            p.check(&state(&[(1, Active), (2, Active), (3, Active)], &[1, 2])),
            Err(Unmet::MembersChanged { .. })
        ));
        assert_eq!(
            p.check(&state(&[(1, Active), (2, Down)], &[1, 2])),
            Err(Unmet::MemberDown(2))
        );
    }

    #[test]
    fn a_drop_is_refused_at_apply_when_the_members_changed() {
        use crate::cluster::state::{Response, Touched, VcenterShards};
        use crate::cluster::Command;
        use NodeState::*;
        let mut s = state(&[(1, Active), (2, Active), (3, Active)], &[1, 2, 3]);
        s.vcenters.insert("old".into(), VcenterShards::default());
        let drop = Command::DropVcenter {
            vcenter: "old".into(),
            expect: vec![Precondition::LiveMembersAre { ids: vec![1, 2] }],
        };
        let r = s.apply(&drop, &mut Touched::default());
        assert!(matches!(r, Response::Rejected(_)), "{r:?}");
        assert!(s.vcenters.contains_key("old"));
        let drop = Command::DropVcenter {
            vcenter: "old".into(),
            expect: vec![Precondition::LiveMembersAre { ids: vec![1, 2, 3] }],
        };
        assert_eq!(s.apply(&drop, &mut Touched::default()), Response::Done);
        assert!(!s.vcenters.contains_key("old"));
        // Retried: already gone, done.
        assert_eq!(s.apply(&drop, &mut Touched::default()), Response::Done);
        // An entry written before conditions existed still parses and applies.
        let old: Command = serde_json::from_str(r#"{"drop_vcenter":{"vcenter":"x"}}"#).unwrap();
        assert!(matches!(old, Command::DropVcenter { ref expect, .. } if expect.is_empty()));
    }

    #[test]
    fn old_entries_without_conditions_still_parse() {
        let old = r#"{"set_node_state":{"id":2,"state":"draining"}}"#;
        let c: crate::cluster::Command = serde_json::from_str(old).unwrap();
        assert!(matches!(
            c,
            crate::cluster::Command::SetNodeState { ref expect, .. } if expect.is_empty()
        ));
        let old = r#"{"remove_node":{"id":2}}"#;
        let c: crate::cluster::Command = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), old);
    }
}
