//! A cluster node: the Raft store, the gRPC server, the Raft instance, bootstrap or join, and
//! the controller task.
//!
//! # Bootstrap of identical nodes
//!
//! Every node has the same `[cluster] peers` and `bootstrap_expect`. The *bootstrap set* is the
//! first `bootstrap_expect` peers in sorted order: the same list on every node. A pristine node
//! (no saved id) says `Hello` to every peer until one of these happens:
//!
//! * a peer reports a formed cluster (its replicated state has members): if one of those members
//!   is this very node (same name and incarnation: it crashed after the cluster formed but
//!   before it saved its id) it takes that id; otherwise it `Join`s through that peer, and
//!   while the joins fail (no leader just now) it tries again, never the rule below: a pristine
//!   node of the bootstrap set that sees a formed cluster is one whose disk was wiped, and
//!   forming would make it its old voter with an empty log;
//! * this node is in the bootstrap set and every member of the set has answered: it takes the id
//!   `1 + its position in the set`, saves it, and calls `initialize()` with the whole set. Every
//!   node of the set calls it with the identical set, which is safe (Raft elects one leader).
//!   It then proposes `Bootstrap` (names, addresses, incarnations learnt from the `Hello`s)
//!   until the state has members; duplicates are rejected harmlessly by the state machine.
//!
//! The id and the set's members are saved together, in one atomic write, before
//! `initialize()`. A node restarted with a saved id starts Raft; if it saved bootstrap members
//! and its replica has no members yet, it calls `initialize()` and proposes `Bootstrap` again
//! (both harmless when already done), so the cluster forms whichever step every bootstrap node
//! crashed at (tests/cluster_process.rs kills them at each with `VCOLLECT_TEST_CRASH_AT`).
//!
//! A node outside the bootstrap set only ever joins. A node with a saved id just starts Raft
//! and is replicated to as itself.
//!
//! # Join
//!
//! `Join` reaches the leader (a follower forwards the `RegisterNode` write), which answers the
//! new id at once; the controller then adds the node as a learner and promotes it while the
//! voters are fewer than `max_voters`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use openraft::error::{InitializeError, RaftError};
use openraft::BasicNode;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::assignment::ClusterAssignment;
use super::cycles::CycleReports;
use super::error::Error;
use super::local::Local;
use super::network::NetworkFactory;
use super::rpc::{self, pb, ClientOptions, Peers};
use super::running::{Core, CoreSlot};
use super::server::Edge;
use super::state::{ClusterState, Command, NewNode, Response};
use super::store;
use super::{NodeId, Raft};
use crate::config::{ClusterConfig, Config};

/// Pause between discovery rounds.
const DISCOVERY_ROUND: Duration = Duration::from_millis(300);

/// A running cluster node.
pub struct Node {
    local: Arc<Local>,
    /// The core, once discovery has returned the id and Raft runs.
    core: CoreSlot,
    local_addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    server_stop: CancellationToken,
}

impl Node {
    /// Opens the store under `node.data_dir`, starts the gRPC server on `node.listen`, and
    /// in the background finds or forms the cluster (see the module doc) and runs Raft and the
    /// controller. Returns as soon as the server listens; [`Node::wait_ready`] waits for the id.
    pub async fn start(cfg: &Config) -> Result<Node, Error> {
        let listener = tokio::net::TcpListener::bind(&cfg.node.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: cfg.node.listen.clone(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: cfg.node.listen.clone(),
            source,
        })?;
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        Node::start_on(cfg, incoming, local_addr, None).await
    }

