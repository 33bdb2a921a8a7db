//! The control plane: which node collects which entities.
//!
//! The nodes form one Raft group (openraft). The replicated state ([`state::ClusterState`]) is
//! small: members, the shard map (1024 buckets per vCenter, one owner each) and the
//! watermarks (per vCenter, entity kind and bucket, the time up to which samples are in the
//! sink). It changes only through [`state::Command`]s in the Raft log; every node reads it from
//! its local replica ([`StateMachineStore::subscribe`]).
//!
//! * `shard`: the leader's minimal-movement planner (the entity → bucket hash is
//!   [`crate::contract::bucket_of`], shared with the collector);
//! * [`state`]: the state machine data, commands and responses (pure, deterministic), and
//!   [`state::precondition`]: the conditions a command carries, re-checked at apply;
//! * `decide`: every leader decision as a pure function (liveness, membership, rebalance,
//!   drain, undrain, remove, transfer, the drain-wait predicates);
//! * `store`: openraft's log storage and state machine on sled;
//! * [`rpc`], `network`, `server`: gRPC (proto/vcollect.proto) with the cluster token and
//!   optional mutual TLS; openraft's network over it; [`snapshot_stream`]: snapshots in
//!   chunks (`StreamSnapshot`), with the fallback to the unary RPC of release 0.1;
//! * `convert`: every conversion between the proto messages and these types (typed fields
//!   first, release 0.1's strings and JSON as the fallback), the one name of each role and
//!   state, and the one mapping of errors and refusals to a `tonic::Status`;
//!   `operation`: the admin operations' type;
//! * `local`: what a node is before it has an id (identity, config, peers, the replica,
//!   stores, tasks), enough for discovery and bootstrap; `running`: the core that exists once
//!   the node has its id (the Raft handle, liveness, and the one write path with its retry),
//!   which the controller and the admin operations take, and which only the edges (server,
//!   assignment, self-metrics) look up; `cycles`: the collector's last cycle per vCenter;
//! * `node`: a running node (bootstrap, join, Raft, server), `controller`: the leader's
//!   loop (snapshot, decide, write), `admin`: the admin operations on the leader,
//!   `assignment`: the collector's view, [`Client`]: the admin CLI's client, [`status`]:
//!   `vcollect status`, `verdict`: the working-leader and health verdicts `status`, `health`
//!   and `/healthz` share.
//!
//! openraft is pinned to `=0.10.0-alpha.37`: the 0.10 line has leader transfer, per-follower
//! heartbeat times and pre-vote, but its traits still change between alphas. Everything that
//! names openraft types goes through the aliases below, so an upgrade is mostly local to this
//! module.
//!
//! Only what other modules, the binary and the integration tests use is public: the types
//! re-exported below, [`state`] (the neutral `contract` and the store tests read it),
//! [`rpc`], [`snapshot_stream`] and [`status`] (the node tests speak the wire directly).
mod admin;
mod assignment;
mod client;
mod controller;
mod convert;
mod cycles;
mod decide;
mod error;
mod local;
mod network;
mod node;
mod operation;
pub mod rpc;
mod running;
pub(crate) mod runtime;
mod server;
mod shard;
pub mod snapshot_stream;
pub mod state;
pub mod status;
mod store;
mod telemetry;
mod verdict;

pub use admin::TRANSFER_TIMEOUT;
pub use assignment::ClusterAssignment;
pub use client::{AdminReply, Client, Waited};
pub use error::Error;
pub use node::{Handle, Node};
pub use operation::AdminOp;
pub use rpc::ClientOptions;
pub use shard::{bucket_of, plan, BUCKETS};
pub use state::{ClusterState, Command, NodeId, NodeState, Response, Role};
pub use status::{status, status_ext, status_with, MemberStatus, StatusReport};
pub use store::{open, LogStore, SnapshotBuilder, StateMachineStore};
pub use verdict::Leadership;

openraft::declare_raft_types!(
    /// vcollect's Raft types: the log carries [`Command`]s, apply answers [`Response`]s, node
    /// ids are `u64` and membership nodes carry their gRPC address (`BasicNode::addr`).
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        AsyncRuntime = runtime::Runtime,
);

/// A log entry.
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// A log id (leader id + index).
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// The persisted vote.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// The membership as stored with the state machine and in snapshots.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// A Raft node of this cluster.
pub type Raft = openraft::Raft<TypeConfig, StateMachineStore>;

/// A copy of `raft`'s current metrics (never hold the watch's borrow across an await:
/// openraft issue #1238).
pub(crate) fn metrics(raft: &Raft) -> openraft::RaftMetrics<TypeConfig> {
    use openraft::async_runtime::WatchReceiver;
    raft.metrics().borrow_watched().clone()
}
