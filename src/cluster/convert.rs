//! Every conversion between the gRPC messages (proto/vcollect.proto) and vcollect's own types,
//! and the one mapping of the cluster's errors and refusals to a `tonic::Status`.
//!
//! Rolling upgrades: release 0.1 carried roles and states as strings, and the admin operation
//! and bucket lists as JSON in `bytes`. Their typed fields sit beside them for one release.
//! Writers here fill both; readers prefer the typed field and fall back to the old one when
//! the typed one is absent (an enum at `UNSPECIFIED`, an unset message or `oneof`), so a
//! message from a 0.1 node decodes exactly as one from this release. A value neither field
//! can give is a [`WireError`] naming the field.
//!
//! Names: each role and state has one name (`Role::name`, `NodeState::name`, and the server
//! states in the table below). It is the old wire string, the CLI's word and its `--json`
//! value; nothing else spells them.

use std::collections::BTreeMap;

use openraft::ServerState;
use tonic::Status;

use super::decide::drain_wait::{Buckets, NodeCycles};
use super::decide::Refusal;
pub use super::error::WireError;
use super::error::{Error, TransferError};
use super::operation::AdminOp;
use super::rpc::pb;
use super::state::{Member, NodeState, Rejection, Role};
use crate::contract::CycleReport;

// ---- names and enums ----

/// A domain value with one name and one proto enum value.
pub trait Named: Copy + PartialEq + 'static {
    /// Its proto enum.
    type Pb: Copy + PartialEq + Into<i32> + 'static;
    /// (value, proto value, name): the one mapping between the three.
    const TABLE: &'static [(Self, Self::Pb, &'static str)];
}

impl Named for Role {
    type Pb = pb::Role;
    const TABLE: &'static [(Self, Self::Pb, &'static str)] = &[
        (Role::Voter, pb::Role::Voter, Role::Voter.name()),
        (Role::Learner, pb::Role::Learner, Role::Learner.name()),
        (Role::Outside, pb::Role::Outside, Role::Outside.name()),
    ];
}

impl Named for NodeState {
    type Pb = pb::NodeState;
    const TABLE: &'static [(Self, Self::Pb, &'static str)] = &[
        (
            NodeState::Active,
            pb::NodeState::Active,
            NodeState::Active.name(),
        ),
        (
            NodeState::Draining,
            pb::NodeState::Draining,
            NodeState::Draining.name(),
        ),
        (NodeState::Down, pb::NodeState::Down, NodeState::Down.name()),
        (NodeState::Left, pb::NodeState::Left, NodeState::Left.name()),
    ];
}

/// A node's Raft server state; `None`: it runs no Raft yet (`starting`).
impl Named for Option<ServerState> {
    type Pb = pb::ServerState;
    const TABLE: &'static [(Self, Self::Pb, &'static str)] = &[
        (None, pb::ServerState::Starting, "starting"),
        (Some(ServerState::Leader), pb::ServerState::Leader, "leader"),
        (
            Some(ServerState::Follower),
            pb::ServerState::Follower,
            "follower",
        ),
        (
            Some(ServerState::Learner),
            pb::ServerState::Learner,
            "learner",
        ),
        (
            Some(ServerState::Candidate),
            pb::ServerState::Candidate,
            "candidate",
        ),
        (
            Some(ServerState::Shutdown),
            pb::ServerState::Shutdown,
            "shutdown",
        ),
    ];
}

/// The value's name (the CLI's word, release 0.1's wire string).
pub fn name<T: Named>(v: T) -> &'static str {
    T::TABLE
        .iter()
        .find(|(d, _, _)| *d == v)
        .map(|(_, _, n)| *n)
        .unwrap_or_default()
}

/// The value's proto enum number.
pub fn to_pb<T: Named>(v: T) -> i32 {
    T::TABLE
        .iter()
        .find(|(d, _, _)| *d == v)
        .map(|(_, p, _)| (*p).into())
        .unwrap_or_default()
}

/// The value of a typed field (`typed`, preferred) or of its old string (`old`).
fn decode<T: Named>(typed: i32, old: &str, field: &'static str) -> Result<T, WireError> {
    if let Some((d, _, _)) = T::TABLE.iter().find(|(_, p, _)| (*p).into() == typed) {
        return Ok(*d);
    }
    if old.is_empty() {
        return Err(WireError::Missing { field });
    }
    T::TABLE
        .iter()
        .find(|(_, _, n)| *n == old)
        .map(|(d, _, _)| *d)
        .ok_or_else(|| WireError::Unknown {
            field,
            value: old.to_string(),
        })
}

/// For display: the decoded value's name, else the old string as sent (a newer node's value
/// this release does not know is still worth showing).
pub fn label<T: Named>(decoded: Result<T, WireError>, old: &str) -> String {
    decoded
        .map(|v| name(v).to_string())
        .unwrap_or_else(|_| old.to_string())
}

