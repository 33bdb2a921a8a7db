//! Admin operations of `vcollect` (drain, undrain, remove, transfer-leader, leave, the drain
//! wait) and the per-node figures `status` gathers.
//!
//! Writes run on the leader: a node that does not lead forwards the [`AdminOp`] there (at most
//! twice, against loops). The leader first makes sure its replica is current (a ReadIndex
//! round), then asks the operation's rule ([`super::decide`]: a pure function of the
//! replicated state and its replication metrics) and writes the command it returns. Errors
//! and refusals reach the caller through the one `tonic::Status` mapping in
//! [`super::convert`]: a refusal is `FAILED_PRECONDITION` with the reason, an unknown node
//! `NOT_FOUND`, no leader `UNAVAILABLE`.
//!
//! The check and the write are one atomic step: the command carries the conditions the rule
//! relied on (`expect`, [`super::state::precondition`]) and the state machine re-checks them
//! when it applies the entry, so a concurrent admin operation or a liveness change between the
//! check and the commit turns into a refusal naming its reason, never into an unsafe change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use openraft::{Instant as _, ReadPolicy, ServerState};
use tonic::Status;

use super::convert;
use super::decide::{
    self, drain_wait, resolve, transfer::TransferTo, Decision, LeaderView, Refusal,
};
use super::error::{Error, TransferError};
use super::local::Local;
use super::rpc::{self, pb};
use super::running::Core;
use super::state::{ClusterState, Command, NodeState, Response};
use super::{NodeId, Raft};

/// How long a forwarded admin operation may take on the leader.
pub(super) const FORWARD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a leadership transfer may take before it is reported as failed.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of one node's answer when a node gathers every member's figures.
const FAN_OUT: Duration = Duration::from_millis(1000);

pub use super::decide::drain_wait::Buckets;
pub use super::operation::AdminOp;

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// This node's own figures (`core`: `None` while it has no id yet).
pub(crate) fn local_report(local: &Local, core: Option<&Core>) -> pb::NodeReport {
    let mut r = pb::NodeReport {
        node_id: core.map_or(0, |c| c.id),
        reachable: true,
        collecting: core.is_some_and(super::assignment::collecting),
        contact_age_ms: core.and_then(Core::since_contact).map(ms),
        cycles: local.cycles.all().into_iter().map(Into::into).collect(),
        ..Default::default()
    };
    r.set_server(None);
    if let Some(core) = core {
        let m = core.metrics();
        r.set_server(Some(m.state));
        r.term = m.current_term;
        r.last_log_index = m.last_log_index;
        r.applied_index = m.last_applied.map(|l| l.index);
        r.leader_id = m.current_leader;
        if m.state == ServerState::Leader {
            let hb = m.heartbeat.clone().unwrap_or_default();
            let repl = m.replication.clone().unwrap_or_default();
            let ids: BTreeSet<NodeId> = hb.keys().chain(repl.keys()).copied().collect();
            r.peers = ids
                .into_iter()
                .filter(|id| *id != m.id)
                .map(|id| pb::PeerReport {
                    id,
                    matched_index: repl.get(&id).and_then(|l| l.as_ref()).map(|l| l.index),
                    ack_age_ms: hb
                        .get(&id)
                        .and_then(|t| t.as_ref())
                        .map(|t| ms(t.elapsed())),
                })
                .collect();
            r.quorum_ack_age_ms = m.last_quorum_acked.as_ref().map(|t| ms(t.elapsed()));
        }
    }
    r
}

/// Asks one node for its own figures (`Status` with `local`).
async fn ask(local: &Local, id: NodeId, addr: &str) -> pb::NodeReport {
    let unreachable = |e: Error| pb::NodeReport {
        node_id: id,
        reachable: false,
        error: e.explain(),
        ..Default::default()
    };
    let mut client = match local.peers.cluster(addr) {
        Ok(c) => c,
        Err(e) => return unreachable(e),
    };
    let req = pb::StatusRequest { local: true };
    match rpc::call(
        addr,
        FAN_OUT,
        req,
        |r| async move { client.status(r).await },
    )
    .await
    {
        Ok(reply) => reply
            .nodes
            .into_iter()
            .next()
            .map(|mut n| {
                n.node_id = id;
                n
            })
            .unwrap_or_else(|| unreachable(Error::NotReady)),
        Err(e) => unreachable(e),
    }
}

