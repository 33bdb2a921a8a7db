//! Liveness: which members the leader marks down, and which back to active.
//!
//! A member silent for longer than `failure_timeout` (no acknowledgement of the leader's
//! heartbeats) is marked `down`; a `down` member is marked `active` again once it has
//! acknowledged the leader steadily for `w = min(failure_timeout / 2, 1 s)`: its
//! acknowledgements span at least `w`, and the latest is younger than `w`. One acknowledgement
//! is not enough (a node that answers once and dies, or flaps, stays down). Silence is measured from the last
//! acknowledgement; a member that has not acknowledged anything in this term is counted
//! silent from when this leadership first looked at it (or, for the previous leader, from when
//! this node last heard from it).
//!
//! Only an acknowledgement brings a member back: "no acknowledgement yet" is not "answers"
//! (before this rule, every new leader marked every down member active on its first look,
//! and for `failure_timeout` a dead voter counted as answering: the flaky quorum refusal of
//! `admin_cli`). Each change carries the state it was decided on, so it does not overwrite an
//! admin's drain or remove applied in between.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

use super::LeaderView;
use crate::cluster::state::precondition::Precondition;
use crate::cluster::state::{ClusterState, Command, NodeId, NodeState};

/// What one leadership remembers between ticks: since when each member without an
/// acknowledgement in this term has been silent.
#[derive(Clone, Debug, Default)]
pub struct Silence {
    since: BTreeMap<NodeId, Instant>,
    /// Per down member: when the acknowledgements of its current answering streak began.
    back_since: BTreeMap<NodeId, Instant>,
    /// The leader deciding (set on every [`Silence::decide`]).
    me_hint: NodeId,
}

/// One member's state change, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub id: NodeId,
    pub from: NodeState,
    pub to: NodeState,
    pub silent: Duration,
}

impl StateChange {
    /// The command, conditional on the state it was decided on.
    pub fn command(&self) -> Command {
        Command::SetNodeState {
            id: self.id,
            state: self.to,
            expect: vec![Precondition::StateIn {
                id: self.id,
                states: vec![self.from],
            }],
        }
    }
}

impl Silence {
    /// Counts `id` silent since `at` unless it acknowledges (the previous leader, whose
    /// silence began before this node was elected).
    pub fn silent_since(&mut self, id: NodeId, at: Instant) {
        self.since.insert(id, at);
    }

    /// The changes the leader should write now.
    pub fn decide(
        &mut self,
        state: &ClusterState,
        view: &LeaderView,
        now: Instant,
    ) -> Vec<StateChange> {
        self.me_hint = view.me;
        let ft = view.failure_timeout;
        let alive_window = (ft / 2).min(Duration::from_secs(1));
        let mut out = Vec::new();
        for m in state.members.nodes.values() {
            if m.state == NodeState::Left {
                continue;
            }
            let (silent, acked) = if m.id == view.me {
                (Duration::ZERO, true)
            } else {
                match view.ack_age.get(&m.id).copied().flatten() {
                    Some(age) => {
                        self.since.remove(&m.id);
                        (age, true)
                    }
                    None => {
                        let since = *self.since.entry(m.id).or_insert(now);
                        (now.saturating_duration_since(since), false)
                    }
                }
            };
            let to = match m.state {
                NodeState::Active if silent > ft => Some(NodeState::Down),
                NodeState::Down => self.steady(m.id, acked, silent, now, alive_window),
                _ => None,
            };
            if let Some(to) = to {
                out.push(StateChange {
                    id: m.id,
                    from: m.state,
                    to,
                    silent,
                });
            }
        }
        out
    }

