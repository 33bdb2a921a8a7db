//! `vcollect status`, `members`, `assignments` and `health`: what one node knows about the
//! cluster, with every member's own figures (Raft indexes, last cycle), as tables or JSON.

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use super::convert::{self, label};
use super::error::Error;
use super::rpc::{self, pb, ClientOptions};
use super::state::Role;
use crate::secret::Secret;

/// The last cycle of one vCenter on one node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CycleStatus {
    pub vcenter: String,
    pub entities: u64,
    pub samples: u64,
    /// When the cycle ended (RFC 3339, UTC) and how long ago, as the CLI's clock sees it.
    pub ended: String,
    pub ended_unix_ms: i64,
    pub duration_ms: u64,
    pub errors: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// One member as the asked node sees it, with its own figures when it answered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberStatus {
    pub id: u64,
    pub name: String,
    pub address: String,
    /// leader, follower, learner, candidate (or outside: registered, not in the membership).
    pub role: String,
    /// A voter of the Raft membership.
    pub voter: bool,
    /// active, draining, down or left.
    pub state: String,
    pub leader: bool,
    /// It answered the asked node (the asked node itself always does).
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub term: Option<u64>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// Entries behind the leader's log.
    pub lag: Option<u64>,
    /// Milliseconds since the leader last heard from it (or it from the leader).
    pub last_contact_ms: Option<u64>,
    pub collecting: Option<bool>,
    /// Buckets owned, all vCenters together.
    pub buckets: u32,
    /// Entities in its last cycles (all vCenters together).
    pub entities: Option<u64>,
    pub last_cycle_end: Option<String>,
    pub last_cycle_end_unix_ms: Option<i64>,
    pub last_cycle_duration_ms: Option<u64>,
    pub last_cycle_errors: Option<u32>,
    pub cycles: Vec<CycleStatus>,
}

impl MemberStatus {
    /// The first columns of every member table: ID (`*` marks the leader), NAME, ADDRESS,
    /// ROLE, VOTER, STATE.
    fn identity_cells(&self) -> Vec<String> {
        vec![
            format!("{}{}", self.id, if self.leader { "*" } else { "" }),
            self.name.clone(),
            self.address.clone(),
            self.role.clone(),
            yes(self.voter),
            self.state.clone(),
        ]
    }
}

/// One node's buckets of one vCenter.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OwnerStatus {
    pub id: u64,
    pub name: String,
    pub state: String,
    pub buckets: u32,
    /// The buckets as ranges, `0-340,700-712`.
    pub ranges: String,
    /// Entities in its last cycle of this vCenter, if it answered.
    pub entities: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VcenterStatus {
    pub vcenter: String,
    /// Buckets with no owner.
    pub unassigned: u32,
    pub owners: Vec<OwnerStatus>,
    /// Its event stream, once a position is committed (`[collect] events`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventStreamStatus>,
}

/// How far a vCenter's event stream is in the sink, as committed, and who reads it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventStreamStatus {
    /// The newest event's key (0: the start marker, no event written yet).
    pub key: i64,
    /// Its creation time (vCenter's clock; for key 0, where reading started), RFC 3339 and
    /// unix seconds.
    pub time: String,
    pub time_unix: i64,
    /// The node that owns the stream's bucket, if any.
    pub reader_id: Option<u64>,
    pub reader_name: Option<String>,
}

/// The leader, as named in the JSON (`leader.name`, `leader.address`, `leader.id`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeaderRef {
    pub id: u64,
    pub name: String,
    pub address: String,
}

