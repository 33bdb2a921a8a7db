//! The replicated state machine data: members, the shard map and the watermarks, plus the
//! commands (the Raft log payload) that change them.
//!
//! Everything here is pure and deterministic: applying the same commands in the same order
//! gives the same state on every node. No clock, no randomness, no I/O, and no iteration over
//! hash maps (all maps are `BTreeMap`). Anything that needs a decision (which bucket goes
//! where, when a node is down) is decided by the leader and carried in the command.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

pub mod precondition;

use self::precondition::{check_all, Precondition, Unmet};
use crate::contract::EntityKind;
use crate::contract::EventPosition;
use crate::contract::BUCKETS;

/// A node id. Assigned by the state machine ([`Command::RegisterNode`]) and never reused.
pub type NodeId = u64;

/// A node's Raft role, mirrored from the last applied membership entry so that everyone can
/// read it from the state (the membership itself lives in openraft's metadata).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Voter,
    Learner,
    /// Registered in the state but not (or no longer) in the Raft membership.
    Outside,
}

/// A node's lifecycle state as the controller sees it. Only `Active` nodes own buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Active,
    /// Admin asked to move its buckets away (maintenance); it stays in the cluster.
    Draining,
    /// The leader has not heard from it for `failure_timeout`.
    Down,
    /// Removed for good. Terminal: the id is never used again.
    Left,
}

impl Role {
    /// Its one name: the CLI's word, the `--json` value, release 0.1's wire string.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Voter => "voter",
            Role::Learner => "learner",
            Role::Outside => "outside",
        }
    }
}

impl NodeState {
    /// Its one name: the CLI's word, the `--json` value, release 0.1's wire string.
    pub const fn name(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
            NodeState::Down => "down",
            NodeState::Left => "left",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub name: String,
    /// gRPC `host:port` peers use to reach it.
    pub addr: String,
    /// Random value chosen when the node's data dir was created: tells a retry of the same
    /// node's registration from a wiped node that comes back under the same name.
    pub incarnation: u64,
    pub role: Role,
    pub state: NodeState,
}

/// Owners and watermarks of one vCenter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ShardsOnDisk", into = "ShardsOnDisk")]
pub struct VcenterShards {
    /// `owners[bucket]`; length [`BUCKETS`]. `None`: never assigned.
    pub owners: Vec<Option<NodeId>>,
    /// Per entity kind, `watermarks[kind][bucket]`: unix seconds up to which samples are known
    /// to be in the sink. `None`: nothing committed yet (collect from what vCenter still has).
    pub watermarks: BTreeMap<EntityKind, Vec<Option<i64>>>,
    /// How far the vCenter's event stream is in the sink (`None`: nothing committed yet).
    pub events: Option<EventPosition>,
}

/// How [`VcenterShards`] is stored (state machine records and snapshots): the kinds release
/// 0.1 knows under `watermarks`, the others under `watermarks_v2`, which 0.1 ignores (it
/// refuses an unknown kind name), so a node of either release reads what the other wrote
/// during a rolling upgrade.
#[derive(Serialize, Deserialize)]
struct ShardsOnDisk {
    owners: Vec<Option<NodeId>>,
    watermarks: BTreeMap<EntityKind, Vec<Option<i64>>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    watermarks_v2: BTreeMap<EntityKind, Vec<Option<i64>>>,
    /// Added after 0.1, which ignores it (and drops it when it rewrites the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<EventPosition>,
}

impl From<ShardsOnDisk> for VcenterShards {
    fn from(d: ShardsOnDisk) -> Self {
        let mut watermarks = d.watermarks;
        watermarks.extend(d.watermarks_v2);
        VcenterShards {
            owners: d.owners,
            watermarks,
            events: d.events,
        }
    }
}

impl From<VcenterShards> for ShardsOnDisk {
    fn from(v: VcenterShards) -> Self {
        let (watermarks, watermarks_v2) =
            v.watermarks.into_iter().partition(|(k, _)| k.known_to_v1());
        ShardsOnDisk {
            owners: v.owners,
            watermarks,
            watermarks_v2,
            events: v.events,
        }
    }
}

impl Default for VcenterShards {
    fn default() -> Self {
        VcenterShards {
            owners: vec![None; BUCKETS as usize],
            watermarks: BTreeMap::new(),
            events: None,
        }
    }
}

impl VcenterShards {
    pub fn watermark(&self, kind: EntityKind, bucket: u32) -> Option<i64> {
        self.watermarks
            .get(&kind)
            .and_then(|w| w.get(bucket as usize).copied().flatten())
    }

