//! `vcollect undrain NODE`: a draining node becomes active again and gets buckets back.
//!
//! Rule: only a draining node that answers the leader (a down node becomes active by itself
//! when it answers again). The state machine re-checks at apply that it is still draining.

use super::{describe, resolve, unsafe_, Decision, LeaderView, Refusal};
use crate::cluster::state::precondition::Precondition;
use crate::cluster::state::{ClusterState, Command, NodeState};

pub fn decide(state: &ClusterState, view: &LeaderView, node: &str) -> Result<Decision, Refusal> {
    let mem = resolve(state, node)?;
    match mem.state {
        NodeState::Left => {
            return Err(unsafe_(format!("{} has left the cluster", describe(mem))));
        }
        NodeState::Active => {
            return Ok(Decision::nothing(
                mem.id,
                format!("{} is already active", describe(mem)),
            ));
        }
        NodeState::Down => {
            return Err(unsafe_(format!(
                "{} is down: it becomes active by itself when it answers again",
                describe(mem)
            )));
        }
        NodeState::Draining => {}
    }
    if !view.answers(state, mem.id) {
        return Err(unsafe_(format!(
            "{} does not answer the leader: start it first, then undrain it",
            describe(mem)
        )));
    }
    Ok(Decision {
        node: mem.id,
        command: Some(Command::SetNodeState {
            id: mem.id,
            state: NodeState::Active,
            expect: vec![Precondition::StateIn {
                id: mem.id,
                states: vec![NodeState::Draining],
            }],
        }),
        message: format!(
            "{} is active again: the leader gives it buckets",
            describe(mem)
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixture::{state, view};
    use super::*;
    use NodeState::*;

    #[test]
    fn only_a_draining_node_that_answers() {
        let s = state(&[(1, Active), (2, Draining), (3, Down)], &[1, 2, 3]);
        let v = view(1, &[1, 2, 3], &[1, 2, 3], Duration::from_millis(100));
        let d = decide(&s, &v, "n2").unwrap();
        assert!(d.message.contains("active again") && d.command.is_some());
        assert!(decide(&s, &v, "n3")
            .unwrap_err()
            .to_string()
            .contains("is down"));
        assert!(decide(&s, &v, "n1").unwrap().command.is_none());
        let silent = view(1, &[1, 2, 3], &[1, 2, 3], Duration::from_secs(10));
        assert!(decide(&s, &silent, "n2")
            .unwrap_err()
            .to_string()
            .contains("does not answer"));
    }
}