/// A node's answer to `Status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusReport {
    /// The node that answered (`addr` as asked).
    pub addr: String,
    pub node_id: u64,
    /// leader, follower, learner, candidate, shutdown or starting.
    pub server_state: String,
    pub leader_id: Option<u64>,
    pub leader: Option<LeaderRef>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// A membership change is half done (joint configuration).
    pub joint: bool,
    /// The answering node is collecting (in contact with the cluster).
    pub collecting: bool,
    /// The leader's last quorum acknowledgement, milliseconds ago (when the leader answered).
    pub quorum_ack_age_ms: Option<u64>,
    pub failure_timeout_ms: u64,
    pub members: Vec<MemberStatus>,
    pub vcenters: Vec<VcenterStatus>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl StatusReport {
    pub(crate) fn from_pb(addr: &str, r: pb::StatusReply) -> Self {
        let leader_id = r.leader_id;
        let server_state = label(convert::reply_server_state(&r), &r.server_state);
        let leader_report = r
            .nodes
            .iter()
            .find(|n| Some(n.node_id) == leader_id && n.reachable);
        let members: Vec<MemberStatus> = r
            .members
            .into_iter()
            .map(|m| {
                let own = r.nodes.iter().find(|n| n.node_id == m.id);
                MemberStatus::from_pb(m, own, leader_id, leader_report)
            })
            .collect();
        let vcenters = r
            .vcenters
            .into_iter()
            .map(|v| VcenterStatus::from_pb(v, &members))
            .collect();
        let leader = LeaderRef::of(&members, leader_id);
        StatusReport {
            addr: addr.to_string(),
            node_id: r.node_id,
            server_state,
            leader_id,
            leader,
            term: r.term,
            last_log_index: r.last_log_index,
            applied_index: r.applied_index,
            voters: r.voters,
            learners: r.learners,
            joint: r.joint,
            collecting: r.collecting,
            quorum_ack_age_ms: leader_report.and_then(|l| l.quorum_ack_age_ms),
            failure_timeout_ms: r.failure_timeout_ms,
            members,
            vcenters,
        }
    }

    /// The member that answered.
    pub fn me(&self) -> Option<&MemberStatus> {
        self.members.iter().find(|m| m.id == self.node_id)
    }

    /// The member table only (`vcollect members`).
    pub fn members_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .members
            .iter()
            .map(|m| {
                let mut row = m.identity_cells();
                row.push(m.buckets.to_string());
                row
            })
            .collect();
        table(
            &["ID", "NAME", "ADDRESS", "ROLE", "VOTER", "STATE", "BUCKETS"],
            &rows,
        )
    }

    /// Per vCenter, the buckets each node owns (`vcollect assignments`).
    pub fn assignments_table(&self) -> String {
        let mut s = String::new();
        if self.vcenters.is_empty() {
            s.push_str("no vCenter has buckets assigned yet\n");
        }
        for v in &self.vcenters {
            let _ = writeln!(
                s,
                "vcenter {}: {} buckets assigned, {} unassigned",
                v.vcenter,
                v.owners.iter().map(|o| o.buckets).sum::<u32>(),
                v.unassigned
            );
            let rows: Vec<Vec<String>> = v
                .owners
                .iter()
                .map(|o| {
                    vec![
                        o.id.to_string(),
                        o.name.clone(),
                        o.state.clone(),
                        o.buckets.to_string(),
                        opt(o.entities),
                        if o.ranges.len() > 48 {
                            format!(
                                "{}...",
                                &o.ranges[..o.ranges[..45].rfind(',').unwrap_or(45)]
                            )
                        } else {
                            o.ranges.clone()
                        },
                    ]
                })
                .collect();
            s.push_str(&table(
                &["ID", "NAME", "STATE", "BUCKETS", "ENTITIES", "RANGES"],
                &rows,
            ));
        }
        s
    }
}