    /// [`Node::start`] on a network of the caller's: the connections `incoming` accepts at
    /// `local_addr`, and channels to peers made by `dial` (`None`: TCP). The simulation's.
    pub(crate) async fn start_on<I, IO, E>(
        cfg: &Config,
        incoming: I,
        local_addr: SocketAddr,
        dial: Option<super::rpc::Dial>,
    ) -> Result<Node, Error>
    where
        I: futures::Stream<Item = Result<IO, E>> + Send + 'static,
        IO: super::server::Conn,
        E: Into<super::server::AcceptError>,
    {
        let cc = cfg
            .cluster
            .clone()
            .ok_or_else(|| Error::Config("no [cluster] section".into()))?;
        let advertise = advertise_addr(cfg)?;
        let data_dir = cfg.node.data_dir.clone();
        let (log, sm) = super::runtime::blocking(move || store::open(&data_dir)).await??;
        let state = sm.subscribe();
        let incarnation = log.incarnation()?;
        let saved_id = log.node_id()?;
        let saved_bootstrap = log.bootstrap_members()?;
        let opts = ClientOptions {
            dial,
            ..ClientOptions::from_config(&cc)?
        };
        let tls = opts.tls.clone();
        let (core_tx, core) = CoreSlot::new();
        let local = Arc::new(Local {
            name: cfg.node.name.clone(),
            advertise,
            incarnation,
            vcenters: cfg.vcenters.iter().map(|v| v.name.clone()).collect(),
            peers: Arc::new(Peers::new(opts)),
            state,
            cancel: CancellationToken::new(),
            cycles: CycleReports::default(),
            stores: Mutex::new(Some((log.clone(), sm))),
            log: Mutex::new(Some(log)),
            tasks: Mutex::new(Vec::new()),
            cluster: cc,
        });

        let server_stop = CancellationToken::new();
        let edge = Edge {
            local: local.clone(),
            core: core.clone(),
        };
        let server = super::server::serve(edge, incoming, tls, server_stop.clone())?;
        tracing::info!(name = %local.name, addr = %local.advertise, listen = %local_addr,
            saved_id = ?saved_id, "cluster node listening");

        let task_local = local.clone();
        local.spawn(async move {
            let local = task_local;
            let res = match saved_id {
                Some(id) => {
                    run_raft(&local, id, unfinished(&local, saved_bootstrap), core_tx).await
                }
                None => match discover(&local).await {
                    Ok(Some((id, boot))) => run_raft(&local, id, boot, core_tx).await,
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = res {
                tracing::error!(error = %e, "cluster node failed to start Raft");
            }
        });

        Ok(Node {
            local,
            core,
            local_addr,
            server: Some(server),
            server_stop,
        })
    }

    /// The address the gRPC server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's id, once it has one.
    pub fn id(&self) -> Option<NodeId> {
        self.core.current().map(|c| c.id)
    }

    /// This node's incarnation, drawn when its data directory was made: what tells a machine
    /// rebuilt under its old name from its old self.
    pub fn incarnation(&self) -> u64 {
        self.local.incarnation
    }

    /// The Raft instance, once running.
    pub fn raft(&self) -> Option<Raft> {
        self.core.current().map(|c| c.raft.clone())
    }

    /// The local replica of the replicated state (every applied change).
    pub fn state(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.local.state.clone()
    }

    /// Waits until this node has its id and runs Raft.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<NodeId, Error> {
        Ok(self.core.wait(timeout).await?.id)
    }

    /// What the collector asks: which buckets, from which watermark; commits watermarks.
    pub fn assignment(&self) -> Arc<ClusterAssignment> {
        Arc::new(ClusterAssignment::new(
            self.local.clone(),
            self.core.clone(),
        ))
    }

    /// A cheap handle for what runs beside the node (the agent's signal handler).
    pub fn handle(&self) -> Handle {
        Handle {
            local: self.local.clone(),
            core: self.core.clone(),
        }
    }

    /// Writes a command through the leader (waiting up to `timeout` for this node to run
    /// Raft, and retrying while there is no leader).
    pub async fn write(&self, cmd: Command, timeout: Duration) -> Result<Response, Error> {
        let t0 = Instant::now();
        let core = self.core.wait(timeout).await?;
        core.write(cmd, timeout.saturating_sub(t0.elapsed())).await
    }

    /// Stops everything: the controller, Raft, the gRPC server; flushes the store. No
    /// leadership transfer here (graceful leave is the admin CLI's `leave`).
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.local.cancel.cancel();
        if let Some(core) = self.core.current() {
            let _ = tokio::time::timeout(Duration::from_secs(5), core.raft.shutdown()).await;
        }
        let tasks: Vec<_> =
            std::mem::take(&mut *self.local.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        self.server_stop.cancel();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.local
            .stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let log = self
            .local
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(log) = log {
            super::runtime::blocking(move || log.close()).await??;
        }
        tracing::info!(name = %self.local.name, "cluster node stopped");
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.local.cancel.cancel();
        self.server_stop.cancel();
    }
}

/// A handle on a running node, for the agent's graceful stop.
#[derive(Clone)]
pub struct Handle {
    local: Arc<Local>,
    core: CoreSlot,
}

impl Handle {
    /// If this node leads, hands leadership to the most caught-up voter that answers and
    /// waits (up to `timeout`) until another node leads. Returns the new leader, `None` when
    /// this node did not lead (or was alone).
    pub async fn step_down(&self, timeout: Duration) -> Result<Option<NodeId>, Error> {
        match self.core.current() {
            Some(core) => super::admin::step_down(&core, timeout).await,
            None => Ok(None),
        }
    }