    /// Buckets owned by `node`, ascending.
    pub fn owned_by(&self, node: NodeId) -> Vec<u32> {
        (0..self.owners.len() as u32)
            .filter(|&b| self.owners[b as usize] == Some(node))
            .collect()
    }
}

/// Everything the cluster agrees on. Small: a few members, and per vCenter 1024 owners and
/// 1024 watermarks per entity kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub members: Members,
    /// Per vCenter name.
    pub vcenters: BTreeMap<String, VcenterShards>,
}

/// The member table; stored apart from the vCenters so that a watermark commit does not
/// rewrite it (see the store).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    /// The next id [`Command::RegisterNode`] hands out; only grows.
    pub next_node_id: NodeId,
    pub nodes: BTreeMap<NodeId, Member>,
    /// Voters and learners of the last applied membership (to derive [`Member::role`]).
    pub raft_voters: BTreeSet<NodeId>,
    pub raft_learners: BTreeSet<NodeId>,
}

impl Default for Members {
    fn default() -> Self {
        Members {
            next_node_id: 1,
            nodes: BTreeMap::new(),
            raft_voters: BTreeSet::new(),
            raft_learners: BTreeSet::new(),
        }
    }
}

impl Members {
    fn role_of(&self, id: NodeId) -> Role {
        if self.raft_voters.contains(&id) {
            Role::Voter
        } else if self.raft_learners.contains(&id) {
            Role::Learner
        } else {
            Role::Outside
        }
    }
}

/// A node to create with [`Command::Bootstrap`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNode {
    pub id: NodeId,
    pub name: String,
    pub addr: String,
    pub incarnation: u64,
}

/// Watermarks of several buckets of one vCenter and kind that advance to the same timestamp
/// (one collection window): how the Raft log carries many [`crate::contract::WatermarkUpdate`]s.
/// Grouping keeps a cycle's commit small (a few bytes per bucket instead of repeating
/// vCenter, kind and timestamp).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkWindow {
    pub vcenter: String,
    pub kind: EntityKind,
    /// Unix seconds: samples up to and including this time are in the sink.
    pub ts: i64,
    pub buckets: Vec<u32>,
}

/// The Raft log payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Creates the first members of a new cluster with ids agreed on before Raft existed
    /// (identical nodes derive them from the sorted peer list, since `initialize()` needs ids).
    /// Only valid while there are no members; sets `next_node_id` past the largest id.
    Bootstrap { nodes: Vec<NewNode> },
    /// A node without an id asks for one. Idempotent for the same name, address and
    /// incarnation (a retried or restarted join gets the same id back). The same name with a
    /// different incarnation is a node whose data dir was wiped: it must not reuse its old id
    /// (a wiped voter under its old id can break Raft's safety), so it gets a new id and the old
    /// member is marked `Left` (reported in `replaced`, for the leader to drop it from the
    /// membership).
    RegisterNode {
        name: String,
        addr: String,
        incarnation: u64,
    },
    /// Active / Draining / Down (Left through `RemoveNode`). Left is terminal. Applied only if
    /// every condition of `expect` still holds (see [`precondition`]).
    SetNodeState {
        id: NodeId,
        state: NodeState,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        expect: Vec<Precondition>,
    },
    /// Marks a node `Left`. Its buckets stay as they are until the leader moves them. Applied
    /// only if every condition of `expect` still holds.
    RemoveNode {
        id: NodeId,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        expect: Vec<Precondition>,
    },
    /// Bucket moves computed by the leader with [`plan`](super::shard::plan). Applied
    /// atomically: if any bucket is out of range or any owner is not an active member, nothing
    /// changes (the leader plans again from the new state). Creates the vCenter if new.
    SetOwners {
        vcenter: String,
        moves: Vec<(u32, NodeId)>,
    },
    /// Forgets a vCenter removed from the configuration of every member (owners and
    /// watermarks; see [`crate::cluster::decide::drop_vcenter`]). Applied only if every
    /// condition of `expect` still holds.
    DropVcenter {
        vcenter: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        expect: Vec<Precondition>,
    },
    /// One node's watermarks after a cycle (one entry per node per cycle).
    ///
    /// Watermarks only move forward (max), so order and duplicates are harmless. Updates for
    /// buckets the node does not own are still applied: a node that just lost a bucket may
    /// commit the window it had already written, and the watermark means "samples are in the
    /// sink", which is true whoever wrote them; the new owner then starts later, never earlier
    /// than the data. They are counted in `not_owned` so it shows. Unknown vCenters (none of
    /// its buckets was ever assigned) and out-of-range buckets are ignored and counted.
    CommitWatermarks {
        node: NodeId,
        /// Windows of the kinds release 0.1 knows (VMs, hosts).
        updates: Vec<WatermarkWindow>,
        /// Windows of the kinds added later: a field 0.1 ignores (it refuses an unknown kind
        /// name), so a mixed cluster keeps applying every entry. Build the command with
        /// [`Command::commit_watermarks`], which sorts windows into the two.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        updates_v2: Vec<WatermarkWindow>,
        /// Event stream positions (see [`EventMark`]): a field 0.1 ignores, like
        /// `updates_v2`. Build the command with [`Command::commit_events`].
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        events: Vec<EventMark>,
    },
}

