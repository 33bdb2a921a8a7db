//! The gRPC server of a node: the `Raft` service (openraft's RPCs) and the `Cluster` service
//! (hello, join, write forwarding, status), both behind the token check.
//!
//! The server is the node's edge: it listens before the node has its id (peers' `Hello`s
//! drive discovery), so it alone looks the [`Core`] up in its slot ([`Edge::core`]) and
//! answers `UNAVAILABLE` ("not running Raft yet") while there is none. `Hello` and `Status`
//! answer from what the node knows without one.

use std::sync::Arc;

use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::convert;
use super::error::Error;
use super::local::Local;
use super::rpc::{pb, CheckToken, TlsPem, MAX_MESSAGE};
use super::running::{Core, CoreSlot};
use super::snapshot_stream::{self, SnapshotEnvelope};
use super::state::{Command, Response as CmdResponse};
use super::TypeConfig;

/// A connection a node serves: a TCP stream, or the simulation's. (A trait with a blanket
/// impl, so that `serve` and `Node::start_on` name one bound.)
pub(crate) trait Conn:
    tokio::io::AsyncRead
    + tokio::io::AsyncWrite
    + tonic::transport::server::Connected<ConnectInfo: Clone + Send + Sync + 'static>
    + Unpin
    + Send
    + 'static
{
}

impl<T> Conn for T where
    T: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected<ConnectInfo: Clone + Send + Sync + 'static>
        + Unpin
        + Send
        + 'static
{
}

/// The error of accepting a connection.
pub(crate) type AcceptError = Box<dyn std::error::Error + Send + Sync>;

/// Starts serving the connections of `incoming` (a TCP listener's, or the simulation's)
/// until `stop` is cancelled.
pub(crate) fn serve<I, IO, E>(
    edge: Edge,
    incoming: I,
    tls: Option<TlsPem>,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, Error>
where
    I: futures::Stream<Item = Result<IO, E>> + Send + 'static,
    IO: Conn,
    E: Into<AcceptError>,
{
    let check = CheckToken::new(edge.local.cluster.token.as_ref());
    let raft_svc = pb::raft_server::RaftServer::new(RaftService { edge: edge.clone() })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let cluster_svc = pb::cluster_server::ClusterServer::new(ClusterService { edge })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut builder = tonic::transport::Server::builder().tcp_nodelay(true);
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls.server_config())
            .map_err(|e| Error::Tls(e.to_string()))?;
    }
    let router = builder
        .add_service(tonic::service::interceptor::InterceptedService::new(
            raft_svc,
            check.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            cluster_svc,
            check,
        ));
    Ok(tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "gRPC server failed");
        }
    }))
}

fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(json).map_err(|e| Status::invalid_argument(format!("bad message: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Response<pb::RaftMessage>, Status> {
    let json = serde_json::to_vec(v).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(pb::RaftMessage {
        json,
        data: Vec::new(),
    }))
}

/// What both services serve from: the node before it has an id, and the slot its core
/// appears in.
#[derive(Clone)]
pub(crate) struct Edge {
    pub local: Arc<Local>,
    pub core: CoreSlot,
}

impl Edge {
    /// The core, if the node has one yet.
    fn running(&self) -> Option<Arc<Core>> {
        self.core.current()
    }

    /// The core, or `UNAVAILABLE` while discovery has not returned the node id.
    fn core(&self) -> Result<Arc<Core>, Status> {
        self.running()
            .ok_or_else(|| Status::unavailable("this node is not running Raft (yet)"))
    }
}

/// The leader's [`super::network::ACK_AGE`], if it sent one (at most an hour: a bigger
/// value says as much as that).
fn ack_age<T>(req: &Request<T>) -> Option<std::time::Duration> {
    let ms: u64 = req
        .metadata()
        .get(super::network::ACK_AGE)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Duration::from_millis(ms.min(3_600_000)))
}

fn fatal<E: std::fmt::Display>(e: E) -> Status {
    Status::unavailable(format!("raft stopped: {e}"))
}

