//! Errors of the cluster module, by layer.
//!
//! * the store (sled, the data directory): [`Error::CreateDir`] to [`Error::Corrupt`];
//! * Raft (openraft's own errors, typed): [`Error::Fatal`] to [`Error::Transfer`];
//! * the RPC edge (listening, TLS, a peer's answer or silence): [`Error::Listen`] to
//!   [`Error::BadAddress`];
//! * the node's lifecycle: [`Error::NoLeader`], [`Error::NotReady`], [`Error::Shutdown`].
//!
//! A domain refusal is not an `Error` of this node: the leader's rules refuse with a
//! [`super::decide::Refusal`], the state machine with a [`super::state::Rejection`]; both
//! reach a client as a `tonic::Status` through the one mapping in [`super::convert`], and a
//! client sees them as [`Error::Rpc`] with the status code that names the kind.

use std::path::PathBuf;
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};

use super::TypeConfig;

/// Errors opening or using the Raft store, running Raft, and talking to other nodes.
///
/// Inside openraft's storage traits every error becomes an `io::Error` (that is what the traits
/// return, and openraft turns it into a fatal `StorageError`: a node whose disk fails must stop,
/// not carry on with a state it cannot persist). This type is for the code around them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- store ----
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the raft store in {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("raft store: {0}")]
    Sled(#[from] sled::Error),
    #[error("raft store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt raft store record {key:?} in tree {tree}: {source}")]
    Corrupt {
        tree: &'static str,
        key: String,
        source: serde_json::Error,
    },
    /// A blocking store task (open, close, save the id) panicked or was cancelled.
    #[error("raft store task: {0}")]
    StoreTask(#[from] tokio::task::JoinError),
    #[error("cluster configuration: {0}")]
    Config(String),

    // ---- raft ----
    /// Raft stopped (a storage failure, or shut down).
    #[error("raft stopped: {0}")]
    Fatal(#[from] Fatal<TypeConfig>),
    #[error("cannot initialize the cluster membership: {0}")]
    Initialize(#[from] RaftError<TypeConfig, InitializeError<TypeConfig>>),
    /// A write or membership change openraft refused.
    #[error("raft refused the write: {0}")]
    Write(#[from] ClientWriteError<TypeConfig>),
    #[error("membership change {change}: {source}")]
    Membership {
        change: String,
        source: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
    },
    #[error("membership change {change}: not done within {after:?}")]
    MembershipTimeout { change: String, after: Duration },
    #[error(transparent)]
    Transfer(#[from] TransferError),

    // ---- RPC ----
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    /// A peer answered with this status (for a refusal: `FAILED_PRECONDITION`, `NOT_FOUND`).
    #[error("{addr}: {status}")]
    Rpc { addr: String, status: tonic::Status },
    #[error("{addr}: the node refused the cluster token (wrong or missing token)")]
    Unauthenticated { addr: String },
    #[error("{addr}: no answer within {timeout:?}")]
    Timeout {
        addr: String,
        timeout: std::time::Duration,
    },
    #[error("{addr}: bad address: {message}")]
    BadAddress { addr: String, message: String },
    /// A message this node sends or received could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] WireError),

    /// The leader failed a forwarded call (`source`: how, as the forwarding node saw it).
    #[error("the leader {addr}: {}", .source.explain())]
    Leader { addr: String, source: Box<Error> },

    // ---- lifecycle ----
    #[error("no leader known")]
    NoLeader,
    /// No leader known to the node that forwards an admin operation.
    #[error("no leader known to node {node} ({addr}): the cluster has no quorum now")]
    NoLeaderAt { node: super::NodeId, addr: String },
    #[error("no stable leader (the operation was forwarded twice)")]
    Unstable,
    #[error("this leader cannot confirm its leadership (no quorum answers)")]
    NoQuorum,
    /// `drain --wait` ran out of time (`what`: the condition still unmet).
    #[error("{who} is not drained after {after:.0?}: {what}")]
    NotDrained {
        who: String,
        after: Duration,
        what: String,
    },
    #[error("this node has not joined a cluster yet")]
    NotReady,
    #[error("the node is shut down")]
    Shutdown,
}

/// A message field that does not decode. Raised by the conversions in [`super::convert`]
/// (it lives here, with the other RPC errors, so that the conversions depend on the errors and
/// not the other way round).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Neither the typed field nor the old string names a value this release knows.
    #[error("{field}: unknown value {value:?}")]
    Unknown { field: &'static str, value: String },
    /// Neither the typed field nor the old one is set.
    #[error("{field}: missing")]
    Missing { field: &'static str },
    #[error("{field}: bad JSON: {source}")]
    Json {
        field: &'static str,
        source: serde_json::Error,
    },
}

/// Why a leadership transfer did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("raft stopped: {0}")]
    Stopped(#[from] Fatal<TypeConfig>),
    #[error(
        "leadership did not move to node {to} within {timeout:?} (current leader: {})",
        leader.map(|l| l.to_string()).unwrap_or_else(|| "none".into())
    )]
    Timeout {
        to: super::NodeId,
        timeout: Duration,
        leader: Option<super::NodeId>,
    },
}

impl Error {
    /// The error as one line for the operator, naming the cause. A peer's answer goes by its
    /// status code (see [`super::convert`]'s mapping), never by the message's words.
    pub fn explain(&self) -> String {
        match self {
            Error::Rpc { addr, status } => {
                let msg = status.message();
                match status.code() {
                    tonic::Code::FailedPrecondition | tonic::Code::NotFound => msg.to_string(),
                    // A status with a source was made here, from a local transport failure (no
                    // connection, reset): the node never answered. One a node sent has none.
                    tonic::Code::Unavailable if std::error::Error::source(status).is_some() => {
                        format!("{addr}: node unreachable ({msg})")
                    }
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                        format!("{addr}: {msg}")
                    }
                    tonic::Code::Unimplemented => format!(
                        "{addr}: the node does not know this request (older vcollect version?): \
                         {msg}"
                    ),
                    code => format!("{addr}: {msg} ({code:?})"),
                }
            }
            Error::Timeout { addr, timeout } => {
                format!("{addr}: node unreachable: no answer within {timeout:?}")
            }
            Error::Unauthenticated { addr } => format!(
                "{addr}: wrong cluster token: the node refused it (check --token-file / \
                 VCOLLECT_TOKEN_FILE)"
            ),
            e => e.to_string(),
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Corrupt { .. } => std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            e => std::io::Error::other(e),
        }
    }
}