/// Every member's own figures (left members excluded), asked concurrently with a short
/// deadline; this node's from memory.
pub(crate) async fn gather(local: &Local, core: Option<&Core>) -> Vec<pb::NodeReport> {
    let state = local.state.borrow().clone();
    let me = core.map(|c| c.id);
    let calls = state
        .members
        .nodes
        .values()
        .filter(|m| m.state != NodeState::Left)
        .map(|m| {
            let addr = m.addr.clone();
            let id = m.id;
            async move {
                if Some(id) == me {
                    local_report(local, core)
                } else {
                    ask(local, id, &addr).await
                }
            }
        });
    let mut out = futures::future::join_all(calls).await;
    if let Some(me) = me {
        if !out.iter().any(|r| r.node_id == me) {
            out.push(local_report(local, core));
        }
    }
    out
}

/// Runs `op` on the leader (forwarding it there from any other node).
pub(crate) async fn run_op(core: &Core, op: AdminOp, hops: u32) -> Result<pb::AdminReply, Status> {
    let raft = &core.raft;
    if core.metrics().state != ServerState::Leader {
        return forward(core, op, hops).await;
    }
    // Decide on a current replica.
    match tokio::time::timeout(
        Duration::from_secs(2),
        raft.ensure_linearizable(ReadPolicy::ReadIndex),
    )
    .await
    {
        Ok(Ok(_)) => {}
        _ => return Err(Error::NoQuorum.into()),
    }
    let state = core.local.state.borrow().clone();
    let view = LeaderView::from_metrics(&core.metrics(), core.local.cluster.failure_timeout);
    match op {
        AdminOp::Drain { node } => {
            let d = decide::drain::decide(&state, &node)?;
            let (node, owned) = (d.node, state.owned_by(d.node));
            let reply = carry_out(core, d).await?;
            Ok(convert::drain_reply(reply.message, node, &owned))
        }
        AdminOp::Undrain { node } => {
            carry_out(core, decide::undrain::decide(&state, &view, &node)?).await
        }
        AdminOp::Remove { node, force } => {
            let (state, view) = settled(core, state, view).await;
            let d = decide::remove::decide(&state, &view, &node, force)?;
            carry_out(core, d).await
        }
        AdminOp::TransferLeader { to } => {
            let target = decide::transfer::decide(&state, &view, to.as_deref())?;
            let to = match target {
                TransferTo::AlreadyLeads(message) => return Ok(reply(message, view.me)),
                TransferTo::To(id) => id,
            };
            let (leader, took) = transfer(raft, view.me, to, TRANSFER_TIMEOUT).await?;
            let name = |id: NodeId| {
                state
                    .members
                    .nodes
                    .get(&id)
                    .map(|m| format!("node {id} ({})", m.name))
                    .unwrap_or_else(|| format!("node {id}"))
            };
            Ok(reply(
                format!(
                    "leadership moved from {} to {} in {} ms",
                    name(view.me),
                    name(leader),
                    took.as_millis()
                ),
                leader,
            ))
        }
    }
}

/// How long a remove waits for the controller to take members that left out of the
/// membership ([`decide::remove::settling`]).
const SETTLE: Duration = Duration::from_secs(5);

/// The state and view once no member that left is still a voter (or after [`SETTLE`]).
async fn settled(
    core: &Core,
    mut state: Arc<ClusterState>,
    mut view: LeaderView,
) -> (Arc<ClusterState>, LeaderView) {
    let t0 = Instant::now();
    while decide::remove::settling(&state, &view) && t0.elapsed() < SETTLE {
        core.kick.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = core.local.state.borrow().clone();
        view = LeaderView::from_metrics(&core.metrics(), core.local.cluster.failure_timeout);
    }
    (state, view)
}

fn reply(message: String, id: NodeId) -> pb::AdminReply {
    pb::AdminReply {
        message,
        node_id: Some(id),
        detail: Vec::new(),
        drained: None,
    }
}

/// Sends `op` to the leader (at most twice forwarded, against loops).
async fn forward(core: &Core, op: AdminOp, hops: u32) -> Result<pb::AdminReply, Status> {
    let (_, addr) = core.leader().ok_or_else(|| Error::NoLeaderAt {
        node: core.id,
        addr: core.local.advertise.clone(),
    })?;
    if hops >= 2 {
        return Err(Error::Unstable.into());
    }
    let mut client = core.local.peers.cluster(&addr)?;
    let req = convert::admin_request(&op, hops + 1).map_err(Error::from)?;
    rpc::call(&addr, FORWARD_TIMEOUT, req, |r| async move {
        client.admin(r).await
    })
    .await
    .map_err(|e| match e {
        // The leader's own answer (a refusal, NOT_FOUND): as it is.
        Error::Rpc { status, .. } if status.code() != tonic::Code::Unavailable => status,
        source => Error::Leader {
            addr,
            source: Box::new(source),
        }
        .into(),
    })
}