pub fn member_role(m: &pb::Member) -> Result<Role, WireError> {
    decode(m.role_kind, &m.role, "Member.role")
}

pub fn member_state(m: &pb::Member) -> Result<NodeState, WireError> {
    decode(m.state_kind, &m.state, "Member.state")
}

pub fn report_server_state(r: &pb::NodeReport) -> Result<Option<ServerState>, WireError> {
    decode(
        r.server_state_kind,
        &r.server_state,
        "NodeReport.server_state",
    )
}

pub fn reply_server_state(r: &pb::StatusReply) -> Result<Option<ServerState>, WireError> {
    decode(
        r.server_state_kind,
        &r.server_state,
        "StatusReply.server_state",
    )
}

/// A member of the replicated state as the wire carries it (`buckets`: owned, all vCenters).
pub fn member_pb(m: &Member, buckets: u32) -> pb::Member {
    pb::Member {
        id: m.id,
        name: m.name.clone(),
        addr: m.addr.clone(),
        incarnation: m.incarnation,
        role: name(m.role).into(),
        state: name(m.state).into(),
        buckets,
        role_kind: to_pb(m.role),
        state_kind: to_pb(m.state),
    }
}

// ---- cycle reports ----

impl From<CycleReport> for pb::CycleReport {
    fn from(r: CycleReport) -> Self {
        pb::CycleReport {
            vcenter: r.vcenter,
            entities: r.entities,
            samples: r.samples,
            ended_unix_ms: r.ended_unix_ms,
            duration_ms: r.duration_ms,
            errors: r.errors,
            first_error: r.first_error.unwrap_or_default(),
            window_end: r.window_end,
        }
    }
}

impl From<&pb::CycleReport> for CycleReport {
    fn from(r: &pb::CycleReport) -> Self {
        CycleReport {
            vcenter: r.vcenter.clone(),
            entities: r.entities,
            samples: r.samples,
            ended_unix_ms: r.ended_unix_ms,
            duration_ms: r.duration_ms,
            errors: r.errors,
            first_error: (!r.first_error.is_empty()).then(|| r.first_error.clone()),
            window_end: r.window_end,
        }
    }
}

/// What the drain wait needs of a node's report.
impl From<&pb::NodeReport> for NodeCycles {
    fn from(r: &pb::NodeReport) -> Self {
        NodeCycles {
            reachable: r.reachable,
            collecting: r.collecting,
            cycles: r.cycles.iter().map(CycleReport::from).collect(),
        }
    }
}

impl pb::NodeReport {
    /// Sets the server state, typed and as its old string.
    pub fn set_server(&mut self, s: Option<ServerState>) {
        self.server_state = name(s).into();
        self.server_state_kind = to_pb(s);
    }
}

impl pb::StatusReply {
    /// Sets the server state, typed and as its old string.
    pub fn set_server(&mut self, s: Option<ServerState>) {
        self.server_state = name(s).into();
        self.server_state_kind = to_pb(s);
    }
}

// ---- admin operations ----

impl From<&AdminOp> for pb::admin_request::Operation {
    fn from(op: &AdminOp) -> Self {
        use pb::admin_request::Operation as O;
        match op.clone() {
            AdminOp::Drain { node } => O::Drain(pb::DrainOp { node }),
            AdminOp::Undrain { node } => O::Undrain(pb::UndrainOp { node }),
            AdminOp::Remove { node, force } => O::Remove(pb::RemoveOp { node, force }),
            AdminOp::TransferLeader { to } => O::TransferLeader(pb::TransferLeaderOp { to }),
        }
    }
}

impl From<pb::admin_request::Operation> for AdminOp {
    fn from(op: pb::admin_request::Operation) -> Self {
        use pb::admin_request::Operation as O;
        match op {
            O::Drain(d) => AdminOp::Drain { node: d.node },
            O::Undrain(u) => AdminOp::Undrain { node: u.node },
            O::Remove(r) => AdminOp::Remove {
                node: r.node,
                force: r.force,
            },
            O::TransferLeader(t) => AdminOp::TransferLeader { to: t.to },
        }
    }
}

/// The request for `op`: typed, and as release 0.1's JSON (a 0.1 leader reads only that).
pub fn admin_request(op: &AdminOp, hops: u32) -> Result<pb::AdminRequest, WireError> {
    Ok(pb::AdminRequest {
        op: serde_json::to_vec(op).map_err(|source| WireError::Json {
            field: "AdminRequest.op",
            source,
        })?,
        hops,
        operation: Some(op.into()),
    })
}

impl TryFrom<pb::AdminRequest> for AdminOp {
    type Error = WireError;

