//! `vcollect remove NODE [--force]`: marks a member `left`; the controller then drops it from
//! the Raft membership and moves its buckets.
//!
//! Rules, in this order (the first that applies answers): never the last voter, never the
//! leader itself; unless `--force`: never below quorum (a majority of the remaining voters
//! must answer), never an active node (drain it first, or wait until it is marked down), never
//! the last active node. Without `--force` the state machine re-checks at apply that the
//! remaining voters keep a majority that is not down, that the node is draining or down, and
//! that another member is active.

use super::{describe, other_active, resolve, unsafe_, Decision, LeaderView, Refusal};
use crate::cluster::state::precondition::{majority, Precondition};
use crate::cluster::state::{ClusterState, Command, NodeState};

/// A member that has left is still a voter: the controller is taking it out of the membership
/// (one change at a time). Deciding a remove now would count it among the remaining voters, and
/// marking another voter `left` first could let the controller drop a live voter before the
/// dead one; so the leader waits for this to clear (briefly) before deciding.
pub fn settling(state: &ClusterState, view: &LeaderView) -> bool {
    state
        .members
        .nodes
        .values()
        .any(|m| m.state == NodeState::Left && m.id != view.me && view.voters.contains(&m.id))
}

pub fn decide(
    state: &ClusterState,
    view: &LeaderView,
    node: &str,
    force: bool,
) -> Result<Decision, Refusal> {
    let mem = resolve(state, node)?;
    if mem.state == NodeState::Left {
        return Ok(Decision::nothing(
            mem.id,
            format!("{} has already left", describe(mem)),
        ));
    }
    let voter = view.voters.contains(&mem.id);
    if voter && view.voters.len() == 1 {
        return Err(unsafe_(format!(
            "{} is the last voter: removing it would end the cluster",
            describe(mem)
        )));
    }
    if mem.id == view.me {
        return Err(unsafe_(format!(
            "{} is the leader: run `vcollect transfer-leader` first, or `vcollect leave` on it",
            describe(mem)
        )));
    }
    if voter && !force {
        let after: Vec<_> = view.voters.iter().filter(|&&v| v != mem.id).collect();
        let answering = after.iter().filter(|&&&v| view.answers(state, v)).count();
        let need = majority(after.len());
        if answering < need {
            return Err(unsafe_(format!(
                "removing {} would drop below quorum: {answering} of the {} remaining voters \
                 answer, {need} needed (--force removes it anyway)",
                describe(mem),
                after.len()
            )));
        }
    }
    if mem.state == NodeState::Active && !force {
        return Err(unsafe_(format!(
            "{} is active{}: drain it first (`vcollect drain {}`) or run `vcollect leave` on \
             it; a dead node is marked down after failure_timeout and can be removed then \
             (--force removes it anyway)",
            describe(mem),
            if view.answers(state, mem.id) {
                " and answers"
            } else {
                ""
            },
            mem.name
        )));
    }
    if other_active(state, mem.id).is_empty() && !force {
        return Err(unsafe_(format!(
            "{} is the last active node: removing it would leave every bucket without a \
             collector (--force removes it anyway)",
            describe(mem)
        )));
    }
    let expect = if force {
        Vec::new()
    } else {
        vec![
            Precondition::QuorumWithout {
                id: mem.id,
                leader: Some(view.me),
            },
            Precondition::StateIn {
                id: mem.id,
                states: vec![NodeState::Draining, NodeState::Down],
            },
            Precondition::OtherActive { id: mem.id },
        ]
    };
    Ok(Decision {
        node: mem.id,
        command: Some(Command::RemoveNode { id: mem.id, expect }),
        message: format!(
            "{} removed: its buckets move to the active nodes, and the leader drops it from the \
             Raft membership",
            describe(mem)
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixture::{state, view};
    use super::*;
    use crate::cluster::state::{Response, Touched};
    use NodeState::*;

    const FRESH: Duration = Duration::from_millis(100);

    #[test]
    fn quorum_arithmetic_counts_answering_remaining_voters() {
        // 3 voters; node 2 stopped (silent); removing draining node 3 leaves 1 of 2.
        let s = state(&[(1, Active), (2, Down), (3, Draining)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], FRESH);
        v.ack_age.insert(2, Some(Duration::from_secs(10)));
        let r = decide(&s, &v, "n3", false).unwrap_err().to_string();
        assert!(
            r.contains("would drop below quorum: 1 of the 2 remaining voters answer, 2 needed"),
            "{r}"
        );
        // --force removes it anyway (without conditions).
        let d = decide(&s, &v, "n3", true).unwrap();
        assert!(
            matches!(d.command, Some(Command::RemoveNode { ref expect, .. }) if expect.is_empty())
        );
        // The dead one can go: 2 of 2 remaining answer.
        assert!(decide(&s, &v, "n2", false).unwrap().command.is_some());
    }

    #[test]
    fn a_new_leader_without_acks_trusts_the_replicated_verdict() {
        // Leader elected just now: no acknowledgement from anyone in this term.
        let s = state(&[(1, Active), (2, Down), (3, Draining)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], FRESH);
        v.ack_age.insert(2, None);
        v.ack_age.insert(3, None);
        let r = decide(&s, &v, "n3", false).unwrap_err().to_string();
        assert!(r.contains("would drop below quorum"), "{r}");
    }

    #[test]
    fn a_down_voter_that_acknowledged_a_moment_ago_does_not_count() {
        // Marked down, then it answered one heartbeat before dying (the admin_cli flake).
        let s = state(&[(1, Active), (2, Down), (3, Draining)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], FRESH);
        v.ack_age.insert(2, Some(Duration::from_millis(700)));
        let r = decide(&s, &v, "n3", false).unwrap_err().to_string();
        assert!(r.contains("would drop below quorum"), "{r}");
    }

    #[test]
    fn a_left_voter_still_in_the_membership_means_wait() {
        let s = state(&[(1, Active), (2, Left), (3, Draining)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], FRESH);
        assert!(settling(&s, &v));
        v.voters.remove(&2);
        assert!(!settling(&s, &v));
        assert!(decide(&s, &v, "n3", false).unwrap().command.is_some());
    }

    #[test]
    fn leader_last_voter_active_and_last_active_node() {
        let s = state(&[(1, Active), (2, Active)], &[1, 2]);
        let v = view(1, &[1, 2], &[1, 2], FRESH);
        assert!(decide(&s, &v, "n1", false)
            .unwrap_err()
            .to_string()
            .contains("is the leader"));
        let r = decide(&s, &v, "n2", false).unwrap_err().to_string();
        assert!(r.contains("is active and answers: drain it first"), "{r}");
        let s = state(&[(1, Active)], &[1]);
        let v = view(1, &[1], &[1], FRESH);
        assert!(decide(&s, &v, "n1", false)
            .unwrap_err()
            .to_string()
            .contains("last voter"));
        // A learner that is draining while the leader is draining too: nobody would collect.
        let s = state(&[(1, Draining), (2, Draining)], &[1]);
        let v = view(1, &[1, 2], &[1], FRESH);
        let r = decide(&s, &v, "n2", false).unwrap_err().to_string();
        assert!(r.contains("last active node"), "{r}");
        // Left already: nothing to do.
        let s = state(&[(1, Active), (2, Left)], &[1]);
        assert!(decide(&s, &v, "n2", false).unwrap().command.is_none());
    }

    #[test]
    fn a_node_marked_up_again_after_the_check_is_still_protected_at_apply() {
        // The leader decided while node 2 answered ...
        let mut s = state(&[(1, Active), (2, Active), (3, Draining)], &[1, 2, 3]);
        let v = view(1, &[1, 2, 3], &[1, 2, 3], FRESH);
        let cmd = decide(&s, &v, "n3", false).unwrap().command.unwrap();
        // ... then the controller marked it down before the remove was applied.
        let mut t = Touched::default();
        let down = Command::SetNodeState {
            id: 2,
            state: Down,
            expect: vec![],
        };
        assert_eq!(s.apply(&down, &mut t), Response::Done);
        let r = s.apply(&cmd, &mut t);
        assert!(
            matches!(r, Response::Rejected(ref e) if e.to_string().contains("would drop below quorum")),
            "{r:?}"
        );
        assert_eq!(s.members.nodes[&3].state, Draining);
    }
}