/// How far a vCenter's event stream is in the sink, as committed by the node that read it.
/// Applied when it [advances](EventPosition::advances) the stored one, whoever owns the
/// stream's bucket (as watermarks: "in the sink" is true whoever wrote it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMark {
    pub vcenter: String,
    pub position: EventPosition,
}

impl Command {
    /// [`Command::CommitWatermarks`] with each window in the field its kind belongs in.
    pub fn commit_watermarks(node: NodeId, windows: Vec<WatermarkWindow>) -> Command {
        let (updates, updates_v2) = windows.into_iter().partition(|w| w.kind.known_to_v1());
        Command::CommitWatermarks {
            node,
            updates,
            updates_v2,
            events: Vec::new(),
        }
    }

    /// [`Command::CommitWatermarks`] with one event stream position and no watermark.
    pub fn commit_events(node: NodeId, vcenter: &str, position: EventPosition) -> Command {
        Command::CommitWatermarks {
            node,
            updates: Vec::new(),
            updates_v2: Vec::new(),
            events: vec![EventMark {
                vcenter: vcenter.to_string(),
                position,
            }],
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Bootstrap { nodes } => write!(f, "bootstrap({} nodes)", nodes.len()),
            Command::RegisterNode { name, addr, .. } => write!(f, "register({name}@{addr})"),
            Command::SetNodeState { id, state, .. } => write!(f, "set_state({id}={state})"),
            Command::RemoveNode { id, .. } => write!(f, "remove({id})"),
            Command::SetOwners { vcenter, moves } => {
                write!(f, "set_owners({vcenter}, {} moves)", moves.len())
            }
            Command::DropVcenter { vcenter, .. } => write!(f, "drop_vcenter({vcenter})"),
            Command::CommitWatermarks {
                node,
                updates,
                updates_v2,
                events,
            } => {
                let n: usize = updates
                    .iter()
                    .chain(updates_v2)
                    .map(|u| u.buckets.len())
                    .sum();
                write!(f, "commit_watermarks(node {node}, {n} buckets")?;
                if !events.is_empty() {
                    write!(f, ", {} event streams", events.len())?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Why a command changed nothing. Deterministic: every replica rejects the same commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    #[error("the cluster already has members")]
    AlreadyBootstrapped,
    #[error("bootstrap lists node id {0} twice or id 0")]
    BadBootstrapId(NodeId),
    #[error("unknown node {0}")]
    UnknownNode(NodeId),
    #[error("node {0} has left; its id is never reused")]
    NodeLeft(NodeId),
    #[error("node {id} is registered with address {addr}; changing it needs a membership change")]
    AddressChanged { id: NodeId, addr: String },
    #[error("address {addr} is used by node {id}")]
    AddrInUse { addr: String, id: NodeId },
    #[error("bucket {0} out of range")]
    BucketOutOfRange(u32),
    #[error("node {0} is not an active member and cannot own buckets")]
    OwnerNotActive(NodeId),
    /// A condition the command carried no longer holds on the state it was applied to.
    #[error("{0}")]
    Unmet(#[from] Unmet),
}

/// What applying an entry produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Blank and membership entries.
    None,
    Done,
    Registered {
        id: NodeId,
        /// False when an existing registration was returned.
        created: bool,
        /// The old id of the same node name (previous incarnation), now `Left`.
        replaced: Option<NodeId>,
    },
    OwnersSet {
        /// Buckets whose owner actually changed.
        moved: u32,
    },
    Watermarks {
        /// Bucket watermarks that moved forward.
        advanced: u32,
        /// Updates for buckets the committing node does not own (applied anyway).
        not_owned: u32,
        /// Out-of-range buckets and unknown vCenters (ignored).
        ignored: u32,
    },
    Rejected(Rejection),
}

/// Which parts of the state an apply touched, so the store rewrites only those.
#[derive(Debug, Default)]
pub struct Touched {
    pub members: bool,
    pub vcenters: BTreeSet<String>,
}

impl ClusterState {
    /// Active members, ascending: the nodes that should own buckets.
    pub fn active_nodes(&self) -> Vec<NodeId> {
        self.members
            .nodes
            .values()
            .filter(|m| m.state == NodeState::Active)
            .map(|m| m.id)
            .collect()
    }

    /// `node`'s share of `total` calls in flight at one vCenter: `total` divided among the
    /// members that may be calling it (active and draining: a draining node keeps collecting
    /// until its buckets have moved, so its share is not handed out before it has stopped),
    /// the remainder to the lowest ids. The member table is what the leader decided through
    /// the log, so every node computes the same division from its replica, and a membership
    /// change re-divides it. At least 1, so a node never stops for lack of a share: with more
    /// calling nodes than `total`, the total is exceeded (docs/configuration.md says so).
    pub fn query_share(&self, node: NodeId, total: usize) -> usize {
        let calling: Vec<NodeId> = self
            .members
            .nodes
            .values()
            .filter(|m| matches!(m.state, NodeState::Active | NodeState::Draining))
            .map(|m| m.id)
            .collect();
        let Some(rank) = calling.iter().position(|id| *id == node) else {
            return 1;
        };
        let n = calling.len();
        (total / n + usize::from(rank < total % n)).max(1)
    }

    /// The leader's planner applied to one vCenter (a vCenter not seen yet counts as all
    /// unassigned).
    pub fn plan_vcenter(&self, vcenter: &str) -> Vec<(u32, NodeId)> {
        let active = self.active_nodes();
        match self.vcenters.get(vcenter) {
            Some(v) => super::shard::plan(&v.owners, &active),
            None => super::shard::plan(&vec![None; BUCKETS as usize], &active),
        }
    }

    /// The buckets `node` owns, per vCenter.
    pub fn owned_by(&self, node: NodeId) -> BTreeMap<String, Vec<u32>> {
        self.vcenters
            .iter()
            .map(|(name, v)| (name.clone(), v.owned_by(node)))
            .filter(|(_, b)| !b.is_empty())
            .collect()
    }

    /// Mirrors a membership change into the member roles.
    pub fn set_raft_membership(
        &mut self,
        voters: BTreeSet<NodeId>,
        learners: BTreeSet<NodeId>,
        touched: &mut Touched,
    ) {
        let m = &mut self.members;
        m.raft_voters = voters;
        m.raft_learners = learners;
        let roles: Vec<(NodeId, Role)> = m.nodes.keys().map(|&id| (id, m.role_of(id))).collect();
        for (id, role) in roles {
            if let Some(node) = m.nodes.get_mut(&id) {
                node.role = role;
            }
        }
        touched.members = true;
    }

    /// Applies one command. Never fails: invalid commands change nothing and say why.
    pub fn apply(&mut self, cmd: &Command, touched: &mut Touched) -> Response {
        match self.try_apply(cmd, touched) {
            Ok(r) => r,
            Err(rej) => Response::Rejected(rej),
        }
    }

    fn try_apply(&mut self, cmd: &Command, touched: &mut Touched) -> Result<Response, Rejection> {
        match cmd {
            Command::Bootstrap { nodes } => self.bootstrap(nodes, touched),
            Command::RegisterNode {
                name,
                addr,
                incarnation,
            } => self.register(name, addr, *incarnation, touched),
            Command::SetNodeState { id, state, expect } => {
                // Already there (a retried write whose first answer was lost): nothing to check.
                if self.live_member_mut(*id)?.state == *state {
                    return Ok(Response::Done);
                }
                check_all(expect, self)?;
                let m = self.live_member_mut(*id)?;
                m.state = *state;
                touched.members = true;
                Ok(Response::Done)
            }
            Command::RemoveNode { id, expect } => {
                // Already gone: a retried remove whose first answer was lost.
                if self
                    .members
                    .nodes
                    .get(id)
                    .is_some_and(|m| m.state == NodeState::Left)
                {
                    return Err(Rejection::NodeLeft(*id));
                }
                check_all(expect, self)?;
                let m = self.live_member_mut(*id)?;
                m.state = NodeState::Left;
                touched.members = true;
                Ok(Response::Done)
            }
            Command::SetOwners { vcenter, moves } => self.set_owners(vcenter, moves, touched),
            Command::DropVcenter { vcenter, expect } => {
                if !self.vcenters.contains_key(vcenter) {
                    return Ok(Response::Done); // already gone (a retried write)
                }
                check_all(expect, self)?;
                if self.vcenters.remove(vcenter).is_some() {
                    touched.vcenters.insert(vcenter.clone());
                }
                Ok(Response::Done)
            }
            Command::CommitWatermarks {
                node,
                updates,
                updates_v2,
                events,
            } => {
                let r = self.commit_watermarks(*node, updates.iter().chain(updates_v2), touched)?;
                Ok(self.commit_events(events, r, touched))
            }
        }
    }

    /// [`Command::Bootstrap`].
    fn bootstrap(
        &mut self,
        nodes: &[NewNode],
        touched: &mut Touched,
    ) -> Result<Response, Rejection> {
        if !self.members.nodes.is_empty() {
            return Err(Rejection::AlreadyBootstrapped);
        }
        let mut seen = BTreeSet::new();
        for n in nodes {
            if n.id == 0 || !seen.insert(n.id) {
                return Err(Rejection::BadBootstrapId(n.id));
            }
        }
        for n in nodes {
            let role = self.members.role_of(n.id);
            self.members.nodes.insert(
                n.id,
                Member {
                    id: n.id,
                    name: n.name.clone(),
                    addr: n.addr.clone(),
                    incarnation: n.incarnation,
                    role,
                    state: NodeState::Active,
                },
            );
        }
        let max = seen.last().copied().unwrap_or(0);
        self.members.next_node_id = self.members.next_node_id.max(max + 1);
        touched.members = true;
        Ok(Response::Done)
    }

    /// [`Command::RegisterNode`].
    fn register(
        &mut self,
        name: &str,
        addr: &str,
        incarnation: u64,
        touched: &mut Touched,
    ) -> Result<Response, Rejection> {
        let live = |m: &&Member| m.state != NodeState::Left;
        let same_name = self
            .members
            .nodes
            .values()
            .filter(live)
            .find(|m| m.name == name);
        let mut replaced = None;
        if let Some(m) = same_name {
            if m.incarnation == incarnation {
                if m.addr == addr {
                    return Ok(Response::Registered {
                        id: m.id,
                        created: false,
                        replaced: None,
                    });
                }
                return Err(Rejection::AddressChanged {
                    id: m.id,
                    addr: m.addr.clone(),
                });
            }
            replaced = Some(m.id);
        }
        if let Some(m) = self
            .members
            .nodes
            .values()
            .filter(live)
            .find(|m| m.addr == addr && Some(m.id) != replaced)
        {
            return Err(Rejection::AddrInUse {
                addr: addr.to_string(),
                id: m.id,
            });
        }
        if let Some(old) = replaced {
            if let Some(m) = self.members.nodes.get_mut(&old) {
                m.state = NodeState::Left;
            }
        }
        let id = self.members.next_node_id;
        self.members.next_node_id += 1;
        let role = self.members.role_of(id);
        self.members.nodes.insert(
            id,
            Member {
                id,
                name: name.to_string(),
                addr: addr.to_string(),
                incarnation,
                role,
                state: NodeState::Active,
            },
        );
        touched.members = true;
        Ok(Response::Registered {
            id,
            created: true,
            replaced,
        })
    }

    /// [`Command::SetOwners`].
    fn set_owners(
        &mut self,
        vcenter: &str,
        moves: &[(u32, NodeId)],
        touched: &mut Touched,
    ) -> Result<Response, Rejection> {
        for &(b, owner) in moves {
            if b >= BUCKETS {
                return Err(Rejection::BucketOutOfRange(b));
            }
            match self.members.nodes.get(&owner) {
                Some(m) if m.state == NodeState::Active => {}
                _ => return Err(Rejection::OwnerNotActive(owner)),
            }
        }
        let v = self.vcenters.entry(vcenter.to_string()).or_default();
        let mut moved = 0;
        for &(b, owner) in moves {
            let slot = &mut v.owners[b as usize];
            if *slot != Some(owner) {
                *slot = Some(owner);
                moved += 1;
            }
        }
        touched.vcenters.insert(vcenter.to_string());
        Ok(Response::OwnersSet { moved })
    }

    /// [`Command::CommitWatermarks`].
    fn commit_watermarks<'a>(
        &mut self,
        node: NodeId,
        updates: impl Iterator<Item = &'a WatermarkWindow>,
        touched: &mut Touched,
    ) -> Result<Response, Rejection> {
        if !self.members.nodes.contains_key(&node) {
            return Err(Rejection::UnknownNode(node));
        }
        let (mut advanced, mut not_owned, mut ignored) = (0u32, 0u32, 0u32);
        for u in updates {
            let Some(v) = self.vcenters.get_mut(&u.vcenter) else {
                ignored += u.buckets.len() as u32;
                continue;
            };
            let marks = v
                .watermarks
                .entry(u.kind)
                .or_insert_with(|| vec![None; BUCKETS as usize]);
            for &b in &u.buckets {
                if b >= BUCKETS {
                    ignored += 1;
                    continue;
                }
                if v.owners[b as usize] != Some(node) {
                    not_owned += 1;
                }
                let w = &mut marks[b as usize];
                if w.is_none_or(|w| w < u.ts) {
                    *w = Some(u.ts);
                    advanced += 1;
                }
            }
            touched.vcenters.insert(u.vcenter.clone());
        }
        Ok(Response::Watermarks {
            advanced,
            not_owned,
            ignored,
        })
    }

    /// The event stream positions of a [`Command::CommitWatermarks`] (its node checked by
    /// [`Self::commit_watermarks`]); each one that moved counts in `advanced`, one for an
    /// unknown vCenter in `ignored`.
    fn commit_events(
        &mut self,
        marks: &[EventMark],
        response: Response,
        touched: &mut Touched,
    ) -> Response {
        let Response::Watermarks {
            mut advanced,
            not_owned,
            mut ignored,
        } = response
        else {
            return response;
        };
        for m in marks {
            let Some(v) = self.vcenters.get_mut(&m.vcenter) else {
                ignored += 1;
                continue;
            };
            if v.events.is_none_or(|old| m.position.advances(&old)) {
                v.events = Some(m.position);
                advanced += 1;
                touched.vcenters.insert(m.vcenter.clone());
            }
        }
        Response::Watermarks {
            advanced,
            not_owned,
            ignored,
        }
    }

    fn live_member_mut(&mut self, id: NodeId) -> Result<&mut Member, Rejection> {
        match self.members.nodes.get_mut(&id) {
            None => Err(Rejection::UnknownNode(id)),
            Some(m) if m.state == NodeState::Left => Err(Rejection::NodeLeft(id)),
            Some(m) => Ok(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(s: &mut ClusterState, c: Command) -> Response {
        s.apply(&c, &mut Touched::default())
    }

    fn register(s: &mut ClusterState, name: &str, addr: &str, inc: u64) -> Response {
        apply(
            s,
            Command::RegisterNode {
                name: name.into(),
                addr: addr.into(),
                incarnation: inc,
            },
        )
    }

    /// `max_concurrent_queries` divided among the nodes that may call vCenter, the
    /// remainder to the lowest ids; a draining node keeps its share, a down one gives it up.
    #[test]
    fn the_query_budget_is_divided_among_the_calling_members() {
        let mut s = ClusterState::default();
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            register(&mut s, name, &format!("10.0.0.{i}:7400"), i as u64);
        }
        let shares = |s: &ClusterState, total| [1, 2, 3].map(|id| s.query_share(id, total));
        assert_eq!(shares(&s, 8), [3, 3, 2]);
        assert_eq!(shares(&s, 3), [1, 1, 1]);
        // Fewer than the nodes: each still makes one call at a time.
        assert_eq!(shares(&s, 2), [1, 1, 1]);
        let set = |s: &mut ClusterState, id: NodeId, st: NodeState| {
            s.members.nodes.get_mut(&id).expect("member").state = st;
        };
        set(&mut s, 3, NodeState::Draining);
        assert_eq!(shares(&s, 8), [3, 3, 2]);
        set(&mut s, 3, NodeState::Down);
        assert_eq!(shares(&s, 3)[..2], [2, 1]);
        assert_eq!(shares(&s, 8)[..2], [4, 4]);
    }

    #[test]
    fn register_assigns_ids_and_is_idempotent() {
        let mut s = ClusterState::default();
        let r1 = register(&mut s, "a", "10.0.0.1:7400", 7);
        assert_eq!(
            r1,
            Response::Registered {
                id: 1,
                created: true,
                replaced: None
            }
        );
        let r2 = register(&mut s, "b", "10.0.0.2:7400", 8);
        assert_eq!(
            r2,
            Response::Registered {
                id: 2,
                created: true,
                replaced: None
            }
        );
        // Retry of the same join.
        let again = register(&mut s, "a", "10.0.0.1:7400", 7);
        assert_eq!(
            again,
            Response::Registered {
                id: 1,
                created: false,
                replaced: None
            }
        );
        // Same name and incarnation, new address: refused.
        assert!(matches!(
            register(&mut s, "a", "10.0.0.9:7400", 7),
            Response::Rejected(Rejection::AddressChanged { id: 1, .. })
        ));
        // Another node claiming a used address.
        assert!(matches!(
            register(&mut s, "c", "10.0.0.2:7400", 9),
            Response::Rejected(Rejection::AddrInUse { id: 2, .. })
        ));
        // Wiped node "a" comes back: new id, old one left, never reused.
        let r3 = register(&mut s, "a", "10.0.0.1:7400", 99);
        assert_eq!(
            r3,
            Response::Registered {
                id: 3,
                created: true,
                replaced: Some(1)
            }
        );
        assert_eq!(s.members.nodes[&1].state, NodeState::Left);
        assert!(matches!(
            apply(
                &mut s,
                Command::SetNodeState {
                    id: 1,
                    state: NodeState::Active,
                    expect: vec![],
                }
            ),
            Response::Rejected(Rejection::NodeLeft(1))
        ));
        apply(
            &mut s,
            Command::RemoveNode {
                id: 3,
                expect: vec![],
            },
        );
        let r4 = register(&mut s, "a", "10.0.0.1:7400", 99);
        assert_eq!(
            r4,
            Response::Registered {
                id: 4,
                created: true,
                replaced: None
            }
        );
    }

    #[test]
    fn bootstrap_sets_next_id_and_roles() {
        let mut s = ClusterState::default();
        s.set_raft_membership([1, 2, 3].into(), BTreeSet::new(), &mut Touched::default());
        let nodes = (1..=3)
            .map(|i| NewNode {
                id: i,
                name: format!("n{i}"),
                addr: format!("h{i}:1"),
                incarnation: i,
            })
            .collect();
        assert_eq!(apply(&mut s, Command::Bootstrap { nodes }), Response::Done);
        assert_eq!(s.members.next_node_id, 4);
        assert!(s.members.nodes.values().all(|m| m.role == Role::Voter));
        assert_eq!(
            apply(&mut s, Command::Bootstrap { nodes: vec![] }),
            Response::Rejected(Rejection::AlreadyBootstrapped)
        );
        s.set_raft_membership([1, 2].into(), [3].into(), &mut Touched::default());
        assert_eq!(s.members.nodes[&3].role, Role::Learner);
    }

    #[test]
    fn owners_and_watermarks() {
        let mut s = ClusterState::default();
        register(&mut s, "a", "a:1", 1);
        register(&mut s, "b", "b:1", 2);
        let moves = s.plan_vcenter("vc");
        assert_eq!(moves.len(), BUCKETS as usize);
        let mut t = Touched::default();
        let r = s.apply(
            &Command::SetOwners {
                vcenter: "vc".into(),
                moves,
            },
            &mut t,
        );
        assert_eq!(r, Response::OwnersSet { moved: BUCKETS });
        assert!(t.vcenters.contains("vc") && !t.members);
        assert!(s.plan_vcenter("vc").is_empty());
        assert_eq!(s.owned_by(1)["vc"].len(), 512);

        // Moves to a non-active node are refused as a whole.
        apply(
            &mut s,
            Command::SetNodeState {
                id: 2,
                state: NodeState::Down,
                expect: vec![],
            },
        );
        let r = apply(
            &mut s,
            Command::SetOwners {
                vcenter: "vc".into(),
                moves: vec![(0, 1), (1, 2)],
            },
        );
        assert_eq!(r, Response::Rejected(Rejection::OwnerNotActive(2)));
        let r = apply(
            &mut s,
            Command::SetOwners {
                vcenter: "vc".into(),
                moves: vec![(BUCKETS, 1)],
            },
        );
        assert_eq!(r, Response::Rejected(Rejection::BucketOutOfRange(BUCKETS)));

        let b1 = s.owned_by(1)["vc"][0];
        let b2 = s.owned_by(2)["vc"][0];
        let commit = |ts, buckets: Vec<u32>| Command::CommitWatermarks {
            node: 1,
            updates: vec![
                WatermarkWindow {
                    vcenter: "vc".into(),
                    kind: EntityKind::Vm,
                    ts,
                    buckets,
                },
                WatermarkWindow {
                    vcenter: "other".into(),
                    kind: EntityKind::Vm,
                    ts,
                    buckets: vec![1],
                },
            ],
            updates_v2: vec![],
            events: vec![],
        };
        let r = apply(&mut s, commit(100, vec![b1, b2, BUCKETS]));
        assert_eq!(
            r,
            Response::Watermarks {
                advanced: 2,
                not_owned: 1,
                ignored: 2
            }
        );
        // Older window committed late: watermarks never go back.
        let r = apply(&mut s, commit(50, vec![b1]));
        assert_eq!(
            r,
            Response::Watermarks {
                advanced: 0,
                not_owned: 0,
                ignored: 1
            }
        );
        assert_eq!(s.vcenters["vc"].watermark(EntityKind::Vm, b1), Some(100));
        assert_eq!(s.vcenters["vc"].watermark(EntityKind::Host, b1), None);
        let r = apply(
            &mut s,
            Command::CommitWatermarks {
                node: 42,
                updates: vec![],
                updates_v2: vec![],
                events: vec![],
            },
        );
        assert_eq!(r, Response::Rejected(Rejection::UnknownNode(42)));
    }

    /// Node 1 (`a`) owns every bucket of vCenter `vc`.
    fn one_node_owning_vc() -> ClusterState {
        let mut s = ClusterState::default();
        register(&mut s, "a", "a:1", 1);
        let moves = s.plan_vcenter("vc");
        apply(
            &mut s,
            Command::SetOwners {
                vcenter: "vc".into(),
                moves,
            },
        );
        s
    }

    #[test]
    fn serde_roundtrip_uses_kind_names() {
        let mut s = one_node_owning_vc();
        apply(
            &mut s,
            Command::CommitWatermarks {
                node: 1,
                updates: vec![WatermarkWindow {
                    vcenter: "vc".into(),
                    kind: EntityKind::Host,
                    ts: 5,
                    buckets: vec![3],
                }],
                updates_v2: vec![],
                events: vec![],
            },
        );
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"host\":["));
        let back: ClusterState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let bad = json.replace("\"host\":[", "\"storagepod\":[");
        assert!(serde_json::from_str::<ClusterState>(&bad).is_err());
    }

    /// What release 0.1 reads: its kinds are VM and host only, and an unknown kind name is an
    /// error; unknown fields are ignored (no `deny_unknown_fields`).
    mod v1 {
        use std::collections::BTreeMap;

        #[derive(serde::Deserialize, PartialEq, Eq, PartialOrd, Ord, Debug)]
        #[serde(rename_all = "lowercase")]
        pub enum Kind {
            Vm,
            Host,
        }
        #[derive(serde::Deserialize, Debug)]
        pub struct Shards {
            pub watermarks: BTreeMap<Kind, Vec<Option<i64>>>,
        }
        #[derive(serde::Deserialize, Debug)]
        pub struct Window {
            pub kind: Kind,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "snake_case")]
        pub enum Command {
            CommitWatermarks { updates: Vec<Window> },
        }
    }

    #[test]
    fn release_0_1_reads_what_the_new_kinds_write() {
        let mut s = one_node_owning_vc();
        let window = |kind| WatermarkWindow {
            vcenter: "vc".into(),
            kind,
            ts: 600,
            buckets: vec![3],
        };
        let cmd = Command::commit_watermarks(
            1,
            vec![
                window(EntityKind::Cluster),
                window(EntityKind::Vsan),
                window(EntityKind::Vm),
            ],
        );
        let old: v1::Command = serde_json::from_str(&serde_json::to_string(&cmd).unwrap()).unwrap();
        let v1::Command::CommitWatermarks { updates } = old;
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].kind, v1::Kind::Vm);

        apply(&mut s, cmd);
        let shards = &s.vcenters["vc"];
        assert_eq!(shards.watermark(EntityKind::Cluster, 3), Some(600));
        // vSAN clusters (issue 22) travel like the other later kinds.
        assert_eq!(shards.watermark(EntityKind::Vsan, 3), Some(600));
        let json = serde_json::to_string(shards).unwrap();
        let old: v1::Shards = serde_json::from_str(&json).unwrap();
        assert_eq!(old.watermarks.keys().collect::<Vec<_>>(), [&v1::Kind::Vm]);
        let back: VcenterShards = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, shards);
    }

    #[test]
    fn event_positions_move_on_and_release_0_1_reads_past_them() {
        let mut s = one_node_owning_vc();
        let at = |key, time| EventPosition { key, time };
        let cmd = Command::commit_events(1, "vc", at(42, 1000));
        assert_eq!(
            apply(&mut s, cmd.clone()),
            Response::Watermarks {
                advanced: 1,
                not_owned: 0,
                ignored: 0
            }
        );
        // A late commit of an older position (the node that lost the stream) changes nothing.
        let r = apply(&mut s, Command::commit_events(1, "vc", at(40, 990)));
        assert!(matches!(r, Response::Watermarks { advanced: 0, .. }));
        assert_eq!(s.vcenters["vc"].events, Some(at(42, 1000)));
        let r = apply(&mut s, Command::commit_events(1, "nowhere", at(1, 1)));
        assert!(matches!(r, Response::Watermarks { ignored: 1, .. }));
        let r = apply(&mut s, Command::commit_events(9, "vc", at(50, 1010)));
        assert_eq!(r, Response::Rejected(Rejection::UnknownNode(9)));

        // Release 0.1 decodes the command (an empty commit) and the stored record.
        let old: v1::Command = serde_json::from_str(&serde_json::to_string(&cmd).unwrap()).unwrap();
        let v1::Command::CommitWatermarks { updates } = old;
        assert!(updates.is_empty());
        let json = serde_json::to_string(&s.vcenters["vc"]).unwrap();
        assert!(
            json.contains(r#""events":{"key":42,"time":1000}"#),
            "{json}"
        );
        serde_json::from_str::<v1::Shards>(&json).unwrap();
        let back: VcenterShards = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s.vcenters["vc"]);
        // What 0.1 wrote (no position) reads as none.
        let plain = json.replace(r#","events":{"key":42,"time":1000}"#, "");
        let old: VcenterShards = serde_json::from_str(&plain).unwrap();
        assert_eq!(old.events, None);
        // A command without positions is spelled as 0.1 spells it.
        let wm = Command::commit_watermarks(1, vec![]);
        assert!(!serde_json::to_string(&wm).unwrap().contains("events"));
    }
}
