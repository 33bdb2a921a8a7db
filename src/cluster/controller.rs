//! The controller: runs on every node, acts only while the node leads.
//!
//! Every [`TICK`] (or when kicked) the leader snapshots its replica and its Raft metrics,
//! decides with the pure rules of [`super::decide`], and writes what they return (every write
//! with the same retry, [`Core::write`]):
//! 1. **liveness** ([`super::decide::liveness`]): members silent for `failure_timeout` are
//!    marked down, down members that answer steadily again are marked active;
//! 2. **membership** ([`super::decide::membership`]): one change per tick (left members out,
//!    new members in as learners, caught-up learners promoted);
//! 3. **ownership** ([`super::decide::rebalance`]): the minimal bucket moves per vCenter;
//! 4. **forgotten vCenters** ([`super::decide::drop_vcenter`]): when the shard map holds a
//!    vCenter the leader's own configuration does not name, at most every [`DROP_CHECK`] the
//!    leader asks every live member (`Hello`) which vCenters it is configured with, and drops
//!    those none names (any member that does not say blocks it).
//!
//! Everything is derived from the replicated state and the leader's metrics, so a new leader
//! simply carries on. A new leader first makes sure its replica is current (a ReadIndex
//! round) before deciding anything.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ReadPolicy, ServerState};

use super::decide::drop_vcenter::{self, Configured};
use super::decide::liveness::Silence;
use super::decide::{membership, rebalance, LeaderView};

use super::error::Error;
use super::rpc;
use super::running::Core;
use super::state::{Command, NodeState, Response};
use super::{NodeId, Raft, TypeConfig};

/// How often the leader looks at its cluster.
pub const TICK: Duration = Duration::from_millis(250);
/// Bound of one membership change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one controller write keeps retrying (an election, a forward) before the tick
/// gives up and the next tick decides again.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the leader asks the members for their vCenters while the shard map holds one
/// its own configuration does not name.
pub const DROP_CHECK: Duration = Duration::from_secs(5);
/// Deadline of one member's answer to that question.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

struct LeaderTerm {
    term: u64,
    /// Per member without any acknowledgement in this term: since when we count its silence.
    silence: Silence,
    /// When the members were last asked for their vCenters.
    asked: Option<Instant>,
}

pub(crate) async fn run(core: Arc<Core>) {
    let raft = &core.raft;
    let mut leading: Option<LeaderTerm> = None;
    // The leader we followed last, and when we last heard from it (for a fast verdict on a
    // leader that died: its silence started before we were elected).
    let mut previous_leader: Option<NodeId> = None;
    loop {
        tokio::select! {
            _ = core.local.cancel.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
            _ = core.kick.notified() => {}
        }
        let m = core.metrics();
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
            if let (Some(old), Some(quiet)) = (previous_leader, core.since_contact()) {
                if let Some(at) = Instant::now().checked_sub(quiet).filter(|_| old != m.id) {
                    silence.silent_since(old, at);
                }
            }
            tracing::info!(
                id = m.id,
                term = m.current_term,
                "leading: controller active"
            );
            leading = Some(LeaderTerm {
                term: m.current_term,
                silence,
                asked: None,
            });
        }
        let Some(l) = leading.as_mut() else { continue };
        if let Err(e) = tick(&core, l).await {
            tracing::warn!(error = %e, "controller tick failed");
        }
    }
}

/// Writes one command through the leader with the same retry every writer uses
/// ([`Core::write`]: while there is no leader or it is unreachable, up to [`WRITE_TIMEOUT`]).
async fn write(core: &Core, cmd: Command) -> Result<Response, Error> {
    let r = core.write(cmd.clone(), WRITE_TIMEOUT).await?;
    if let Response::Rejected(rej) = &r {
        tracing::warn!(command = %cmd, reason = %rej, "controller command rejected");
    }
    Ok(r)
}