/// Writes a decision's command (if any) and answers with its message. The state machine
/// re-checks the command's conditions: a refusal there is the operator's refusal too.
async fn carry_out(core: &Core, d: Decision) -> Result<pb::AdminReply, Status> {
    if let Some(cmd) = d.command {
        propose(core, cmd).await?;
    }
    Ok(reply(d.message, d.node))
}

async fn propose(core: &Core, cmd: Command) -> Result<(), Status> {
    match core.write(cmd, Duration::from_secs(5)).await {
        Ok(Response::Rejected(r)) => Err(r.into()),
        Ok(_) => {
            core.kick.notify_one();
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The voter best placed to lead after this one (see [`decide::transfer::successor`]).
fn pick_successor(core: &Core) -> Option<NodeId> {
    let view = LeaderView::from_metrics(&core.metrics(), core.local.cluster.failure_timeout);
    let state = core.local.state.borrow().clone();
    decide::transfer::successor(&state, &view)
}

/// Asks openraft to hand leadership to `to` and waits until another node leads.
async fn transfer(
    raft: &Raft,
    me: NodeId,
    to: NodeId,
    timeout: Duration,
) -> Result<(NodeId, Duration), TransferError> {
    let t0 = Instant::now();
    tracing::info!(from = me, to, "transferring leadership");
    raft.trigger().transfer_leader(to).await?;
    loop {
        let m = super::metrics(raft);
        if let Some(l) = m.current_leader.filter(|&l| l != me) {
            tracing::info!(
                from = me,
                to = l,
                ms = t0.elapsed().as_millis() as u64,
                "leadership transferred"
            );
            return Ok((l, t0.elapsed()));
        }
        if t0.elapsed() > timeout {
            return Err(TransferError::Timeout {
                to,
                timeout,
                leader: m.current_leader,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM on a leader: hand leadership over before stopping (see [`super::Handle`]).
pub(crate) async fn step_down(core: &Core, timeout: Duration) -> Result<Option<NodeId>, Error> {
    let m = core.metrics();
    if m.state != ServerState::Leader {
        return Ok(None);
    }
    let Some(to) = pick_successor(core) else {
        tracing::warn!("stopping the leader: no other voter answers and is caught up; no transfer");
        return Ok(None);
    };
    let (leader, _) = transfer(&core.raft, m.id, to, timeout).await?;
    Ok(Some(leader))
}

/// How long `wait_drained` lets this node's replica catch up with a drain the leader applied.
const REPLICA_CATCH_UP: Duration = Duration::from_secs(5);

/// Waits on this node's replica until drained `node`'s buckets are collected by their new
/// owners past the point where it stopped (the three conditions of
/// [`decide::drain_wait`]). `buckets` are the buckets it owned when the drain started
/// (`None`: every bucket).
pub(crate) async fn wait_drained(
    core: &Core,
    node: &str,
    buckets: Option<Buckets>,
    timeout: Duration,
) -> Result<pb::WaitDrainedReply, Status> {
    let t0 = Instant::now();
    let mut w = {
        let state = core.local.state.borrow();
        let m = resolve(&state, node)?;
        DrainWait {
            rx: core.local.state.clone(),
            t0,
            deadline: t0 + timeout,
            id: m.id,
            name: m.name.clone(),
            addr: m.addr.clone(),
        }
    };
    w.owns_nothing().await?;
    w.cycle_over(core).await?;
    w.watermarks_past(buckets).await
}

/// One `wait_drained` in progress.
struct DrainWait {
    rx: tokio::sync::watch::Receiver<Arc<ClusterState>>,
    t0: Instant,
    deadline: Instant,
    id: NodeId,
    name: String,
    addr: String,
}

impl DrainWait {
    fn who(&self) -> String {
        format!("node {} ({})", self.id, self.name)
    }

    fn late(&self, what: String) -> Status {
        Error::NotDrained {
            who: self.who(),
            after: self.t0.elapsed(),
            what,
        }
        .into()
    }

    /// Until the replica changes, or a quarter second. A replica whose Raft stopped (a
    /// storage failure, a shutdown) never changes again, and its closed channel answers at
    /// once: the wait ends there, rather than spin on it until the deadline (the simulation
    /// found that spin, seed 331: simulated time never moved again).
    async fn next_change(&mut self) -> Result<(), Status> {
        tokio::select! {
            changed = self.rx.changed() => changed.map_err(|_| {
                Status::unavailable(format!(
                    "this node's replica stopped (its Raft stopped) while waiting for {} \
                     to drain: ask another node",
                    self.who()
                ))
            }),
            _ = tokio::time::sleep(Duration::from_millis(250)) => Ok(()),
        }
    }

    /// (1) It owns nothing. This node's replica may not have applied the drain yet (the
    /// leader did; `drain NODE --wait` asked right after), so give it a moment before calling
    /// the node active.
    async fn owns_nothing(&mut self) -> Result<(), Status> {
        let catch_up = self.t0 + REPLICA_CATCH_UP;
        loop {
            {
                let state = self.rx.borrow_and_update().clone();
                let st = state.members.nodes.get(&self.id).map(|m| m.state);
                if st == Some(NodeState::Active) && Instant::now() >= catch_up.min(self.deadline) {
                    return Err(Refusal::Unsafe(format!(
                        "{} is active, not draining: run `vcollect drain {}` first",
                        self.who(),
                        self.name
                    ))
                    .into());
                }
                let owned = drain_wait::still_owned(&state, self.id);
                if owned == 0 {
                    return Ok(());
                }
                if Instant::now() >= self.deadline {
                    return Err(self.late(format!("it still owns {owned} buckets")));
                }
            }
            self.next_change().await?;
        }
    }

    /// (2) Its cycle in flight is over.
    async fn cycle_over(&mut self, core: &Core) -> Result<(), Status> {
        let vcenters: Vec<String> = self.rx.borrow().vcenters.keys().cloned().collect();
        loop {
            let r = if self.id == core.id {
                local_report(&core.local, Some(core))
            } else {
                ask(&core.local, self.id, &self.addr).await
            };
            if drain_wait::cycle_over(&(&r).into(), &vcenters) {
                return Ok(());
            }
            if Instant::now() >= self.deadline {
                return Err(self.late("its last cycle still covered entities".into()));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// (3) The new owners collected past it.
    async fn watermarks_past(
        &mut self,
        given: Option<Buckets>,
    ) -> Result<pb::WaitDrainedReply, Status> {
        let (base, moved) = {
            let state = self.rx.borrow_and_update().clone();
            let all = drain_wait::drained_buckets(&state, given.clone());
            let moved: usize = all.values().map(Vec::len).sum();
            (drain_wait::baseline(&state, &all), moved)
        };
        // The owners line names only the buckets given (none: it is left out).
        let given = given.unwrap_or_default();
        loop {
            let (left, owners) = {
                let state = self.rx.borrow_and_update().clone();
                (
                    drain_wait::pending(&state, &base),
                    drain_wait::new_owners(&state, &given),
                )
            };
            if left == 0 {
                return Ok(self.drained(moved, owners));
            }
            if Instant::now() >= self.deadline {
                return Err(self.late(format!(
                    "{left} of {} bucket watermarks have not moved past its last window yet",
                    base.len()
                )));
            }
            self.next_change().await?;
        }
    }

    fn drained(&self, moved: usize, owners: BTreeMap<NodeId, usize>) -> pb::WaitDrainedReply {
        let owners: Vec<String> = owners
            .iter()
            .map(|(o, n)| format!("node {o}: {n}"))
            .collect();
        pb::WaitDrainedReply {
            message: format!(
                "{} is drained: {moved} buckets handed over{}; the new owners collected past \
                 its last window (waited {:.1}s)",
                self.who(),
                if owners.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", owners.join(", "))
                },
                self.t0.elapsed().as_secs_f64()
            ),
            buckets: moved as u32,
            waited_ms: ms(self.t0.elapsed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replica whose Raft stopped drops its state's sender: the wait ends with an error
    /// instead of going round again on the closed channel, which answers at once (the loops
    /// around it spun until their deadline).
    #[tokio::test]
    async fn a_wait_on_a_stopped_replica_ends_instead_of_spinning() {
        let (tx, rx) = tokio::sync::watch::channel(Arc::new(ClusterState::default()));
        let t0 = Instant::now();
        let mut w = DrainWait {
            rx,
            t0,
            deadline: t0 + Duration::from_secs(90),
            id: 1,
            name: "n1".into(),
            addr: "n1:7000".into(),
        };
        // While the replica runs, a quarter second passes and nothing is wrong.
        w.next_change().await.expect("a running replica");
        assert!(t0.elapsed() >= Duration::from_millis(250));
        drop(tx);
        let e = w.next_change().await.expect_err("a stopped replica");
        assert_eq!(e.code(), tonic::Code::Unavailable);
        assert!(e.message().contains("replica stopped"), "{}", e.message());
    }
}
