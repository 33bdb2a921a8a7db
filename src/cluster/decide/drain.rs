//! `vcollect drain NODE`: the node keeps its membership, the controller moves its buckets away.
//!
//! Rule: never drain the last active node (every bucket would be left without a collector).
//! The state machine re-checks at apply that the node is still active or down and that
//! another member is still active.

use super::{describe, other_active, resolve, unsafe_, Decision, Refusal};
use crate::cluster::state::precondition::Precondition;
use crate::cluster::state::{ClusterState, Command, NodeState};

pub fn decide(state: &ClusterState, node: &str) -> Result<Decision, Refusal> {
    let mem = resolve(state, node)?;
    match mem.state {
        NodeState::Left => {
            return Err(unsafe_(format!("{} has left the cluster", describe(mem))));
        }
        NodeState::Draining => {
            return Ok(Decision::nothing(
                mem.id,
                format!("{} is already draining", describe(mem)),
            ));
        }
        NodeState::Active | NodeState::Down => {}
    }
    let others = other_active(state, mem.id);
    if others.is_empty() {
        return Err(unsafe_(format!(
            "{} is the last active node: draining it would leave every bucket without a \
             collector",
            describe(mem)
        )));
    }
    let n: usize = state.owned_by(mem.id).values().map(Vec::len).sum();
    Ok(Decision {
        node: mem.id,
        command: Some(Command::SetNodeState {
            id: mem.id,
            state: NodeState::Draining,
            expect: vec![
                Precondition::StateIn {
                    id: mem.id,
                    states: vec![NodeState::Active, NodeState::Down],
                },
                Precondition::OtherActive { id: mem.id },
            ],
        }),
        message: format!(
            "{} is draining: its {n} buckets move to the {} other active node(s)",
            describe(mem),
            others.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::state;
    use super::*;
    use crate::cluster::state::Touched;
    use NodeState::*;

    #[test]
    fn the_last_active_node_is_never_drained() {
        let s = state(&[(1, Active), (2, Draining), (3, Down)], &[1, 2, 3]);
        let r = decide(&s, "n1").unwrap_err();
        assert!(r.to_string().contains("last active node"), "{r}");
        // A down node may be drained while another is active.
        assert!(decide(&s, "3").unwrap().command.is_some());
    }

    #[test]
    fn draining_twice_is_a_no_op_and_left_is_refused() {
        let s = state(&[(1, Active), (2, Draining), (3, Left)], &[1, 2]);
        let d = decide(&s, "n2").unwrap();
        assert!(d.command.is_none() && d.message.contains("already draining"));
        assert!(decide(&s, "n3")
            .unwrap_err()
            .to_string()
            .contains("has left"));
        assert!(matches!(decide(&s, "zz"), Err(Refusal::UnknownNode(_))));
    }

    #[test]
    fn two_concurrent_drains_cannot_both_apply() {
        // Both decided on the same state (each sees another active node) ...
        let mut s = state(&[(1, Active), (2, Active)], &[1, 2]);
        let a = decide(&s, "n1").unwrap().command.unwrap();
        let b = decide(&s, "n2").unwrap().command.unwrap();
        // ... the second to apply is refused by the state machine.
        let mut t = Touched::default();
        assert_eq!(s.apply(&a, &mut t), crate::cluster::Response::Done);
        let r = s.apply(&b, &mut t);
        assert!(
            matches!(r, crate::cluster::Response::Rejected(ref e) if e.to_string().contains("last active node")),
            "{r:?}"
        );
        assert_eq!(s.active_nodes(), vec![2]);
    }
}