    /// Keeps this node's Raft figures in the self-metrics (`crate::telemetry`) until the
    /// node shuts down.
    pub fn export_metrics(&self) {
        let core = self.core.clone();
        tokio::spawn(super::telemetry::run(
            self.local.cancel.clone(),
            move || core.current().map(|c| c.raft.clone()),
            self.local.state.clone(),
        ));
    }
}

/// The address peers use: `node.advertise`, or `node.listen` when it names a real host.
fn advertise_addr(cfg: &Config) -> Result<String, Error> {
    if let Some(a) = &cfg.node.advertise {
        return Ok(a.clone());
    }
    let listen = &cfg.node.listen;
    match listen.parse::<SocketAddr>() {
        Ok(sa) if sa.ip().is_unspecified() => Err(Error::Config(format!(
            "node.listen is {listen}: set node.advertise to the address peers reach this node at"
        ))),
        _ => Ok(listen.clone()),
    }
}

/// The first `expect` peers in sorted order: the nodes that initialise the cluster.
pub fn bootstrap_set(peers: &[String], expect: usize) -> Vec<String> {
    let mut v = peers.to_vec();
    v.sort();
    v.dedup();
    v.truncate(expect);
    v
}

/// Finds this pristine node's place: returns its id and, when it bootstraps, the first
/// members. `None` when shut down meanwhile.
async fn discover(local: &Arc<Local>) -> Result<Option<(NodeId, Option<Vec<NewNode>>)>, Error> {
    let cc = &local.cluster;
    let mut peers = cc.peers.clone();
    if peers.is_empty() {
        peers.push(local.advertise.clone());
    }
    let set = bootstrap_set(&peers, cc.bootstrap_expect);
    let me = NewNode {
        id: 0,
        name: local.name.clone(),
        addr: local.advertise.clone(),
        incarnation: local.incarnation,
    };
    let mut last_log = Instant::now() - Duration::from_secs(60);
    loop {
        if local.cancel.is_cancelled() {
            return Ok(None);
        }
        let replies = hello_peers(local, &peers).await;
        if let Some(id) = rejoin_or_join(local, &replies).await? {
            return Ok(Some((id, None)));
        }
        let quiet = last_log.elapsed() < Duration::from_secs(5);
        match bootstrap_members(&set, &me, &replies) {
            Bootstrap::Form(id, nodes) => {
                tracing::info!(
                    id,
                    members = set.len(),
                    "all bootstrap peers answered; forming the cluster"
                );
                save_bootstrap(local, id, nodes.clone()).await?;
                crash_point(Step::SavedId).await;
                return Ok(Some((id, Some(nodes))));
            }
            _ if quiet => {}
            Bootstrap::Joining => {
                last_log = Instant::now();
                tracing::info!("a formed cluster answered but took no join yet; retrying");
            }
            Bootstrap::Waiting { answered } => {
                last_log = Instant::now();
                tracing::info!(
                    answered,
                    expected = set.len(),
                    "waiting for the bootstrap peers to answer"
                );
            }
            Bootstrap::NotInSet => {
                last_log = Instant::now();
                tracing::info!("not in the bootstrap set; waiting for a formed cluster to join");
            }
        }
        tokio::select! {
            _ = local.cancel.cancelled() => return Ok(None),
            _ = tokio::time::sleep(DISCOVERY_ROUND) => {}
        }
    }
}

/// Says hello to every peer but this node, at once; the answers by address (a peer that
/// refuses our token is logged as an error: it will never answer).
async fn hello_peers(local: &Arc<Local>, peers: &[String]) -> BTreeMap<String, pb::HelloReply> {
    let hello = local.hello();
    let others: Vec<&String> = peers.iter().filter(|p| **p != local.advertise).collect();
    let calls = others.iter().map(|addr| {
        let hello = hello.clone();
        let client = local.peers.cluster(addr);
        async move {
            let mut client = client?;
            let r = rpc::call(addr, Duration::from_secs(1), hello, |r| async move {
                client.hello(r).await
            })
            .await;
            r.map(|r| ((*addr).clone(), r))
        }
    });
    let mut replies = BTreeMap::new();
    for r in futures::future::join_all(calls).await {
        match r {
            Ok((addr, reply)) => {
                replies.insert(addr, reply);
            }
            Err(e @ Error::Unauthenticated { .. }) => {
                tracing::error!(error = %e, "a peer refused our cluster token")
            }
            Err(e) => tracing::debug!(error = %e, "peer not answering yet"),
        }
    }
    replies
}

/// A formed cluster among the replies: take our id back if it knows us, else join it.
/// `None`: no formed cluster answered, or every join failed (retried next round).
async fn rejoin_or_join(
    local: &Arc<Local>,
    replies: &BTreeMap<String, pb::HelloReply>,
) -> Result<Option<NodeId>, Error> {
    for (addr, r) in replies.iter().filter(|(_, r)| !r.members.is_empty()) {
        if let Some(m) = r.members.iter().find(|m| {
            m.name == local.name
                && m.incarnation == local.incarnation
                && !matches!(
                    super::convert::member_state(m),
                    Ok(super::state::NodeState::Left)
                )
        }) {
            tracing::info!(id = m.id, via = %addr, "the cluster already knows this node");
            save_id(local, m.id).await?;
            return Ok(Some(m.id));
        }
        match join(local, addr).await {
            Ok(id) => {
                tracing::info!(id, via = %addr, "joined the cluster");
                save_id(local, id).await?;
                return Ok(Some(id));
            }
            Err(e) => tracing::warn!(via = %addr, error = %e, "join failed; retrying"),
        }
    }
    Ok(None)
}

/// What a pristine node does this round once no join succeeded.
#[derive(Debug, PartialEq, Eq)]
enum Bootstrap {
    /// Every node of the bootstrap set answered: form the cluster with them, as this id.
    Form(NodeId, Vec<NewNode>),
    /// A peer answered with a formed cluster (its replica has members), whose joins all failed
    /// this round (no leader just now): join it next round, never form another. A pristine
    /// node of the bootstrap set is one whose disk was wiped (a machine rebuilt under its old
    /// name); forming would give it its old id with an empty log, a voter that forgot what
    /// it voted and stored (seed 486 of the simulation).
    Joining,
    /// This node is in the set, but only `answered` of its nodes (itself included) did.
    Waiting { answered: usize },
    /// This node is not in the set: it waits for a formed cluster to join.
    NotInSet,
}

/// The bootstrap rule: the set's nodes take ids 1, 2, … in the set's (sorted) order, so
/// every bootstrap node computes the same first membership from the same answers. `me`:
/// this node (its `id` is ignored).
fn bootstrap_members(
    set: &[String],
    me: &NewNode,
    replies: &BTreeMap<String, pb::HelloReply>,
) -> Bootstrap {
    if replies.values().any(|r| !r.members.is_empty()) {
        return Bootstrap::Joining;
    }
    let Some(pos) = set.iter().position(|a| *a == me.addr) else {
        return Bootstrap::NotInSet;
    };
    let mut nodes = Vec::with_capacity(set.len());
    for (i, addr) in set.iter().enumerate() {
        let id = i as NodeId + 1;
        if i == pos {
            nodes.push(NewNode {
                id,
                name: me.name.clone(),
                addr: addr.clone(),
                incarnation: me.incarnation,
            });
        } else if let Some(r) = replies.get(addr) {
            nodes.push(NewNode {
                id,
                name: r.name.clone(),
                addr: addr.clone(),
                incarnation: r.incarnation,
            });
        }
    }
    if nodes.len() == set.len() {
        Bootstrap::Form(pos as NodeId + 1, nodes)
    } else {
        Bootstrap::Waiting {
            answered: nodes.len(),
        }
    }
}

async fn join(local: &Local, addr: &str) -> Result<NodeId, Error> {
    let mut client = local.peers.cluster(addr)?;
    let req = pb::JoinRequest {
        name: local.name.clone(),
        addr: local.advertise.clone(),
        incarnation: local.incarnation,
        hops: 0,
    };
    let r = rpc::call(addr, Duration::from_secs(5), req, |r| async move {
        client.join(r).await
    })
    .await?;
    Ok(r.node_id)
}

/// The bootstrap members this node saved, if its replica has no members yet: the cluster's
/// `Bootstrap` may never have been applied (every bootstrap node crashed before), so this node
/// calls `initialize()` again (refused harmlessly if it already did) and proposes `Bootstrap`
/// again (rejected harmlessly if the cluster already has members).
fn unfinished(local: &Local, saved: Option<Vec<NewNode>>) -> Option<Vec<NewNode>> {
    let nodes = saved?;
    if !local.state.borrow().members.nodes.is_empty() {
        return None;
    }
    tracing::info!(
        members = nodes.len(),
        "restarting a bootstrap that may not have finished"
    );
    Some(nodes)
}

async fn save_bootstrap(local: &Local, id: NodeId, nodes: Vec<NewNode>) -> Result<(), Error> {
    let log = local.log_store()?;
    super::runtime::blocking(move || log.save_bootstrap(id, &nodes)).await?
}

/// The steps of a bootstrap after which the crash tests stop the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The id and the first members are saved; `initialize()` not called yet.
    SavedId,
    /// `initialize()` returned; `Bootstrap` not proposed yet.
    Initialized,
    /// `Bootstrap` is applied (this node's proposal answered, or its replica has members).
    Bootstrapped,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::SavedId => "saved_id",
            Step::Initialized => "initialized",
            Step::Bootstrapped => "bootstrapped",
        }
    }
}