impl MemberStatus {
    /// A member from the replicated member list, with its own report (`own`, when the fan-out
    /// reached it) and what the leader's report says of it (`leader`: the leader's own
    /// report, when it answered).
    fn from_pb(
        m: pb::Member,
        own: Option<&pb::NodeReport>,
        leader_id: Option<u64>,
        leader: Option<&pb::NodeReport>,
    ) -> Self {
        let reachable = own.is_some_and(|n| n.reachable);
        let own_ok = own.filter(|n| n.reachable);
        let is_leader = Some(m.id) == leader_id;
        let peer = leader.and_then(|l| l.peers.iter().find(|p| p.id == m.id));
        let lag = if is_leader {
            Some(0)
        } else {
            lag(leader.and_then(|l| l.last_log_index), peer, own_ok)
        };
        let last_contact_ms = if is_leader {
            None
        } else {
            peer.and_then(|p| p.ack_age_ms)
                .or_else(|| own_ok.and_then(|n| n.contact_age_ms))
        };
        let cycles: Vec<CycleStatus> = own_ok
            .map(|n| n.cycles.iter().map(CycleStatus::from_pb).collect())
            .unwrap_or_default();
        let last = cycles.iter().max_by_key(|c| c.ended_unix_ms);
        let listed = convert::member_role(&m);
        MemberStatus {
            role: role(&listed, &m.role, is_leader, own_ok),
            voter: matches!(listed, Ok(Role::Voter)),
            state: label(convert::member_state(&m), &m.state),
            id: m.id,
            name: m.name,
            address: m.addr,
            leader: is_leader,
            reachable,
            error: own.filter(|n| !n.reachable).map(|n| n.error.clone()),
            term: own_ok.map(|n| n.term),
            last_log_index: own_ok.and_then(|n| n.last_log_index),
            applied_index: own_ok.and_then(|n| n.applied_index),
            lag,
            last_contact_ms,
            collecting: own_ok.map(|n| n.collecting),
            buckets: m.buckets,
            entities: own_ok.map(|_| cycles.iter().map(|c| c.entities).sum()),
            last_cycle_end: last.map(|c| c.ended.clone()),
            last_cycle_end_unix_ms: last.map(|c| c.ended_unix_ms),
            last_cycle_duration_ms: cycles.iter().map(|c| c.duration_ms).max(),
            last_cycle_errors: own_ok.map(|_| cycles.iter().map(|c| c.errors).sum()),
            cycles,
        }
    }
}

/// A member's role: the leader is `leader`; a member that answered says what it is; else
/// its role in the member list (`listed`, `old`: as sent; a voter that did not answer shows
/// as `follower`).
fn role(
    listed: &Result<Role, convert::WireError>,
    old: &str,
    is_leader: bool,
    own: Option<&pb::NodeReport>,
) -> String {
    use openraft::ServerState as S;
    if is_leader {
        return convert::name(Some(S::Leader)).to_string();
    }
    match own.map(convert::report_server_state) {
        Some(Ok(s @ Some(S::Follower | S::Learner | S::Candidate))) => convert::name(s).to_string(),
        _ => match listed {
            Ok(Role::Voter) => convert::name(Some(S::Follower)).to_string(),
            Ok(r) => convert::name(*r).to_string(),
            Err(_) => old.to_string(),
        },
    }
}

/// Entries a member is behind the leader's log (`last`): from the leader's replication
/// progress, else from the member's own last index.
fn lag(
    last: Option<u64>,
    peer: Option<&pb::PeerReport>,
    own: Option<&pb::NodeReport>,
) -> Option<u64> {
    match (last, peer.and_then(|p| p.matched_index)) {
        (Some(last), Some(matched)) => Some(last.saturating_sub(matched)),
        (Some(last), None) => own
            .and_then(|n| n.last_log_index)
            .map(|n| last.saturating_sub(n)),
        _ => None,
    }
}

impl CycleStatus {
    fn from_pb(c: &pb::CycleReport) -> Self {
        CycleStatus {
            vcenter: c.vcenter.clone(),
            entities: c.entities,
            samples: c.samples,
            ended: rfc3339(c.ended_unix_ms),
            ended_unix_ms: c.ended_unix_ms,
            duration_ms: c.duration_ms,
            errors: c.errors,
            first_error: (!c.first_error.is_empty()).then(|| c.first_error.clone()),
        }
    }
}

impl VcenterStatus {
    /// One vCenter's owners, by node id, with what each collected of it last cycle.
    fn from_pb(v: pb::VcenterBuckets, members: &[MemberStatus]) -> Self {
        let mut owners: Vec<OwnerStatus> = v
            .owned
            .iter()
            .map(|(&id, &n)| {
                let m = members.iter().find(|m| m.id == id);
                OwnerStatus {
                    id,
                    name: m.map(|m| m.name.clone()).unwrap_or_default(),
                    state: m.map(|m| m.state.clone()).unwrap_or_default(),
                    buckets: n,
                    ranges: v.ranges.get(&id).cloned().unwrap_or_default(),
                    entities: m.filter(|m| m.reachable).map(|m| {
                        m.cycles
                            .iter()
                            .filter(|c| c.vcenter == v.vcenter)
                            .map(|c| c.entities)
                            .sum()
                    }),
                }
            })
            .collect();
        owners.sort_by_key(|o| o.id);
        let events = v.events_key.zip(v.events_time).map(|(key, time)| {
            let reader = members.iter().find(|m| Some(m.id) == v.events_reader);
            EventStreamStatus {
                key,
                time: rfc3339(time.saturating_mul(1000)),
                time_unix: time,
                reader_id: v.events_reader,
                reader_name: reader.map(|m| m.name.clone()),
            }
        });
        VcenterStatus {
            vcenter: v.vcenter,
            unassigned: v.unassigned,
            owners,
            events,
        }
    }
}

