//! The leader's decisions, as pure functions of (replicated state, a metrics snapshot, now).
//!
//! Each rule lives in its own file and returns what to write (commands, with the conditions
//! the state machine re-checks at apply: [`super::state::precondition`]) or a [`Refusal`] that names
//! its reason. Nothing here does I/O or reads a clock: the callers (`admin`, `controller`)
//! snapshot the state and the metrics, decide, and write. That makes every rule testable in
//! milliseconds.
//!
//! * [`liveness`]: which members to mark down or active;
//! * [`drain`], [`undrain`], [`remove`]: the admin operations' safety rules;
//! * [`transfer`]: who may take over leadership;
//! * [`drop_vcenter`]: which vCenters no member is configured with any more.

pub mod drain;
pub mod drain_wait;
pub mod drop_vcenter;
pub mod liveness;
pub mod membership;
pub mod rebalance;
pub mod remove;
pub mod transfer;
pub mod undrain;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::Instant as _;

use super::state::{ClusterState, Command, Member, NodeId, NodeState};

/// What the leader knows beyond the replicated state: its Raft metrics, taken at one instant
/// (ages are relative to that instant).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderView {
    pub me: NodeId,
    /// Voters of the current membership (the joint configuration's union while one is
    /// pending).
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    /// The leader's last log index.
    pub last_log_index: u64,
    /// Per replication target: the highest log index it has (None: unknown yet).
    pub matched: BTreeMap<NodeId, Option<u64>>,
    /// Per replication target: how long ago it last acknowledged the leader (None: not in
    /// this term yet).
    pub ack_age: BTreeMap<NodeId, Option<Duration>>,
    /// `[cluster] failure_timeout`: a member silent for longer does not answer.
    pub failure_timeout: Duration,
}

impl LeaderView {
    /// The view from openraft's metrics (the leader's, or anyone's: followers have no
    /// replication figures).
    pub fn from_metrics(
        m: &openraft::RaftMetrics<super::TypeConfig>,
        failure_timeout: Duration,
    ) -> LeaderView {
        let mem = m.membership_config.membership();
        let hb = m.heartbeat.clone().unwrap_or_default();
        let repl = m.replication.clone().unwrap_or_default();
        LeaderView {
            me: m.id,
            voters: mem.voter_ids().collect(),
            learners: mem.learner_ids().collect(),
            last_log_index: m.last_log_index.unwrap_or(0),
            matched: repl
                .iter()
                .map(|(id, l)| (*id, l.as_ref().map(|l| l.index)))
                .collect(),
            ack_age: hb
                .iter()
                .map(|(id, t)| (*id, t.as_ref().map(|t| t.elapsed())))
                .collect(),
            failure_timeout,
        }
    }

    /// `id` answers the leader: not marked down (nor left) in the replicated state, and
    /// acknowledged within `failure_timeout` (with no acknowledgement yet in this term, a
    /// leader elected just now, the replicated verdict alone decides).
    ///
    /// A member marked down counts as silent until liveness marks it active again, even if
    /// it acknowledged something a moment ago: a node that answered once and died (stopped
    /// right after a restart) must not count towards a quorum.
    pub fn answers(&self, state: &ClusterState, id: NodeId) -> bool {
        if id == self.me {
            return true;
        }
        let up = state
            .members
            .nodes
            .get(&id)
            .is_some_and(|m| !matches!(m.state, NodeState::Down | NodeState::Left));
        up && self
            .ack_age
            .get(&id)
            .copied()
            .flatten()
            .is_none_or(|age| age < self.failure_timeout)
    }

    /// The log index `id` is known to have (0: unknown).
    pub fn matched(&self, id: NodeId) -> u64 {
        self.matched.get(&id).copied().flatten().unwrap_or(0)
    }
}

/// Why the leader will not do what was asked. The message is the operator's: it says what
/// is unsafe and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No member matches the name, id or address given.
    #[error("{0}")]
    UnknownNode(String),
    /// The operation would be unsafe now.
    #[error("refused: {0}")]
    Unsafe(String),
}

pub(crate) fn unsafe_(msg: String) -> Refusal {
    Refusal::Unsafe(msg)
}

/// What an admin decision produced: a command to write (None: nothing to do), and the
/// message for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub node: NodeId,
    pub command: Option<Command>,
    pub message: String,
}

impl Decision {
    fn nothing(node: NodeId, message: String) -> Decision {
        Decision {
            node,
            command: None,
            message,
        }
    }
}

/// `node N (name)`, as every message names a member.
pub fn describe(m: &Member) -> String {
    format!("node {} ({})", m.id, m.name)
}

/// The member named by `q`: a name, an id or an address. A live member wins over one that
/// left under the same name.
pub fn resolve<'a>(state: &'a ClusterState, q: &str) -> Result<&'a Member, Refusal> {
    let q = q.trim();
    let by_id = q.parse::<NodeId>().ok();
    let mut found: Vec<&Member> = state
        .members
        .nodes
        .values()
        .filter(|m| Some(m.id) == by_id || m.name == q || m.addr == q)
        .collect();
    found.sort_by_key(|m| (m.state == NodeState::Left, std::cmp::Reverse(m.id)));
    found.first().copied().ok_or_else(|| {
        let known: Vec<String> = state
            .members
            .nodes
            .values()
            .filter(|m| m.state != NodeState::Left)
            .map(|m| format!("{} ({})", m.name, m.id))
            .collect();
        Refusal::UnknownNode(format!(
            "unknown node {q:?}: the members are {}",
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// Active members other than `id`.
fn other_active(state: &ClusterState, id: NodeId) -> Vec<NodeId> {
    state
        .active_nodes()
        .into_iter()
        .filter(|&i| i != id)
        .collect()
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A small cluster to decide on.
    use super::*;
    use crate::cluster::state::Role;

    pub fn state(nodes: &[(NodeId, NodeState)], voters: &[NodeId]) -> ClusterState {
        let mut s = ClusterState::default();
        for &(id, st) in nodes {
            s.members.nodes.insert(
                id,
                Member {
                    id,
                    name: format!("n{id}"),
                    addr: format!("h{id}:1"),
                    incarnation: id,
                    role: if voters.contains(&id) {
                        Role::Voter
                    } else {
                        Role::Learner
                    },
                    state: st,
                },
            );
        }
        s.members.raft_voters = voters.iter().copied().collect();
        s
    }

    /// The leader `me` with every other node acknowledged `age` ago and fully caught up.
    pub fn view(me: NodeId, nodes: &[NodeId], voters: &[NodeId], age: Duration) -> LeaderView {
        LeaderView {
            me,
            voters: voters.iter().copied().collect(),
            learners: nodes
                .iter()
                .copied()
                .filter(|n| !voters.contains(n))
                .collect(),
            last_log_index: 500,
            matched: nodes
                .iter()
                .filter(|&&n| n != me)
                .map(|&n| (n, Some(500)))
                .collect(),
            ack_age: nodes
                .iter()
                .filter(|&&n| n != me)
                .map(|&n| (n, Some(age)))
                .collect(),
            failure_timeout: Duration::from_secs(3),
        }
    }
}