    fn try_from(r: pb::AdminRequest) -> Result<Self, WireError> {
        if let Some(op) = r.operation {
            return Ok(op.into());
        }
        if r.op.is_empty() {
            return Err(WireError::Missing {
                field: "AdminRequest.operation",
            });
        }
        json(&r.op, "AdminRequest.op")
    }
}

// ---- bucket lists ----

impl From<&Buckets> for pb::BucketLists {
    fn from(b: &Buckets) -> Self {
        pb::BucketLists {
            vcenters: b
                .iter()
                .map(|(vcenter, buckets)| pb::VcenterBucketList {
                    vcenter: vcenter.clone(),
                    buckets: buckets.clone(),
                })
                .collect(),
        }
    }
}

impl From<pb::BucketLists> for Buckets {
    fn from(b: pb::BucketLists) -> Self {
        let mut out: Buckets = BTreeMap::new();
        for v in b.vcenters {
            out.entry(v.vcenter).or_default().extend(v.buckets);
        }
        out
    }
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], field: &'static str) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|source| WireError::Json { field, source })
}

/// Typed bucket lists if set, else the old JSON if not empty, else none.
fn buckets(
    typed: Option<pb::BucketLists>,
    old: &[u8],
    field: &'static str,
) -> Result<Option<Buckets>, WireError> {
    match typed {
        Some(t) => Ok(Some(t.into())),
        None if old.is_empty() => Ok(None),
        None => json(old, field).map(Some),
    }
}

/// A drain's answer: its message, the node, and the buckets it owned (typed and as JSON).
pub fn drain_reply(message: String, node: super::NodeId, owned: &Buckets) -> pb::AdminReply {
    pb::AdminReply {
        message,
        node_id: Some(node),
        detail: serde_json::to_vec(owned).unwrap_or_default(),
        drained: Some(owned.into()),
    }
}

/// The buckets a drain's answer names (none: it named none, or it was not a drain).
pub fn drained(r: &pb::AdminReply) -> Result<Option<Buckets>, WireError> {
    buckets(r.drained.clone(), &r.detail, "AdminReply.detail")
}

/// A `WaitDrained` request (`buckets`: what the drain moved; none: every bucket).
pub fn wait_drained_request(
    node: &str,
    timeout_ms: u64,
    buckets: Option<&Buckets>,
) -> pb::WaitDrainedRequest {
    pb::WaitDrainedRequest {
        node: node.to_string(),
        timeout_ms,
        buckets: buckets
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default(),
        watch: buckets.map(Into::into),
    }
}

/// The buckets a `WaitDrained` request watches (none: every bucket).
pub fn watched(r: &pb::WaitDrainedRequest) -> Result<Option<Buckets>, WireError> {
    buckets(r.watch.clone(), &r.buckets, "WaitDrainedRequest.buckets")
}

// ---- the one Status mapping ----
//
// The code names the kind, and clients match on it, never on the message:
// NOT_FOUND an unknown node; FAILED_PRECONDITION a refusal (unsafe now, or the state machine
// rejected the command); UNAVAILABLE no leader, not ready, shutting down, unreachable: worth
// retrying; DEADLINE_EXCEEDED a wait or transfer that did not finish; INVALID_ARGUMENT a
// message that does not decode; INTERNAL anything else.

impl From<Refusal> for Status {
    fn from(r: Refusal) -> Status {
        match r {
            Refusal::UnknownNode(msg) => Status::not_found(msg),
            r @ Refusal::Unsafe(_) => Status::failed_precondition(r.to_string()),
        }
    }
}

impl From<Rejection> for Status {
    fn from(r: Rejection) -> Status {
        Status::failed_precondition(format!("refused: {r}"))
    }
}

impl From<WireError> for Status {
    fn from(e: WireError) -> Status {
        Status::invalid_argument(format!("bad message: {e}"))
    }
}

impl From<TransferError> for Status {
    fn from(e: TransferError) -> Status {
        match e {
            e @ TransferError::Stopped(_) => Status::unavailable(e.to_string()),
            e @ TransferError::Timeout { .. } => Status::deadline_exceeded(e.to_string()),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            // A peer's answer (a forwarded call): as it is.
            Error::Rpc { status, .. } => status,
            Error::Unauthenticated { addr } => {
                Status::unavailable(format!("{addr} refused our cluster token"))
            }
            Error::NoLeader => {
                Status::unavailable("no leader known: the cluster has no quorum now")
            }
            Error::Transfer(t) => t.into(),
            e @ (Error::NotReady
            | Error::NoLeaderAt { .. }
            | Error::Unstable
            | Error::NoQuorum
            | Error::Leader { .. }
            | Error::Timeout { .. }
            | Error::Shutdown
            | Error::Fatal(_)) => Status::unavailable(e.to_string()),
            e @ Error::NotDrained { .. } => Status::deadline_exceeded(e.to_string()),
            e => Status::internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