impl LeaderRef {
    /// The leader as the member list names it, or its id alone when the list does not.
    fn of(members: &[MemberStatus], leader_id: Option<u64>) -> Option<Self> {
        members
            .iter()
            .find(|m| m.leader)
            .map(|m| LeaderRef {
                id: m.id,
                name: m.name.clone(),
                address: m.address.clone(),
            })
            .or_else(|| {
                leader_id.map(|id| LeaderRef {
                    id,
                    name: String::new(),
                    address: String::new(),
                })
            })
    }
}

/// Asks the node at `addr` (`host:port`) for its view of the cluster, with every member's
/// own figures.
pub async fn status(addr: &str, token: &Secret, timeout: Duration) -> Result<StatusReport, Error> {
    status_with(addr, &ClientOptions::new(Some(token.clone()), timeout)).await
}

/// [`status`] with full client options (mutual TLS).
pub async fn status_with(addr: &str, opts: &ClientOptions) -> Result<StatusReport, Error> {
    status_ext(addr, opts, false).await
}

/// [`status`]; `local`: only the asked node's own figures (no fan-out to the others).
pub async fn status_ext(
    addr: &str,
    opts: &ClientOptions,
    local: bool,
) -> Result<StatusReport, Error> {
    let mut client = opts.cluster_client(opts.channel(addr)?);
    let reply = rpc::call(
        addr,
        opts.timeout,
        pb::StatusRequest { local },
        |r| async move { client.status(r).await },
    )
    .await?;
    Ok(StatusReport::from_pb(addr, reply))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn secs(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// Left-aligned columns, the numeric-looking last ones too (simple and greppable).
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            let _ = write!(s, "{c:<width$}  ", width = w[i]);
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut head.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_header(f)?;
        f.write_str(&table(
            &[
                "ID",
                "NAME",
                "ADDRESS",
                "ROLE",
                "VOTER",
                "STATE",
                "TERM",
                "LOG",
                "APPLIED",
                "LAG",
                "CONTACT",
                "BUCKETS",
                "ENTITIES",
                "LAST-CYCLE",
                "TOOK",
                "ERRORS",
            ],
            &self.member_rows(crate::cluster::runtime::wall_ms()),
        ))?;
        self.fmt_events(f, crate::cluster::runtime::wall_ms())?;
        self.fmt_errors(f)
    }
}