/// TEST ONLY: with `VCOLLECT_TEST_CRASH_AT=<step>` (`saved_id`, `initialized`,
/// `bootstrapped`) in its environment, the bootstrap stops for good right after that step
/// and says so on stderr, for tests/cluster_process.rs to SIGKILL the node there. It stops
/// rather than exits so that the other bootstrap nodes (whose discovery needs this one's
/// answers) reach the same step: then every node is killed at that very step. Never set it
/// in production.
async fn crash_point(step: Step) {
    if std::env::var("VCOLLECT_TEST_CRASH_AT").is_ok_and(|v| v == step.name()) {
        eprintln!(
            "VCOLLECT_TEST_CRASH_AT={}: bootstrap stopped here, waiting to be killed",
            step.name()
        );
        std::future::pending::<()>().await;
    }
}

async fn save_id(local: &Local, id: NodeId) -> Result<(), Error> {
    let log = local.log_store()?;
    super::runtime::blocking(move || log.save_node_id(id)).await?
}

/// openraft's timing from `[cluster]` (research §6: 100 / 300–600 ms gives ~1 s failover).
pub fn raft_config(cc: &ClusterConfig) -> Result<openraft::Config, Error> {
    let hb = cc.heartbeat_interval.as_millis() as u64;
    let et = cc.election_timeout.as_millis() as u64;
    openraft::Config {
        cluster_name: "vcollect".into(),
        heartbeat_interval: hb,
        election_timeout_min: et,
        election_timeout_max: et * 2,
        install_snapshot_timeout: 5_000,
        enable_pre_vote: Some(true),
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(2_000),
        max_in_snapshot_log_to_keep: 500,
        // A follower whose log went back (its VM restored from a snapshot or a backup) is
        // replicated to again from where its log now ends. Without it the leader kept the
        // follower's old match, every AppendEntries met a conflict below it and was sent
        // again, for ever: the follower answered heartbeats, counted as live and was handed
        // buckets, but its replica never caught up, so it never collected them (the
        // simulation's restored nodes, seed 98: samples never written).
        allow_log_reversion: Some(true),
        ..Default::default()
    }
    .validate()
    .map_err(|e| Error::Config(e.to_string()))
}