/// One look at the cluster: snapshot the replica and the metrics, decide, write.
async fn tick(core: &Core, l: &mut LeaderTerm) -> Result<(), Error> {
    let local = &core.local;
    let m = core.metrics();
    let state = local.state.borrow().clone();
    if state.members.nodes.is_empty() {
        return Ok(()); // the bootstrap command is not applied yet
    }
    let view = LeaderView::from_metrics(&m, local.cluster.failure_timeout);

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
        write(core, c.command()).await?;
    }

    // 2. Membership: one change, never while one is uncommitted; a committed joint
    //    configuration is finished first.
    let next = match progress(&m.membership_config, &m.committed_membership_config) {
        Progress::Uncommitted => None,
        Progress::Joint(voters) => Some(membership::Change::FinishJoint(voters)),
        Progress::Settled => membership::decide(&state, &view, local.cluster.max_voters),
    };
    if let Some(c) = next {
        change(&core.raft, c).await?;
    }

    // 3. Ownership, on the state after the changes above.
    let state = local.state.borrow().clone();
    for mv in rebalance::decide(&state, &local.vcenters) {
        tracing::info!(vcenter = %mv.vcenter, moves = mv.moves.len(), from = ?mv.from, to = ?mv.to,
            "moving buckets");
        write(core, mv.command()).await?;
    }

    // 4. vCenters no member is configured with any more.
    if drop_vcenter::candidates(&state, &local.vcenters).is_empty()
        || l.asked.is_some_and(|t| t.elapsed() < DROP_CHECK)
    {
        return Ok(());
    }
    l.asked = Some(Instant::now());
    let configured = ask_vcenters(core, &state).await;
    for d in drop_vcenter::decide(&state, &configured) {
        tracing::info!(vcenter = %d.vcenter, members = ?d.members,
            "no member is configured with this vCenter any more: dropping its shard map and watermarks");
        write(core, d.command()).await?;
    }
    Ok(())
}

/// Where the newest membership stands, for the one change a tick may make.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// The newest membership is committed and uniform: the rules may change it.
    Settled,
    /// The newest membership is not committed yet: openraft refuses a second change, and
    /// deciding on a configuration that is still moving would undo it.
    Uncommitted,
    /// A joint configuration is committed but was never flattened: the change that proposed
    /// it gave up (its caller's [`CHANGE_TIMEOUT`], a leader that lost its term before its
    /// second step; openraft proposes the uniform half only from the caller's future). Until
    /// it is finished towards these voters (its newest half), no other change can be made.
    Joint(BTreeSet<NodeId>),
}

fn progress(effective: &super::StoredMembership, committed: &super::StoredMembership) -> Progress {
    if effective.log_id() != committed.log_id() {
        return Progress::Uncommitted;
    }
    match effective.membership().get_joint_config().as_slice() {
        [_, .., goal] => Progress::Joint(goal.clone()),
        _ => Progress::Settled,
    }
}

/// Asks every live member (at once, [`ASK_TIMEOUT`] each) which vCenters it is configured
/// with; this node answers from its own configuration. `None`: no answer, or a release that
/// does not say.
async fn ask_vcenters(core: &Core, state: &super::ClusterState) -> Configured {
    let (local, me) = (&core.local, core.id);
    let others = state
        .members
        .nodes
        .values()
        .filter(|m| m.state != NodeState::Left && m.id != me);
    let calls = others.map(|m| async move {
        let hello = local.hello();
        let reply = match local.peers.cluster(&m.addr) {
            Ok(mut client) => {
                rpc::call(&m.addr, ASK_TIMEOUT, hello, |r| async move {
                    client.hello(r).await
                })
                .await
            }
            Err(e) => Err(e),
        };
        let names = match reply {
            // Only the member itself speaks for it (not a new node at its old address).
            Ok(r) if r.node_id == Some(m.id) => r.vcenters.map(|v| v.names.into_iter().collect()),
            Ok(r) => {
                tracing::debug!(node = m.id, answered = ?r.node_id, "another node answers at this member's address");
                None
            }
            Err(e) => {
                tracing::debug!(node = m.id, error = %e, "member did not say its vCenters");
                None
            }
        };
        (m.id, names)
    });
    let mut out: Configured = futures::future::join_all(calls).await.into_iter().collect();
    out.insert(me, Some(local.vcenters.iter().cloned().collect()));
    out
}