    /// Whether down member `id` has answered steadily for `window` (see the module doc).
    fn steady(
        &mut self,
        id: NodeId,
        acked: bool,
        silent: Duration,
        now: Instant,
        window: Duration,
    ) -> Option<NodeState> {
        if id == self.me_hint {
            // The leader itself is up by definition (it is the one deciding).
            return Some(NodeState::Active);
        }
        let fresh = acked && silent < window;
        let Some(last_ack) = now.checked_sub(silent).filter(|_| fresh) else {
            self.back_since.remove(&id);
            return None;
        };
        let first = *self.back_since.entry(id).or_insert(last_ack);
        if last_ack.saturating_duration_since(first) >= window {
            self.back_since.remove(&id);
            Some(NodeState::Active)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{state, view};
    use super::*;
    use NodeState::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn silent_members_go_down_and_come_back_only_when_answering_steadily() {
        let s = state(&[(1, Active), (2, Active), (3, Down)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], ms(100));
        v.ack_age.insert(2, Some(ms(3_500)));
        v.ack_age.insert(3, Some(ms(200)));
        let mut sil = Silence::default();
        let t0 = Instant::now();
        let c = sil.decide(&s, &v, t0);
        assert_eq!(
            c.iter().map(|c| (c.id, c.to)).collect::<Vec<_>>(),
            vec![(2, Down)]
        );
        // The command is conditional on the state it was decided on.
        assert!(matches!(
            c[0].command(),
            Command::SetNodeState { ref expect, .. }
                if expect == &vec![Precondition::StateIn { id: 2, states: vec![Active] }]
        ));
        // Node 3 keeps answering: back after its acknowledgements span a second.
        v.ack_age.insert(2, Some(ms(4_000)));
        v.ack_age.insert(3, Some(ms(100)));
        assert!(sil.decide(&s, &v, t0 + ms(500)).iter().all(|c| c.id != 3));
        let c = sil.decide(&s, &v, t0 + ms(1_200));
        assert!(c.iter().any(|c| (c.id, c.to) == (3, Active)), "{c:?}");
    }

    #[test]
    fn a_node_that_answers_once_and_dies_stays_down() {
        // The admin_cli flake: a restarted node acknowledged one heartbeat, then stopped.
        let s = state(&[(1, Active), (2, Down), (3, Active)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], ms(50));
        let t0 = Instant::now();
        let mut sil = Silence::default();
        for step in 0..20u64 {
            // Its last acknowledgement was at t0 - 100 ms; it grows older every tick.
            v.ack_age.insert(2, Some(ms(100 + step * 250)));
            let c = sil.decide(&s, &v, t0 + ms(step * 250));
            assert!(c.iter().all(|c| c.id != 2), "step {step}: {c:?}");
        }
        // And the admin rules do not count it as answering.
        assert!(!v.answers(&s, 2));
    }

    #[test]
    fn a_new_leader_does_not_mark_down_members_active() {
        // Elected just now: nobody acknowledged yet.
        let s = state(&[(1, Active), (2, Down), (3, Active)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], ms(0));
        v.ack_age.insert(2, None);
        v.ack_age.insert(3, None);
        let mut sil = Silence::default();
        let t0 = Instant::now();
        assert!(sil.decide(&s, &v, t0).is_empty());
        // Still no acknowledgement a second later: node 2 stays down.
        assert!(sil.decide(&s, &v, t0 + ms(1_000)).is_empty());
        // Node 3 silent since the leadership began, past failure_timeout.
        let c = sil.decide(&s, &v, t0 + ms(4_000));
        assert_eq!(
            c.iter().map(|c| (c.id, c.to)).collect::<Vec<_>>(),
            vec![(3, Down)]
        );
    }

    #[test]
    fn no_flapping_around_the_thresholds() {
        let s = state(&[(1, Active), (2, Down), (3, Active)], &[1, 2, 3]);
        let mut v = view(1, &[1, 2, 3], &[1, 2, 3], ms(100));
        let mut sil = Silence::default();
        // A down member acknowledged 1.2 s ago: not back yet (window 1 s); an active one
        // silent for exactly failure_timeout: not down yet.
        v.ack_age.insert(2, Some(ms(1_200)));
        v.ack_age.insert(3, Some(ms(3_000)));
        assert!(sil.decide(&s, &v, Instant::now()).is_empty());
        // Draining members are never marked down or up by liveness.
        let s = state(&[(1, Active), (2, Draining)], &[1, 2]);
        v.ack_age.insert(2, Some(ms(60_000)));
        assert!(sil.decide(&s, &v, Instant::now()).is_empty());
    }

    #[test]
    fn the_previous_leader_is_silent_from_when_it_was_last_heard() {
        let s = state(&[(1, Active), (2, Active)], &[1, 2]);
        let mut v = view(1, &[1, 2], &[1, 2], ms(0));
        v.ack_age.insert(2, None);
        let now = Instant::now();
        let mut sil = Silence::default();
        sil.silent_since(2, now - ms(3_100));
        let c = sil.decide(&s, &v, now);
        assert_eq!(
            c.iter().map(|c| (c.id, c.to)).collect::<Vec<_>>(),
            vec![(2, Down)]
        );
    }
}