async fn run_raft(
    local: &Arc<Local>,
    id: NodeId,
    bootstrap: Option<Vec<NewNode>>,
    publish: watch::Sender<Option<Arc<Core>>>,
) -> Result<(), Error> {
    let (log, sm) = local.take_stores()?;
    let config = Arc::new(raft_config(&local.cluster)?);
    let network = NetworkFactory::new(
        local.peers.clone(),
        local.state.clone(),
        local.cluster.failure_timeout,
    );
    let raft = Raft::new(id, config, network, log, sm).await?;
    let core = Arc::new(Core::new(local.clone(), id, raft));
    // From here the edges serve Raft's RPCs: the other bootstrap nodes' votes may arrive
    // while `initialize()` runs.
    publish.send_replace(Some(core.clone()));
    if local.cancel.is_cancelled() {
        return Err(Error::Shutdown);
    }
    if let Some(nodes) = bootstrap {
        let members: BTreeMap<NodeId, BasicNode> = nodes
            .iter()
            .map(|n| (n.id, BasicNode::new(n.addr.clone())))
            .collect();
        match core.raft.initialize(members).await {
            Ok(()) => tracing::info!(id, "initialized the cluster membership"),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                tracing::info!(id, "already initialized")
            }
            Err(e) => return Err(e.into()),
        }
        crash_point(Step::Initialized).await;
        let bc = core.clone();
        local.spawn(async move {
            if propose_bootstrap(&bc, nodes).await {
                crash_point(Step::Bootstrapped).await;
            }
        });
    }
    local.spawn(super::controller::run(core));
    tracing::info!(id, name = %local.name, "raft running");
    Ok(())
}

