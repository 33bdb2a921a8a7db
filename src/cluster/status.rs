//! `vcollect status`: what one node knows about the cluster, as a table or JSON.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::error::Error;
use super::rpc::{self, pb, ClientOptions};
use crate::secret::Secret;

/// One member as the asked node sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberStatus {
    pub id: u64,
    pub name: String,
    pub addr: String,
    /// voter, learner or outside (not in the Raft membership).
    pub role: String,
    /// active, draining, down or left.
    pub state: String,
    /// Buckets owned, all vCenters together.
    pub buckets: u32,
    pub leader: bool,
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
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// A membership change is half done (joint configuration).
    pub joint: bool,
    /// The answering node is collecting (in contact with the cluster).
    pub collecting: bool,
    pub members: Vec<MemberStatus>,
    /// Buckets without an owner, per vCenter.
    pub unassigned: Vec<(String, u32)>,
}

impl StatusReport {
    fn from_pb(addr: &str, r: pb::StatusReply) -> Self {
        let leader = r.leader_id;
        StatusReport {
            addr: addr.to_string(),
            node_id: r.node_id,
            server_state: r.server_state,
            leader_id: leader,
            term: r.term,
            last_log_index: r.last_log_index,
            applied_index: r.applied_index,
            voters: r.voters,
            learners: r.learners,
            joint: r.joint,
            collecting: r.collecting,
            members: r
                .members
                .into_iter()
                .map(|m| MemberStatus {
                    leader: Some(m.id) == leader,
                    id: m.id,
                    name: m.name,
                    addr: m.addr,
                    role: m.role,
                    state: m.state,
                    buckets: m.buckets,
                })
                .collect(),
            unassigned: r
                .vcenters
                .into_iter()
                .map(|v| (v.vcenter, v.unassigned))
                .collect(),
        }
    }
}

/// Asks the node at `addr` (`host:port`) for its view of the cluster.
pub async fn status(addr: &str, token: &Secret, timeout: Duration) -> Result<StatusReport, Error> {
    status_with(addr, &ClientOptions::new(Some(token.clone()), timeout)).await
}

/// [`status`] with full client options (mutual TLS).
pub async fn status_with(addr: &str, opts: &ClientOptions) -> Result<StatusReport, Error> {
    let mut client = opts.cluster_client(opts.channel(addr)?);
    let reply = rpc::call(addr, opts.timeout, pb::StatusRequest {}, |r| async move {
        client.status(r).await
    })
    .await?;
    Ok(StatusReport::from_pb(addr, reply))
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "node {} ({}) is {}{}",
            self.node_id,
            self.addr,
            self.server_state,
            if self.collecting {
                ", collecting"
            } else {
                ", not collecting"
            }
        )?;
        writeln!(
            f,
            "leader: {}   term: {}   last log: {}   applied: {}{}",
            opt(self.leader_id),
            self.term,
            opt(self.last_log_index),
            opt(self.applied_index),
            if self.joint {
                "   MEMBERSHIP CHANGE IN PROGRESS (joint)"
            } else {
                ""
            }
        )?;
        for (vc, n) in self.unassigned.iter().filter(|(_, n)| *n > 0) {
            writeln!(f, "vcenter {vc}: {n} buckets unassigned")?;
        }
        let rows: Vec<[String; 6]> = self
            .members
            .iter()
            .map(|m| {
                [
                    format!("{}{}", m.id, if m.leader { "*" } else { "" }),
                    m.name.clone(),
                    m.addr.clone(),
                    m.role.clone(),
                    m.state.clone(),
                    m.buckets.to_string(),
                ]
            })
            .collect();
        let head = ["ID", "NAME", "ADDRESS", "ROLE", "STATE", "BUCKETS"];
        let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.len());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(&format!("{c:>width$}", width = w[i]));
                } else {
                    s.push_str(&format!("{c:<width$}  ", width = w[i]));
                }
            }
            writeln!(f, "{}", s.trim_end())
        };
        line(f, &head)?;
        for r in &rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_members_and_marks_the_leader() {
        let r = StatusReport {
            addr: "127.0.0.1:7400".into(),
            node_id: 1,
            server_state: "leader".into(),
            leader_id: Some(1),
            term: 3,
            last_log_index: Some(42),
            applied_index: Some(42),
            voters: vec![1, 2],
            learners: vec![],
            joint: false,
            collecting: true,
            members: vec![
                MemberStatus {
                    id: 1,
                    name: "collector-1".into(),
                    addr: "127.0.0.1:7400".into(),
                    role: "voter".into(),
                    state: "active".into(),
                    buckets: 512,
                    leader: true,
                },
                MemberStatus {
                    id: 2,
                    name: "c2".into(),
                    addr: "127.0.0.1:7401".into(),
                    role: "voter".into(),
                    state: "down".into(),
                    buckets: 0,
                    leader: false,
                },
            ],
            unassigned: vec![("vc1".into(), 0)],
        };
        let s = r.to_string();
        assert!(s.contains("leader: 1   term: 3"), "{s}");
        assert!(
            s.contains("1*  collector-1  127.0.0.1:7400  voter  active      512"),
            "{s}"
        );
        assert!(s.contains("2   c2"), "{s}");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"buckets\":512"));
    }
}
