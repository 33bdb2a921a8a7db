//! Errors of the cluster module.

use std::path::PathBuf;

/// Errors opening or using the Raft store.
///
/// Inside openraft's storage traits every error becomes an `io::Error` (that is what the traits
/// return, and openraft turns it into a fatal `StorageError`: a node whose disk fails must stop,
/// not carry on with a state it cannot persist). This type is for the code around them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    #[error("cluster configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
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
    #[error("raft: {0}")]
    Raft(String),
    #[error("no leader known")]
    NoLeader,
    #[error("this node has not joined a cluster yet")]
    NotReady,
    #[error("the command was rejected: {0}")]
    Rejected(#[from] super::state::Rejection),
    #[error("the node is shut down")]
    Shutdown,
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