impl StatusReport {
    /// The lines above the member table: the answering node, the leader and its log, the
    /// membership, and the vCenters with unassigned buckets.
    fn fmt_header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let me = self.me();
        writeln!(
            f,
            "{} (node id {}) at {}: {}, {}",
            me.map(|m| m.name.as_str()).unwrap_or("this node"),
            self.node_id,
            self.addr,
            self.server_state,
            if self.collecting {
                "collecting"
            } else {
                "not collecting"
            }
        )?;
        writeln!(
            f,
            "leader: {}   term: {}   last log: {}   applied: {}",
            match &self.leader {
                Some(l) if !l.name.is_empty() => format!("{} ({} {})", l.id, l.name, l.address),
                Some(l) => l.id.to_string(),
                None => "-".into(),
            },
            self.term,
            opt(self.last_log_index),
            opt(self.applied_index),
        )?;
        let ids = |v: &[u64]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            }
        };
        writeln!(
            f,
            "membership: voters {}; learners {}{}",
            ids(&self.voters),
            ids(&self.learners),
            if self.joint {
                "   JOINT CONFIGURATION: a membership change is in progress"
            } else {
                ""
            }
        )?;
        for v in self.vcenters.iter().filter(|v| v.unassigned > 0) {
            writeln!(
                f,
                "vcenter {}: {} buckets unassigned",
                v.vcenter, v.unassigned
            )?;
        }
        Ok(())
    }

    /// One row per member for the `status` table (`now`: for the LAST-CYCLE age).
    fn member_rows(&self, now: i64) -> Vec<Vec<String>> {
        self.members
            .iter()
            .map(|m| {
                let mut row = m.identity_cells();
                row.extend([
                    opt(m.term),
                    opt(m.last_log_index),
                    opt(m.applied_index),
                    opt(m.lag),
                    m.last_contact_ms.map(secs).unwrap_or_else(|| "-".into()),
                    m.buckets.to_string(),
                    opt(m.entities),
                    m.last_cycle_end_unix_ms
                        .map(|t| format!("{} ago", secs((now - t).max(0) as u64)))
                        .unwrap_or_else(|| "-".into()),
                    m.last_cycle_duration_ms
                        .map(secs)
                        .unwrap_or_else(|| "-".into()),
                    opt(m.last_cycle_errors),
                ]);
                row
            })
            .collect()
    }

    /// Below the table, per vCenter whose events are read: the committed position, its age
    /// (`now`, unix ms) and the reader.
    fn fmt_events(&self, f: &mut fmt::Formatter<'_>, now: i64) -> fmt::Result {
        for v in &self.vcenters {
            let Some(e) = &v.events else { continue };
            let age = secs((now / 1000 - e.time_unix).max(0) as u64 * 1000);
            let at = if e.key == 0 {
                format!("no event yet, reading from {} ({age} ago)", e.time)
            } else {
                format!("key {} created {} ({age} ago)", e.key, e.time)
            };
            let reader = match (e.reader_id, &e.reader_name) {
                (Some(id), Some(name)) => format!("read by node {id} ({name})"),
                (Some(id), None) => format!("read by node {id}"),
                (None, _) => "no reader".to_string(),
            };
            writeln!(f, "vcenter {} events: {at}, {reader}", v.vcenter)?;
        }
        Ok(())
    }

    /// The lines below the table: members that did not answer, and each cycle's first error.
    fn fmt_errors(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.members {
            if let Some(e) = &m.error {
                writeln!(f, "node {} ({}) did not answer: {e}", m.id, m.name)?;
            }
            for c in &m.cycles {
                if let Some(e) = &c.first_error {
                    writeln!(
                        f,
                        "node {} ({}) vcenter {}: {} error(s), first: {e}",
                        m.id, m.name, c.vcenter, c.errors
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn reply() -> pb::StatusReply {
        let member = |id: u64, name: &str, state: &str, buckets| pb::Member {
            id,
            name: name.into(),
            addr: format!("127.0.0.1:740{id}"),
            incarnation: id,
            role: "voter".into(),
            state: state.into(),
            buckets,
            // Release 0.1's form (strings only): what a 0.1 node answers still reads the same.
            role_kind: 0,
            state_kind: 0,
        };
        pb::StatusReply {
            node_id: 1,
            leader_id: Some(1),
            term: 3,
            last_log_index: Some(42),
            applied_index: Some(42),
            server_state: "leader".into(),
            members: vec![
                member(1, "collector-1", "active", 512),
                member(2, "c2", "active", 512),
                member(3, "c3", "down", 0),
            ],
            vcenters: vec![pb::VcenterBuckets {
                vcenter: "vc1".into(),
                unassigned: 0,
                owned: [(1, 512), (2, 512)].into_iter().collect(),
                ranges: [(1, "0-511".to_string()), (2, "512-1023".to_string())]
                    .into_iter()
                    .collect(),
                events_key: Some(1234),
                events_time: Some(crate::cluster::runtime::wall_ms() / 1000 - 12),
                events_reader: Some(2),
            }],
            voters: vec![1, 2, 3],
            learners: vec![],
            joint: false,
            collecting: true,
            failure_timeout_ms: 5000,
            server_state_kind: 0,
            nodes: vec![
                pb::NodeReport {
                    node_id: 1,
                    reachable: true,
                    server_state: "leader".into(),
                    term: 3,
                    last_log_index: Some(42),
                    applied_index: Some(42),
                    leader_id: Some(1),
                    collecting: true,
                    cycles: vec![pb::CycleReport {
                        vcenter: "vc1".into(),
                        entities: 40,
                        samples: 400,
                        ended_unix_ms: crate::cluster::runtime::wall_ms() - 3000,
                        duration_ms: 1200,
                        errors: 0,
                        ..Default::default()
                    }],
                    peers: vec![
                        pb::PeerReport {
                            id: 2,
                            matched_index: Some(40),
                            ack_age_ms: Some(120),
                        },
                        pb::PeerReport {
                            id: 3,
                            matched_index: Some(30),
                            ack_age_ms: Some(9000),
                        },
                    ],
                    quorum_ack_age_ms: Some(100),
                    ..Default::default()
                },
                pb::NodeReport {
                    node_id: 2,
                    reachable: true,
                    server_state: "follower".into(),
                    term: 3,
                    last_log_index: Some(40),
                    applied_index: Some(40),
                    collecting: true,
                    ..Default::default()
                },
                pb::NodeReport {
                    node_id: 3,
                    reachable: false,
                    error: "127.0.0.1:7403: node unreachable".into(),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn table_has_every_column_and_the_leader() {
        let r = StatusReport::from_pb("127.0.0.1:7401", reply());
        let s = r.to_string();
        assert!(
            s.contains("leader: 1 (collector-1 127.0.0.1:7401)   term: 3"),
            "{s}"
        );
        assert!(
            s.contains("LAG  CONTACT  BUCKETS  ENTITIES  LAST-CYCLE"),
            "{s}"
        );
        assert!(s.contains("1*  collector-1  127.0.0.1:7401  leader"), "{s}");
        assert!(s.contains("node 3 (c3) did not answer"), "{s}");
        let m2 = &r.members[1];
        assert_eq!(
            (m2.role.as_str(), m2.lag, m2.last_contact_ms),
            ("follower", Some(2), Some(120))
        );
        assert_eq!(r.members[0].entities, Some(40));
        assert_eq!(r.members[2].lag, Some(12));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["leader"]["name"], "collector-1");
        assert_eq!(json["leader_id"], 1);
        assert_eq!(json["members"][0]["role"], "leader");
        assert!(r.assignments_table().contains("512-1023"));
        assert!(r.health().is_ok(), "{:?}", r.health());
    }

    #[test]
    fn the_event_stream_shows_its_position_and_reader() {
        let r = StatusReport::from_pb("127.0.0.1:7401", reply());
        let s = r.to_string();
        let line = s
            .lines()
            .find(|l| l.starts_with("vcenter vc1 events: key 1234 created "))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(line.ends_with("s ago), read by node 2 (c2)"), "{line}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["vcenters"][0]["events"]["key"], 1234);
        assert_eq!(json["vcenters"][0]["events"]["reader_name"], "c2");
        // A start marker, no reader; a vCenter whose events are not read shows no line.
        let mut marker = reply();
        marker.vcenters[0].events_key = Some(0);
        marker.vcenters[0].events_reader = None;
        let s = StatusReport::from_pb("a", marker).to_string();
        assert!(
            s.contains("vcenter vc1 events: no event yet, reading from "),
            "{s}"
        );
        assert!(s.contains("ago), no reader"), "{s}");
        let mut off = reply();
        off.vcenters[0].events_key = None;
        assert!(!StatusReport::from_pb("a", off)
            .to_string()
            .contains("events:"));
    }

    #[test]
    fn a_member_that_did_not_answer_shows_its_listed_role_and_lag_from_the_leader() {
        let answered = pb::NodeReport {
            reachable: true,
            server_state: "candidate".into(),
            ..Default::default()
        };
        let (voter, learner) = (Ok(Role::Voter), Ok(Role::Learner));
        assert_eq!(role(&voter, "", false, Some(&answered)), "candidate");
        assert_eq!(role(&voter, "", false, None), "follower");
        assert_eq!(role(&learner, "", false, None), "learner");
        assert_eq!(role(&learner, "", true, Some(&answered)), "leader");
        let unknown = convert::member_role(&pb::Member {
            role: "observer".into(),
            ..Default::default()
        });
        assert_eq!(role(&unknown, "observer", false, None), "observer");
        let peer = pb::PeerReport {
            id: 2,
            matched_index: Some(7),
            ack_age_ms: None,
        };
        let own = pb::NodeReport {
            last_log_index: Some(9),
            ..Default::default()
        };
        assert_eq!(lag(Some(10), Some(&peer), Some(&own)), Some(3));
        assert_eq!(lag(Some(10), None, Some(&own)), Some(1));
        assert_eq!(lag(None, Some(&peer), Some(&own)), None);
    }
}
