//! The controller: runs on every node, acts only while the node leads.
//!
//! Every [`TICK`] (or when kicked) the leader:
//! 1. **liveness**: reads the last acknowledgement time of each member from openraft's metrics
//!    (`RaftMetrics::heartbeat`); a member silent for more than `failure_timeout` is marked
//!    `Down`, a `Down` member that answers again is marked `Active`;
//! 2. **membership**: registered members not yet in the Raft membership are added as learners;
//!    caught-up active learners are promoted while the voters are fewer than `max_voters`;
//!    members that have `Left` are removed (one membership change per tick, never while a joint
//!    configuration is pending);
//! 3. **ownership**: for every configured vCenter, plans the bucket map over the active members
//!    ([`plan`](super::shard::plan): minimal movement) and proposes the moves.
//!
//! Everything is derived from the replicated state and the leader's metrics, so a new leader
//! simply carries on. A new leader first makes sure its replica is current (a ReadIndex
//! round) before deciding anything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, ReadPolicy, ServerState};

use super::decide::liveness::Silence;
use super::decide::LeaderView;

use super::error::Error;
use super::node::Inner;
use super::state::{Command, NodeState, Response};
use super::{NodeId, Raft};

/// How often the leader looks at its cluster.
pub const TICK: Duration = Duration::from_millis(250);
/// Bound of one membership change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(3);
/// A learner within this many entries of the leader's log is caught up.
const CAUGHT_UP: u64 = 100;

struct Leadership {
    term: u64,
    /// Per member without any acknowledgement in this term: since when we count its silence.
    silence: Silence,
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let Some(raft) = inner.raft() else { return };
    let mut leading: Option<Leadership> = None;
    // The leader we followed last, and when we last heard from it (for a fast verdict on a
    // leader that died: its silence started before we were elected).
    let mut previous_leader: Option<NodeId> = None;
    loop {
        tokio::select! {
            _ = inner.cancel.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
            _ = inner.kick.notified() => {}
        }
        let m = super::metrics(&raft);
        if m.state != ServerState::Leader {
            leading = None;
            if let Some(l) = m.current_leader.filter(|l| *l != m.id) {
                previous_leader = Some(l);
            }
            continue;
        }
        if leading.as_ref().map(|l| l.term) != Some(m.current_term) {
            let read = tokio::time::timeout(
                Duration::from_secs(2),
                raft.ensure_linearizable(ReadPolicy::ReadIndex),
            )
            .await;
            if !matches!(read, Ok(Ok(_))) {
                continue;
            }
            let mut silence = Silence::default();
            if let (Some(old), Some(quiet)) = (previous_leader, inner.since_contact()) {
                if let Some(at) = Instant::now().checked_sub(quiet).filter(|_| old != m.id) {
                    silence.silent_since(old, at);
                }
            }
            tracing::info!(
                id = m.id,
                term = m.current_term,
                "leading: controller active"
            );
            leading = Some(Leadership {
                term: m.current_term,
                silence,
            });
        }
        let Some(l) = leading.as_mut() else { continue };
        if let Err(e) = tick(&inner, &raft, l).await {
            tracing::warn!(error = %e, "controller tick failed");
        }
    }
}

async fn write(inner: &Inner, cmd: Command) -> Result<Response, Error> {
    let r = inner.try_write(&cmd, 0).await?;
    if let Response::Rejected(rej) = &r {
        tracing::warn!(command = %cmd, reason = %rej, "controller command rejected");
    }
    Ok(r)
}