struct RaftService {
    edge: Edge,
}

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let core = self.edge.core()?;
        let raft = &core.raft;
        let rpc: AppendEntriesRequest<TypeConfig> = decode(&req.get_ref().json)?;
        let ack_age = ack_age(&req);
        let leader_commit = rpc.leader_commit.as_ref().map(|c| c.index);
        let resp = raft.append_entries(rpc).await.map_err(fatal)?;
        if !matches!(resp, openraft::raft::AppendEntriesResponse::HigherVote(_)) {
            core.note_leader_commit(leader_commit);
            // A current leader reached us: we are part of the cluster, as of when it last
            // heard us (see `network::ACK_AGE`).
            core.touch_contact_ago(ack_age);
        }
        encode(&resp)
    }

    async fn vote(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let core = self.edge.core()?;
        let raft = &core.raft;
        let rpc: VoteRequest<TypeConfig> = decode(&req.get_ref().json)?;
        encode(&raft.vote(rpc).await.map_err(fatal)?)
    }

    async fn pre_vote(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let core = self.edge.core()?;
        let raft = &core.raft;
        let rpc: VoteRequest<TypeConfig> = decode(&req.get_ref().json)?;
        encode(&raft.pre_vote(rpc).await.map_err(fatal)?)
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let core = self.edge.core()?;
        let raft = &core.raft;
        let msg = req.into_inner();
        let env: SnapshotEnvelope = decode(&msg.json)?;
        let snapshot = openraft::storage::Snapshot {
            meta: env.meta,
            snapshot: msg.data,
        };
        let resp = raft
            .install_full_snapshot(env.vote, snapshot)
            .await
            .map_err(fatal)?;
        core.touch_contact();
        encode(&resp)
    }

    async fn transfer_leader(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let core = self.edge.core()?;
        let raft = &core.raft;
        let rpc: TransferLeaderRequest<TypeConfig> = decode(&req.get_ref().json)?;
        encode(&raft.handle_transfer_leader(rpc).await.map_err(fatal)?)
    }

    /// The snapshot in chunks ([`snapshot_stream`]), installed once whole.
    async fn stream_snapshot(
        &self,
        req: Request<tonic::Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let core = self.edge.core()?;
        let raft = &core.raft;
        let r = snapshot_stream::assemble(req.into_inner(), snapshot_stream::MAX_SNAPSHOT).await?;
        tracing::info!(bytes = r.data.len(), chunks = r.chunks, "snapshot received");
        let snapshot = openraft::storage::Snapshot {
            meta: r.envelope.meta,
            snapshot: r.data,
        };
        let resp = raft
            .install_full_snapshot(r.envelope.vote, snapshot)
            .await
            .map_err(fatal)?;
        core.touch_contact();
        encode(&resp)
    }
}

struct ClusterService {
    edge: Edge,
}