/// Proposes the first members until the replicated state has them (true), or the node stops
/// (false).
async fn propose_bootstrap(core: &Core, nodes: Vec<NewNode>) -> bool {
    let local = &core.local;
    let mut state = local.state.clone();
    loop {
        if !state.borrow_and_update().members.nodes.is_empty() {
            return true;
        }
        let cmd = Command::Bootstrap {
            nodes: nodes.clone(),
        };
        match core.write(cmd, Duration::from_secs(5)).await {
            Ok(Response::Done) => {
                tracing::info!(members = nodes.len(), "cluster bootstrapped");
                return true;
            }
            Ok(r) => {
                tracing::debug!(response = ?r, "bootstrap already done");
                return true;
            }
            Err(Error::Shutdown) => return false,
            Err(e) => tracing::debug!(error = %e, "bootstrap proposal not accepted yet"),
        }
        // A closed channel (the state machine dropped) answers at once: only a change counts,
        // else the loop would spin without ever waiting.
        tokio::select! {
            _ = local.cancel.cancelled() => return false,
            Ok(()) = state.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(addr: &str) -> NewNode {
        NewNode {
            id: 0,
            name: "me".into(),
            addr: addr.into(),
            incarnation: 7,
        }
    }

    fn hello(name: &str, incarnation: u64) -> pb::HelloReply {
        pb::HelloReply {
            name: name.into(),
            incarnation,
            ..Default::default()
        }
    }

    #[test]
    fn the_bootstrap_set_forms_only_when_every_node_answered_with_ids_in_sorted_order() {
        let set = bootstrap_set(&["c:1".into(), "a:1".into(), "b:1".into(), "a:1".into()], 3);
        assert_eq!(set, ["a:1", "b:1", "c:1"]);
        let mut replies = BTreeMap::from([("a:1".to_string(), hello("na", 1))]);
        assert_eq!(
            bootstrap_members(&set, &me("b:1"), &replies),
            Bootstrap::Waiting { answered: 2 }
        );
        replies.insert("c:1".into(), hello("nc", 3));
        let Bootstrap::Form(id, nodes) = bootstrap_members(&set, &me("b:1"), &replies) else {
            panic!("every bootstrap node answered");
        };
        assert_eq!(id, 2);
        let named: Vec<(NodeId, &str, u64)> = nodes
            .iter()
            .map(|n| (n.id, n.name.as_str(), n.incarnation))
            .collect();
        assert_eq!(named, [(1, "na", 1), (2, "me", 7), (3, "nc", 3)]);
        assert_eq!(
            bootstrap_members(&set, &me("d:1"), &replies),
            Bootstrap::NotInSet
        );
    }

    /// A machine of the bootstrap set rebuilt under its old name is pristine again, and every
    /// peer answers; while the cluster has no leader its joins fail. It must wait for one,
    /// not form a cluster of its own as its old id.
    #[test]
    fn a_formed_cluster_among_the_answers_is_joined_never_formed_again() {
        let set = bootstrap_set(&["a:1".into(), "b:1".into(), "c:1".into()], 3);
        let mut formed = hello("nc", 3);
        formed.members.push(pb::Member {
            id: 1,
            name: "me".into(),
            ..Default::default()
        });
        let replies = BTreeMap::from([
            ("b:1".to_string(), hello("nb", 2)),
            ("c:1".to_string(), formed),
        ]);
        assert_eq!(
            bootstrap_members(&set, &me("a:1"), &replies),
            Bootstrap::Joining
        );
        assert_eq!(
            bootstrap_members(&set, &me("d:1"), &replies),
            Bootstrap::Joining
        );
    }
}