async fn tick(inner: &Inner, raft: &Raft, l: &mut Leadership) -> Result<(), Error> {
    let m = super::metrics(raft);
    let state = inner.state.borrow().clone();
    if state.members.nodes.is_empty() {
        return Ok(()); // the bootstrap command is not applied yet
    }

    // 1. Liveness.
    let view = LeaderView::from_metrics(&m, inner.cluster.failure_timeout);
    for c in l.silence.decide(&state, &view, Instant::now()) {
        let name = state
            .members
            .nodes
            .get(&c.id)
            .map(|m| m.name.as_str())
            .unwrap_or("");
        if c.to == NodeState::Down {
            tracing::warn!(
                node = c.id,
                name,
                silent_ms = c.silent.as_millis() as u64,
                "member silent for longer than failure_timeout: marking it down"
            );
        } else {
            tracing::info!(node = c.id, name, "member answers again: marking it active");
        }
        write(inner, c.command()).await?;
    }

    // 2. Membership.
    let membership = m.membership_config.clone();
    let settled = m.membership_config.log_id() == m.committed_membership_config.log_id()
        && membership.membership().get_joint_config().len() == 1;
    if settled {
        membership_step(inner, raft, &m, &state).await?;
    }

    // 3. Ownership, on the state after the changes above.
    let state = inner.state.borrow().clone();
    for vc in &inner.vcenters {
        let moves = state.plan_vcenter(vc);
        if moves.is_empty() {
            continue;
        }
        let current = state.vcenters.get(vc);
        let mut to: BTreeMap<NodeId, u32> = BTreeMap::new();
        let mut from: BTreeMap<String, u32> = BTreeMap::new();
        for &(b, owner) in &moves {
            *to.entry(owner).or_default() += 1;
            let prev = current
                .and_then(|v| v.owners[b as usize])
                .map(|o| o.to_string())
                .unwrap_or_else(|| "none".into());
            *from.entry(prev).or_default() += 1;
        }
        tracing::info!(vcenter = %vc, moves = moves.len(), from = ?from, to = ?to, "moving buckets");
        write(
            inner,
            Command::SetOwners {
                vcenter: vc.clone(),
                moves,
            },
        )
        .await?;
    }
    Ok(())
}

async fn change(raft: &Raft, what: ChangeMembers<NodeId, BasicNode>) -> Result<(), Error> {
    match tokio::time::timeout(CHANGE_TIMEOUT, raft.change_membership(what, false)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Raft(e.to_string())),
        Err(_) => Err(Error::Raft("membership change timed out".into())),
    }
}

/// At most one membership change.
async fn membership_step(
    inner: &Inner,
    raft: &Raft,
    m: &openraft::RaftMetrics<super::TypeConfig>,
    state: &super::ClusterState,
) -> Result<(), Error> {
    let mem = m.membership_config.membership();
    let voters: BTreeSet<NodeId> = mem.voter_ids().collect();
    let learners: BTreeSet<NodeId> = mem.learner_ids().collect();

    // Left members out of the membership (never the leader itself: issue 4's `leave`).
    for member in state.members.nodes.values() {
        if member.state != NodeState::Left || member.id == m.id {
            continue;
        }
        if voters.contains(&member.id) {
            tracing::info!(
                node = member.id,
                "removing a member that left from the voters"
            );
            return change(raft, ChangeMembers::RemoveVoters([member.id].into())).await;
        }
        if learners.contains(&member.id) {
            tracing::info!(
                node = member.id,
                "removing a member that left from the learners"
            );
            return change(raft, ChangeMembers::RemoveNodes([member.id].into())).await;
        }
    }

    // New members become learners.
    for member in state.members.nodes.values() {
        if member.state == NodeState::Left
            || voters.contains(&member.id)
            || learners.contains(&member.id)
        {
            continue;
        }
        tracing::info!(node = member.id, name = %member.name, addr = %member.addr, "adding learner");
        let add = raft.add_learner(member.id, BasicNode::new(member.addr.clone()), false);
        return match tokio::time::timeout(CHANGE_TIMEOUT, add).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Raft(e.to_string())),
            Err(_) => Err(Error::Raft("add_learner timed out".into())),
        };
    }

    // Promote caught-up active learners while voters are fewer than max_voters.
    if voters.len() < inner.cluster.max_voters {
        let last = m.last_log_index.unwrap_or(0);
        let repl = m.replication.clone().unwrap_or_default();
        let candidate = learners.iter().copied().find(|id| {
            let active = state
                .members
                .nodes
                .get(id)
                .is_some_and(|n| n.state == NodeState::Active);
            let matched = repl
                .get(id)
                .and_then(|l| l.as_ref())
                .map(|l| l.index)
                .unwrap_or(0);
            active && matched + CAUGHT_UP >= last && matched > 0
        });
        if let Some(id) = candidate {
            tracing::info!(
                node = id,
                voters = voters.len(),
                "promoting learner to voter"
            );
            return change(raft, ChangeMembers::AddVoterIds([id].into())).await;
        }
    }
    Ok(())
}