/// Carries out one membership change, bounded by [`CHANGE_TIMEOUT`].
async fn change(raft: &Raft, c: membership::Change) -> Result<(), Error> {
    tracing::info!(change = ?c, "membership change");
    let what_for = format!("{c:?}");
    let what: ChangeMembers<NodeId, BasicNode> = match c {
        membership::Change::RemoveVoter(id) => ChangeMembers::RemoveVoters([id].into()),
        membership::Change::RemoveLearner(id) => ChangeMembers::RemoveNodes([id].into()),
        membership::Change::Promote(id) => ChangeMembers::AddVoterIds([id].into()),
        // The joint configuration's newest half is the goal: openraft flattens to it in one
        // entry, and drops the voters that are not in it (retain: false, as the change that
        // was cut short asked).
        membership::Change::FinishJoint(voters) => ChangeMembers::ReplaceAllVoters(voters),
        membership::Change::AddLearner(id, addr) => {
            let add = raft.add_learner(id, BasicNode::new(addr), false);
            return within_change_timeout(what_for, add).await;
        }
    };
    within_change_timeout(what_for, raft.change_membership(what, false)).await
}

/// Awaits one membership change for up to [`CHANGE_TIMEOUT`]; both kinds (a learner added,
/// the voters changed) fail the same way.
async fn within_change_timeout<T>(
    change: String,
    fut: impl std::future::Future<
        Output = Result<T, RaftError<TypeConfig, ClientWriteError<TypeConfig>>>,
    >,
) -> Result<(), Error> {
    match tokio::time::timeout(CHANGE_TIMEOUT, fut).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(Error::Membership { change, source }),
        Err(_) => Err(Error::MembershipTimeout {
            change,
            after: CHANGE_TIMEOUT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::Membership;

    use super::*;
    use crate::cluster::StoredMembership;

    fn stored(index: Option<u64>, configs: Vec<Vec<NodeId>>) -> StoredMembership {
        let nodes: BTreeMap<NodeId, BasicNode> = configs
            .iter()
            .flatten()
            .map(|id| (*id, BasicNode::new(format!("127.0.0.{id}:7000"))))
            .collect();
        let configs: Vec<BTreeSet<NodeId>> = configs
            .into_iter()
            .map(|c| c.into_iter().collect())
            .collect();
        let m = Membership::new(configs, nodes).expect("a valid membership");
        let log_id = index.map(|i| openraft::testing::log_id::<TypeConfig>(1, 1, i));
        StoredMembership::new(log_id, m)
    }

    #[test]
    fn a_committed_uniform_membership_is_settled() {
        let m = stored(Some(5), vec![vec![1, 2, 3]]);
        assert_eq!(progress(&m, &m.clone()), Progress::Settled);
        let first = stored(None, vec![vec![1]]);
        assert_eq!(progress(&first, &first.clone()), Progress::Settled);
    }

    #[test]
    fn a_membership_not_committed_yet_is_waited_for() {
        let effective = stored(Some(7), vec![vec![1, 2, 3, 4]]);
        let committed = stored(Some(5), vec![vec![1, 2, 3]]);
        assert_eq!(progress(&effective, &committed), Progress::Uncommitted);
        let joint = stored(Some(7), vec![vec![1, 2, 3], vec![2, 3]]);
        assert_eq!(progress(&joint, &committed), Progress::Uncommitted);
    }

    /// Seed 4409 of the simulation: `RemoveVoter(1)` outlasted its 3 s while a voter was slow,
    /// its joint half committed later, and nothing ever flattened it; every later change
    /// (the rebuilt node's learner) waited for ever.
    #[test]
    fn a_committed_joint_configuration_is_finished_towards_its_newest_half() {
        let joint = stored(Some(7), vec![vec![1, 2, 3], vec![2, 3]]);
        assert_eq!(
            progress(&joint, &joint.clone()),
            Progress::Joint(BTreeSet::from([2, 3]))
        );
    }
}
