//! What a node is before it has an id ([`Local`]): its name, address and configuration, its
//! peers' clients, the replica it reads, its stores until Raft takes them, its tasks.
//!
//! Discovery and bootstrap run on this alone. The Raft handle is not here: it lives in
//! [`super::running::Core`], which exists only once discovery has returned the node id, so nothing
//! inside the node ever has to ask whether Raft runs yet. Only the edges (the gRPC server, the
//! collector's assignment, the self-metrics) see a node without a core.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cycles::CycleReports;
use super::error::Error;
use super::rpc::{pb, Peers};
use super::state::ClusterState;
use super::store::{LogStore, StateMachineStore};
use crate::config::ClusterConfig;

/// A node's identity, configuration and local resources (see the module doc).
pub(crate) struct Local {
    pub name: String,
    pub advertise: String,
    pub incarnation: u64,
    pub cluster: ClusterConfig,
    /// The vCenters this node's own configuration names.
    pub vcenters: Vec<String>,
    pub peers: Arc<Peers>,
    /// The local replica of the replicated state.
    pub state: watch::Receiver<Arc<ClusterState>>,
    pub cancel: CancellationToken,
    /// The collector's last cycle per vCenter.
    pub cycles: CycleReports,
    /// The stores until Raft takes them; the log store handle until shutdown.
    pub(super) stores: Mutex<Option<(LogStore, StateMachineStore)>>,
    pub(super) log: Mutex<Option<LogStore>>,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Local {
    /// Runs `fut` until the node shuts down (the task is aborted then).
    pub(super) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(h);
    }

    /// The log store's handle, while the node has not shut down.
    pub(super) fn log_store(&self) -> Result<LogStore, Error> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(Error::Shutdown)
    }

    /// This node's `Hello`: who it is, for discovery and for the leader's vCenter question.
    pub(super) fn hello(&self) -> pb::HelloRequest {
        pb::HelloRequest {
            name: self.name.clone(),
            addr: self.advertise.clone(),
            incarnation: self.incarnation,
        }
    }

    /// The stores, once: Raft takes them when it starts.
    pub(super) fn take_stores(&self) -> Result<(LogStore, StateMachineStore), Error> {
        self.stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or(Error::Shutdown)
    }
}
