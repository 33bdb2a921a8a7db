//! openraft's network over gRPC: one [`RaftClient`] per target on the peer's reused channel.
//!
//! Requests and responses are openraft's own types in JSON (see proto/vcollect.proto). Every
//! call is bounded by openraft's deadline for it (`RPCOption::hard_ttl`). Errors are mapped so
//! that openraft backs off: a peer that cannot be reached, times out or is not running Raft
//! (yet) is `Unreachable`; an undecodable answer is a `Network` error.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::rpc::{self, pb, Peers, RaftClient};
use super::{NodeId, SnapshotMeta, TypeConfig, Vote};

/// The snapshot RPC's JSON part (the data travels raw beside it).
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotEnvelope {
    pub vote: Vote,
    pub meta: SnapshotMeta,
}

/// Creates a [`Connection`] per replication target.
pub struct NetworkFactory {
    peers: Arc<Peers>,
}

impl NetworkFactory {
    pub fn new(peers: Arc<Peers>) -> Self {
        NetworkFactory { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            target,
            addr: node.addr.clone(),
            client: self.peers.raft(&node.addr).map_err(|e| e.to_string()),
        }
    }
}

/// The Raft RPCs to one peer.
pub struct Connection {
    target: NodeId,
    addr: String,
    client: Result<RaftClient, String>,
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
        let res = rpc::call(&self.addr, ttl, msg, |r| async move {
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
            r = self.send(Method::Snapshot, &env, snapshot.snapshot, ttl) => {
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
