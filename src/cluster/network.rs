//! openraft's network over gRPC: one [`RaftClient`] per target on the peer's reused channel.
//!
//! Requests and responses are openraft's own types in JSON (see proto/vcollect.proto). Every
//! call is bounded by openraft's deadline for it (`RPCOption::hard_ttl`). Errors are mapped so
//! that openraft backs off: a peer that cannot be reached, times out or is not running Raft
//! (yet) is `Unreachable`; an undecodable answer is a `Network` error.
//!
//! Every AppendEntries (heartbeats included) tells the follower how long ago this leader last
//! had an answer from it ([`ACK_AGE`]). The follower counts its contact with the leader from
//! there, not from when the request arrived: over a link slower than the RPC deadline, or cut
//! one way, the follower still hears a leader that no longer hears it, and would go on
//! collecting the buckets the leader has meanwhile moved (the simulation found this; see
//! `cluster::assignment`). To a member its replica has marked `down`, the leader says at least
//! `failure_timeout` ([`told_age`]): it no longer counts that member, whatever it heard since.
//!
//! Snapshots go in chunks over `StreamSnapshot` ([`super::snapshot_stream`]); a peer that
//! answers `UNIMPLEMENTED` (release 0.1) gets them whole over the unary `InstallSnapshot`, and
//! the connection remembers it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::Error;
use super::rpc::{self, pb, Peers, RaftClient};
use super::snapshot_stream::{self, SnapshotEnvelope};
use super::state::{ClusterState, NodeState};
use super::{NodeId, TypeConfig, Vote};

/// The gRPC metadata key of an AppendEntries' acknowledgement age: milliseconds since the
/// leader last had an answer from the follower (since it started replicating to it, before
/// the first). Absent from a release-0.1 leader: the follower then counts from arrival.
pub const ACK_AGE: &str = "vcollect-ack-age-ms";

/// When each follower last answered an AppendEntries, kept across connections.
type Acks = Arc<Mutex<BTreeMap<NodeId, Instant>>>;

/// The [`ACK_AGE`] a leader tells a follower it last heard `heard` ago: that, or at least
/// `failure_timeout` when its replica has marked the follower `down`. A member marked down
/// owns nothing and stays down until it has answered steadily (`decide::liveness`), so what
/// the leader heard of it meanwhile must not keep it collecting. Without this (the simulation's
/// seed 572), a follower on a slow link whose heartbeats got through now and then was marked
/// down after 3 s without an answer, heard a fresh age from the next answered heartbeat, and
/// collected the buckets its replica still gave it (the log entries that moved them could not
/// get through) beside their new owners.
fn told_age(heard: Duration, down: bool, failure_timeout: Duration) -> Duration {
    if down {
        heard.max(failure_timeout)
    } else {
        heard
    }
}

/// Creates a [`Connection`] per replication target.
pub struct NetworkFactory {
    peers: Arc<Peers>,
    acks: Acks,
    /// The leader's replica: which members it has marked down.
    state: watch::Receiver<Arc<ClusterState>>,
    failure_timeout: Duration,
}

impl NetworkFactory {
    pub fn new(
        peers: Arc<Peers>,
        state: watch::Receiver<Arc<ClusterState>>,
        failure_timeout: Duration,
    ) -> Self {
        NetworkFactory {
            peers,
            acks: Acks::default(),
            state,
            failure_timeout,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        // Never answered yet: count from now, when replication to it starts.
        self.acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(target)
            .or_insert_with(Instant::now);
        Connection {
            target,
            addr: node.addr.clone(),
            client: self.peers.raft(&node.addr).map_err(|e| e.to_string()),
            unary_snapshots: false,
            acks: self.acks.clone(),
            state: self.state.clone(),
            failure_timeout: self.failure_timeout,
        }
    }
}

/// The Raft RPCs to one peer.
pub struct Connection {
    target: NodeId,
    addr: String,
    client: Result<RaftClient, String>,
    /// The peer has no `StreamSnapshot` (release 0.1): send snapshots whole.
    unary_snapshots: bool,
    acks: Acks,
    state: watch::Receiver<Arc<ClusterState>>,
    failure_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("node {target} at {addr}: {message}")]
struct NetErr {
    target: NodeId,
    addr: String,
    message: String,
}

enum Failure {
    Unreachable(NetErr),
    Network(NetErr),
}

impl Failure {
    fn rpc<E: std::error::Error>(self) -> RPCError<TypeConfig, E> {
        match self {
            Failure::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            Failure::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn streaming(self) -> StreamingError<TypeConfig> {
        match self {
            Failure::Unreachable(e) => StreamingError::Unreachable(Unreachable::new(&e)),
            Failure::Network(e) => StreamingError::Network(NetworkError::new(&e)),
        }
    }
}

impl Connection {
    fn err(&self, message: impl Into<String>) -> NetErr {
        NetErr {
            target: self.target,
            addr: self.addr.clone(),
            message: message.into(),
        }
    }

    async fn send<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        method: Method,
        req: &Req,
        data: Vec<u8>,
        ttl: Duration,
    ) -> Result<Resp, Failure> {
        let json =
            serde_json::to_vec(req).map_err(|e| Failure::Network(self.err(e.to_string())))?;
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(Failure::Unreachable(self.err(e.clone()))),
        };
        let msg = pb::RaftMessage { json, data };
        let ack_age = match method {
            Method::Append => self.ack_age(),
            _ => None,
        };
        let res = rpc::call(&self.addr, ttl, msg, |mut r| async move {
            if let Some(age) = ack_age {
                r.metadata_mut().insert(ACK_AGE, age);
            }
            let mut c = client;
            match method {
                Method::Append => c.append_entries(r).await,
                Method::Vote => c.vote(r).await,
                Method::PreVote => c.pre_vote(r).await,
                Method::Snapshot => c.install_snapshot(r).await,
                Method::Transfer => c.transfer_leader(r).await,
            }
        })
        .await;
        if matches!(method, Method::Append) && res.is_ok() {
            self.acks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(self.target, Instant::now());
        }
        self.reply(res)
    }