pub(crate) fn members_pb(local: &Local) -> Vec<pb::Member> {
    let state = local.state.borrow().clone();
    state
        .members
        .nodes
        .values()
        .map(|m| {
            let buckets = state
                .vcenters
                .values()
                .map(|v| v.owned_by(m.id).len() as u32)
                .sum();
            convert::member_pb(m, buckets)
        })
        .collect()
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn hello(
        &self,
        _req: Request<pb::HelloRequest>,
    ) -> Result<Response<pb::HelloReply>, Status> {
        let core = self.edge.running();
        let initialized = match &core {
            Some(c) => c.raft.is_initialized().await.unwrap_or(false),
            None => false,
        };
        let local = &self.edge.local;
        Ok(Response::new(pb::HelloReply {
            name: local.name.clone(),
            addr: local.advertise.clone(),
            incarnation: local.incarnation,
            node_id: core.map(|c| c.id),
            initialized,
            members: members_pb(local),
            vcenters: Some(pb::ConfiguredVcenters {
                names: local.vcenters.clone(),
            }),
        }))
    }

    async fn join(&self, req: Request<pb::JoinRequest>) -> Result<Response<pb::JoinReply>, Status> {
        let req = req.into_inner();
        tracing::info!(name = %req.name, addr = %req.addr, "join request");
        let cmd = Command::RegisterNode {
            name: req.name,
            addr: req.addr,
            incarnation: req.incarnation,
        };
        let core = self.edge.core()?;
        match core.try_write(&cmd, req.hops).await? {
            CmdResponse::Registered { id, replaced, .. } => {
                tracing::info!(id, ?replaced, "node registered");
                core.kick.notify_one();
                Ok(Response::new(pb::JoinReply { node_id: id }))
            }
            CmdResponse::Rejected(r) => Err(r.into()),
            other => Err(Status::internal(format!("unexpected answer {other:?}"))),
        }
    }

    async fn write(
        &self,
        req: Request<pb::WriteRequest>,
    ) -> Result<Response<pb::WriteReply>, Status> {
        let req = req.into_inner();
        let cmd: Command = decode(&req.command)?;
        let resp = self.edge.core()?.try_write(&cmd, req.hops).await?;
        let response = serde_json::to_vec(&resp).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::WriteReply { response }))
    }

    async fn status(
        &self,
        req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusReply>, Status> {
        let only_this_node = req.get_ref().local;
        let (local, core) = (&self.edge.local, self.edge.running());
        let state = local.state.borrow().clone();
        let mut reply = pb::StatusReply {
            node_id: core.as_ref().map_or(0, |c| c.id),
            members: members_pb(local),
            vcenters: state
                .vcenters
                .iter()
                .map(|(name, v)| {
                    let mut owned: std::collections::HashMap<u64, u32> = Default::default();
                    for o in v.owners.iter().flatten() {
                        *owned.entry(*o).or_default() += 1;
                    }
                    let ranges = owned
                        .keys()
                        .map(|&id| (id, ranges(&v.owned_by(id))))
                        .collect();
                    let stream = crate::contract::bucket_of(name, crate::contract::EVENTS_ID);
                    pb::VcenterBuckets {
                        vcenter: name.clone(),
                        unassigned: v.owners.iter().filter(|o| o.is_none()).count() as u32,
                        owned,
                        ranges,
                        events_key: v.events.map(|p| p.key),
                        events_time: v.events.map(|p| p.time),
                        events_reader: v.owners.get(stream as usize).copied().flatten(),
                    }
                })
                .collect(),
            collecting: core.as_deref().is_some_and(super::assignment::collecting),
            failure_timeout_ms: local.cluster.failure_timeout.as_millis() as u64,
            ..Default::default()
        };
        reply.set_server(None);
        if let Some(core) = &core {
            let m = core.metrics();
            reply.leader_id = m.current_leader;
            reply.term = m.current_term;
            reply.last_log_index = m.last_log_index;
            reply.applied_index = m.last_applied.map(|l| l.index);
            reply.set_server(Some(m.state));
            let mem = m.membership_config.membership();
            reply.voters = mem.voter_ids().collect();
            reply.learners = mem.learner_ids().collect();
            reply.joint = mem.get_joint_config().len() > 1;
        }
        reply.nodes = if only_this_node {
            vec![super::admin::local_report(local, core.as_deref())]
        } else {
            super::admin::gather(local, core.as_deref()).await
        };
        Ok(Response::new(reply))
    }

    async fn admin(
        &self,
        req: Request<pb::AdminRequest>,
    ) -> Result<Response<pb::AdminReply>, Status> {
        let req = req.into_inner();
        let hops = req.hops;
        let op = super::admin::AdminOp::try_from(req)?;
        tracing::info!(?op, hops, "admin operation");
        let r = super::admin::run_op(&*self.edge.core()?, op, hops).await;
        match &r {
            Ok(reply) => tracing::info!(message = %reply.message, "admin operation done"),
            Err(s) => tracing::warn!(message = %s.message(), "admin operation failed"),
        }
        r.map(Response::new)
    }

    async fn wait_drained(
        &self,
        req: Request<pb::WaitDrainedRequest>,
    ) -> Result<Response<pb::WaitDrainedReply>, Status> {
        let req = req.into_inner();
        let buckets = convert::watched(&req)?;
        let timeout = std::time::Duration::from_millis(req.timeout_ms.max(1));
        super::admin::wait_drained(&*self.edge.core()?, &req.node, buckets, timeout)
            .await
            .map(Response::new)
    }
}

/// `0-340,700-712`: ascending buckets as ranges.
pub(crate) fn ranges(buckets: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < buckets.len() {
        let start = buckets[i];
        let mut end = start;
        while i + 1 < buckets.len() && buckets[i + 1] == end + 1 {
            i += 1;
            end = buckets[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}
