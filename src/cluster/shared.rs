//! What the parts of a running node share ([`Shared`]), and the write path they all use
//! (local on the leader, else forwarded; retried the same way everywhere).
//!
//! Its own module so that the node, its gRPC server, the controller, the admin operations
//! and the collector's assignment depend on it and not on one another: it imports none of
//! them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::convert::WireError;
use super::error::Error;
use super::rpc::{self, pb, Peers};
use super::state::{ClusterState, Command, Response};
use super::store::{LogStore, StateMachineStore};
use super::{NodeId, Raft};
use crate::config::ClusterConfig;

/// How long a forwarded or local write may take before the caller retries.
const WRITE_ATTEMPT: Duration = Duration::from_secs(2);
/// What every part of a running node shares (server handlers, controller, assignment,
/// admin operations): its identity and config, the Raft handle once it runs, the replica,
/// liveness, and the task registry.
pub(crate) struct Shared {
    pub name: String,
    pub advertise: String,
    pub incarnation: u64,
    pub cluster: ClusterConfig,
    pub vcenters: Vec<String>,
    pub peers: Arc<Peers>,
    pub(super) raft: RwLock<Option<Raft>>,
    pub(super) id: OnceLock<NodeId>,
    pub state: watch::Receiver<Arc<ClusterState>>,
    /// When this node last accepted an AppendEntries (or snapshot) from a leader.
    pub(super) last_contact: Mutex<Option<Instant>>,
    /// Wakes the controller early (a join, a leadership change).
    pub kick: Notify,
    pub cancel: CancellationToken,
    /// The stores until Raft takes them; the log store handle until shutdown.
    pub(super) stores: Mutex<Option<(LogStore, StateMachineStore)>>,
    pub(super) log: Mutex<Option<LogStore>>,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(super) ready: watch::Sender<Option<NodeId>>,
    /// The collector's last cycle per vCenter (data plane figures, never replicated).
    pub stats: Mutex<BTreeMap<String, pb::CycleReport>>,
}

impl Shared {
    /// The running Raft, if this node has one yet.
    pub fn raft(&self) -> Option<Raft> {
        self.raft.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn id(&self) -> Option<NodeId> {
        self.id.get().copied()
    }

    pub fn touch_contact(&self) {
        *self.last_contact.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    pub fn since_contact(&self) -> Option<Duration> {
        self.last_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    pub(super) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(h);
    }

    /// The leader's id and address as this node knows them.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let raft = self.raft()?;
        let m = super::metrics(&raft);
        let id = m.current_leader?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
            .or_else(|| {
                self.state
                    .borrow()
                    .members
                    .nodes
                    .get(&id)
                    .map(|n| n.addr.clone())
            })?;
        Some((id, addr))
    }

    /// One attempt at a write: locally if this node leads, else forwarded to the leader.
    pub async fn try_write(&self, cmd: &Command, hops: u32) -> Result<Response, Error> {
        let raft = self.raft().ok_or(Error::NotReady)?;
        let (leader, addr) = self.leader().ok_or(Error::NoLeader)?;
        if Some(leader) == self.id() {
            return match tokio::time::timeout(WRITE_ATTEMPT, raft.client_write(cmd.clone())).await {
                Err(_) => Err(Error::Timeout {
                    addr: self.advertise.clone(),
                    timeout: WRITE_ATTEMPT,
                }),
                Ok(Ok(r)) => Ok(r.data),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                    Err(Error::NoLeader)
                }
                Ok(Err(RaftError::APIError(e))) => Err(e.into()),
                Ok(Err(RaftError::Fatal(_))) => Err(Error::Shutdown),
            };
        }
        if hops >= 2 {
            return Err(Error::NoLeader);
        }
        let mut client = self.peers.cluster(&addr)?;
        // The Raft log entry payload: serde_json, as openraft stores it (see the proto).
        let command = serde_json::to_vec(cmd).map_err(|source| WireError::Json {
            field: "WriteRequest.command",
            source,
        })?;
        let req = pb::WriteRequest {
            command,
            hops: hops + 1,
        };
        let reply = rpc::call(&addr, WRITE_ATTEMPT, req, |r| async move {
            client.write(r).await
        })
        .await?;
        serde_json::from_slice(&reply.response).map_err(|source| {
            WireError::Json {
                field: "WriteReply.response",
                source,
            }
            .into()
        })
    }

    /// Writes `cmd` through the leader, retrying while there is no leader or it is
    /// unreachable, for up to `timeout`. Every command of the state machine is idempotent, so
    /// a retry of a write whose answer was lost is harmless.
    pub async fn write(&self, cmd: Command, timeout: Duration) -> Result<Response, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.cancel.is_cancelled() {
                return Err(Error::Shutdown);
            }
            let err = match self.try_write(&cmd, 0).await {
                Ok(r) => return Ok(r),
                Err(e) if retryable(&e) => e,
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Errors after which a write may succeed if tried again (leader election, a restart).
pub(crate) fn retryable(e: &Error) -> bool {
    match e {
        Error::NoLeader | Error::NotReady | Error::Timeout { .. } => true,
        Error::Rpc { status, .. } => matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        _ => false,
    }
}