    /// [`ACK_AGE`] for the next AppendEntries to this peer ([`told_age`]).
    fn ack_age(&self) -> Option<tonic::metadata::AsciiMetadataValue> {
        let heard = {
            let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
            acks.get(&self.target)?.elapsed()
        };
        let down = self
            .state
            .borrow()
            .members
            .nodes
            .get(&self.target)
            .is_some_and(|m| m.state == NodeState::Down);
        let age = told_age(heard, down, self.failure_timeout);
        Some((age.as_millis() as u64).into())
    }

    /// Streams a snapshot in chunks; a peer without `StreamSnapshot` gets it whole with
    /// `InstallSnapshot` (and every later one too).
    async fn send_snapshot(
        &mut self,
        env: &SnapshotEnvelope,
        data: Vec<u8>,
        ttl: Duration,
    ) -> Result<SnapshotResponse<TypeConfig>, Failure> {
        if self.unary_snapshots {
            return self.send(Method::Snapshot, env, data, ttl).await;
        }
        let json =
            serde_json::to_vec(env).map_err(|e| Failure::Network(self.err(e.to_string())))?;
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(Failure::Unreachable(self.err(e.clone()))),
        };
        let data = Arc::new(data);
        let chunks = snapshot_stream::chunks(json, data.clone(), snapshot_stream::CHUNK);
        let res = rpc::call(&self.addr, ttl, chunks, |r| async move {
            let mut c = client;
            c.stream_snapshot(r).await
        })
        .await;
        match res {
            Err(Error::Rpc { status, .. }) if status.code() == tonic::Code::Unimplemented => {
                tracing::info!(target = self.target, addr = %self.addr,
                    "peer has no StreamSnapshot (release 0.1): sending the snapshot whole");
                self.unary_snapshots = true;
                let data = Arc::try_unwrap(data).unwrap_or_else(|shared| (*shared).clone());
                self.send(Method::Snapshot, env, data, ttl).await
            }
            res => self.reply(res),
        }
    }

    /// openraft's answer from a reply, or the failure that tells openraft what to do.
    fn reply<Resp: DeserializeOwned>(
        &self,
        res: Result<pb::RaftMessage, Error>,
    ) -> Result<Resp, Failure> {
        match res {
            Ok(reply) => serde_json::from_slice(&reply.json)
                .map_err(|e| Failure::Network(self.err(format!("bad reply: {e}")))),
            // Not reachable, not running Raft yet, shutting down, refused, or too slow: all
            // mean "try again later" to openraft, with backoff.
            Err(e @ (Error::Timeout { .. } | Error::Unauthenticated { .. })) => {
                Err(Failure::Unreachable(self.err(e.to_string())))
            }
            Err(Error::Rpc { status, .. }) => match status.code() {
                tonic::Code::InvalidArgument | tonic::Code::Internal => {
                    Err(Failure::Network(self.err(status.message().to_string())))
                }
                _ => Err(Failure::Unreachable(self.err(status.message().to_string()))),
            },
            Err(e) => Err(Failure::Unreachable(self.err(e.to_string()))),
        }
    }
}

#[derive(Clone, Copy)]
enum Method {
    Append,
    Vote,
    PreVote,
    Snapshot,
    Transfer,
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.send(Method::Append, &rpc, Vec::new(), option.hard_ttl())
            .await
            .map_err(Failure::rpc)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.send(Method::Vote, &rpc, Vec::new(), option.hard_ttl())
            .await
            .map_err(Failure::rpc)
    }

    /// The real pre-vote (openraft's default would grant every request).
    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.send(Method::PreVote, &rpc, Vec::new(), option.hard_ttl())
            .await
            .map_err(Failure::rpc)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, Vec<u8>>,
        cancel: impl std::future::Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let env = SnapshotEnvelope {
            vote,
            meta: snapshot.meta,
        };
        let ttl = option.hard_ttl();
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            r = self.send_snapshot(&env, snapshot.snapshot, ttl) => {
                r.map_err(Failure::streaming)
            }
        }
    }

    /// Leader transfer: the target runs `Raft::handle_transfer_leader`.
    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.send(Method::Transfer, &req, Vec::new(), option.hard_ttl())
            .await
            .map_err(Failure::rpc)
    }
}

