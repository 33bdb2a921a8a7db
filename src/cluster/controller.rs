//! The controller: runs on every node, acts only while the node leads.
//!
//! Every [`TICK`] (or when kicked) the leader snapshots its replica and its Raft metrics,
//! decides with the pure rules of [`super::decide`], and writes what they return (every write
//! with the same retry, [`Shared::write`]):
//! 1. **liveness** ([`super::decide::liveness`]): members silent for `failure_timeout` are
//!    marked down, down members that answer steadily again are marked active;
//! 2. **membership** ([`super::decide::membership`]): one change per tick (left members out,
//!    new members in as learners, caught-up learners promoted);
//! 3. **ownership** ([`super::decide::rebalance`]): the minimal bucket moves per vCenter.
//!
//! Everything is derived from the replicated state and the leader's metrics, so a new leader
//! simply carries on. A new leader first makes sure its replica is current (a ReadIndex
//! round) before deciding anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, ReadPolicy, ServerState};

use super::decide::liveness::Silence;
use super::decide::{membership, rebalance, LeaderView};

use super::error::Error;
use super::shared::Shared;
use super::state::{Command, NodeState, Response};
use super::{NodeId, Raft};

/// How often the leader looks at its cluster.
pub const TICK: Duration = Duration::from_millis(250);
/// Bound of one membership change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one controller write keeps retrying (an election, a forward) before the tick
/// gives up and the next tick decides again.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

struct Leadership {
    term: u64,
    /// Per member without any acknowledgement in this term: since when we count its silence.
    silence: Silence,
}

pub(crate) async fn run(inner: Arc<Shared>) {
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

/// Writes one command through the leader with the same retry every writer uses
/// ([`Shared::write`]: while there is no leader or it is unreachable, up to [`WRITE_TIMEOUT`]).
async fn write(inner: &Shared, cmd: Command) -> Result<Response, Error> {
    let r = inner.write(cmd.clone(), WRITE_TIMEOUT).await?;
    if let Response::Rejected(rej) = &r {
        tracing::warn!(command = %cmd, reason = %rej, "controller command rejected");
    }
    Ok(r)
}

/// One look at the cluster: snapshot the replica and the metrics, decide, write.
async fn tick(inner: &Shared, raft: &Raft, l: &mut Leadership) -> Result<(), Error> {
    let m = super::metrics(raft);
    let state = inner.state.borrow().clone();
    if state.members.nodes.is_empty() {
        return Ok(()); // the bootstrap command is not applied yet
    }
    let view = LeaderView::from_metrics(&m, inner.cluster.failure_timeout);

    // 1. Liveness.
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

    // 2. Membership: one change, never while a joint configuration is pending.
    let settled = m.membership_config.log_id() == m.committed_membership_config.log_id()
        && m.membership_config.membership().get_joint_config().len() == 1;
    if settled {
        if let Some(c) = membership::decide(&state, &view, inner.cluster.max_voters) {
            change(raft, c).await?;
        }
    }

    // 3. Ownership, on the state after the changes above.
    let state = inner.state.borrow().clone();
    for mv in rebalance::decide(&state, &inner.vcenters) {
        tracing::info!(vcenter = %mv.vcenter, moves = mv.moves.len(), from = ?mv.from, to = ?mv.to,
            "moving buckets");
        write(inner, mv.command()).await?;
    }
    Ok(())
}

/// Carries out one membership change, bounded by [`CHANGE_TIMEOUT`].
async fn change(raft: &Raft, c: membership::Change) -> Result<(), Error> {
    tracing::info!(change = ?c, "membership change");
    let what_for = format!("{c:?}");
    let what: ChangeMembers<NodeId, BasicNode> = match c {
        membership::Change::RemoveVoter(id) => ChangeMembers::RemoveVoters([id].into()),
        membership::Change::RemoveLearner(id) => ChangeMembers::RemoveNodes([id].into()),
        membership::Change::Promote(id) => ChangeMembers::AddVoterIds([id].into()),
        membership::Change::AddLearner(id, addr) => {
            let add = raft.add_learner(id, BasicNode::new(addr), false);
            return match tokio::time::timeout(CHANGE_TIMEOUT, add).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(source)) => Err(Error::Membership {
                    change: what_for,
                    source,
                }),
                Err(_) => Err(Error::MembershipTimeout {
                    change: what_for,
                    after: CHANGE_TIMEOUT,
                }),
            };
        }
    };
    match tokio::time::timeout(CHANGE_TIMEOUT, raft.change_membership(what, false)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(Error::Membership {
            change: what_for,
            source,
        }),
        Err(_) => Err(Error::MembershipTimeout {
            change: what_for,
            after: CHANGE_TIMEOUT,
        }),
    }
}