#[cfg(test)]
mod tests {
    //! The fallback to the unary snapshot RPC, against a server that has no `StreamSnapshot`
    //! (as a release-0.1 node answers: `UNIMPLEMENTED`).
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tonic::{Request, Response, Status};

    use super::*;
    use crate::cluster::rpc::ClientOptions;
    use crate::cluster::snapshot_stream::CHUNK;

    #[derive(Clone, Default)]
    struct OldPeer {
        streamed: Arc<AtomicUsize>,
        unary_bytes: Arc<AtomicUsize>,
    }

    fn unimplemented<T>() -> Result<Response<T>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    #[tonic::async_trait]
    impl pb::raft_server::Raft for OldPeer {
        async fn append_entries(
            &self,
            _: Request<pb::RaftMessage>,
        ) -> Result<Response<pb::RaftMessage>, Status> {
            unimplemented()
        }
        async fn vote(
            &self,
            _: Request<pb::RaftMessage>,
        ) -> Result<Response<pb::RaftMessage>, Status> {
            unimplemented()
        }
        async fn pre_vote(
            &self,
            _: Request<pb::RaftMessage>,
        ) -> Result<Response<pb::RaftMessage>, Status> {
            unimplemented()
        }
        async fn install_snapshot(
            &self,
            req: Request<pb::RaftMessage>,
        ) -> Result<Response<pb::RaftMessage>, Status> {
            let msg = req.into_inner();
            let env: SnapshotEnvelope = serde_json::from_slice(&msg.json).unwrap();
            self.unary_bytes.fetch_add(msg.data.len(), Ordering::SeqCst);
            let resp = SnapshotResponse::<TypeConfig>::new(env.vote);
            Ok(Response::new(pb::RaftMessage {
                json: serde_json::to_vec(&resp).unwrap(),
                data: Vec::new(),
            }))
        }
        async fn transfer_leader(
            &self,
            _: Request<pb::RaftMessage>,
        ) -> Result<Response<pb::RaftMessage>, Status> {
            unimplemented()
        }
        async fn stream_snapshot(
            &self,
            _: Request<tonic::Streaming<pb::SnapshotChunk>>,
        ) -> Result<Response<pb::RaftMessage>, Status> {
            self.streamed.fetch_add(1, Ordering::SeqCst);
            unimplemented()
        }
    }

    #[tokio::test]
    async fn a_peer_without_stream_snapshot_gets_it_whole_and_is_remembered() {
        let peer = OldPeer::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(
                    pb::raft_server::RaftServer::new(peer.clone())
                        .max_decoding_message_size(rpc::MAX_MESSAGE),
                )
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let opts = ClientOptions::new(None, Duration::from_secs(2));
        let (_state_tx, state) = watch::channel(Arc::new(ClusterState::default()));
        let mut factory =
            NetworkFactory::new(Arc::new(Peers::new(opts)), state, Duration::from_secs(2));
        let mut conn = factory.new_client(2, &BasicNode::new(addr)).await;
        let size = 2 * CHUNK + 3;
        for round in 1..=2 {
            let snapshot = openraft::storage::Snapshot {
                meta: Default::default(),
                snapshot: vec![7u8; size],
            };
            let resp = conn
                .full_snapshot(
                    Vote::new(3, 1),
                    snapshot,
                    futures::future::pending(),
                    RPCOption::new(Duration::from_secs(5)),
                )
                .await
                .unwrap();
            assert_eq!(resp.vote, Vote::new(3, 1));
            assert_eq!(peer.unary_bytes.load(Ordering::SeqCst), round * size);
            // Asked once over the stream, then remembered.
            assert_eq!(peer.streamed.load(Ordering::SeqCst), 1);
            assert!(conn.unary_snapshots);
        }
        server.abort();
    }

    #[test]
    fn a_member_marked_down_is_told_it_was_not_heard_for_failure_timeout() {
        let ft = Duration::from_secs(3);
        let ms = Duration::from_millis;
        assert_eq!(told_age(ms(40), false, ft), ms(40));
        assert_eq!(told_age(ms(4000), false, ft), ms(4000));
        // Down: an answer a moment ago does not count until liveness marks it active.
        assert_eq!(told_age(ms(40), true, ft), ft);
        assert_eq!(told_age(ms(4000), true, ft), ms(4000));
    }
}
