//! The verdicts on a node's status report: whether the cluster has a working leader (the one
//! rule `vcollect status` and `vcollect health` share, and `/healthz` through `health`), and
//! whether the asked node is healthy. Pure functions of the report, so they are unit tested
//! without a cluster.

use super::state::NodeState;
use super::status::{MemberStatus, StatusReport};

/// What the asked node knows of a working leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// It knows no leader (no quorum, or an election is running).
    Unknown,
    /// It knows a leader that does not answer it (`error`: why, when the fan-out said).
    Silent { leader: u64, error: Option<String> },
    /// The leader answers, but no quorum has acknowledged it within the failure timeout
    /// (`age_ms`: since the last acknowledgement; `None`: never).
    NoQuorum { leader: u64, age_ms: Option<u64> },
    /// The leader answers and its quorum does.
    Working { leader: u64 },
}

impl StatusReport {
    /// The leader verdict. A leader whose quorum acknowledged it longer ago than the failure
    /// timeout leads nothing: its followers may already be electing another.
    pub fn leadership(&self) -> Leadership {
        let Some(leader) = self.leader_id else {
            return Leadership::Unknown;
        };
        let member = self.members.iter().find(|m| m.id == leader);
        if !member.is_some_and(|m| m.reachable) {
            return Leadership::Silent {
                leader,
                error: member.and_then(|m| m.error.clone()),
            };
        }
        match self.quorum_ack_age_ms {
            Some(age) if age <= self.failure_timeout_ms.max(1) => Leadership::Working { leader },
            age_ms => Leadership::NoQuorum { leader, age_ms },
        }
    }

    /// Why `vcollect status` (without `--stale`) refuses to show this report: its picture
    /// of the cluster is only worth showing when a working leader is behind it.
    pub fn status_refusal(&self) -> Option<String> {
        match self.leadership() {
            Leadership::Working { .. } => None,
            Leadership::Unknown => Some(format!(
                "node {} at {} knows no leader (no quorum, or an election is running); \
                 --stale shows what it knows",
                self.node_id, self.addr
            )),
            Leadership::NoQuorum { leader, age_ms } => Some(format!(
                "node {leader} leads but no quorum has answered it for {}: the cluster has no \
                 working leader; --stale shows what node {} knows",
                age_ms
                    .map(|a| format!("{:.1}s", a as f64 / 1000.0))
                    .unwrap_or_else(|| "ever".into()),
                self.node_id
            )),
            Leadership::Silent { leader, .. } => Some(format!(
                "node {} at {} knows no leader that answers (it last followed node {leader}); \
                 --stale shows what it knows",
                self.node_id, self.addr
            )),
        }
    }

    /// `vcollect health`: `Ok(one line)` when a leader is known, its quorum answers and the
    /// asked node collects (or drains on purpose); `Err(one line saying why not)`.
    pub fn health(&self) -> Result<String, String> {
        let who = match self.me() {
            Some(m) => format!("node {} ({})", m.id, m.name),
            None => format!("node at {}", self.addr),
        };
        if self.node_id == 0 {
            return Err(format!("{who} has not joined a cluster yet"));
        }
        let leader = match self.leadership() {
            Leadership::Working { leader } => leader,
            Leadership::Unknown => {
                return Err(format!(
                    "{who} knows no leader (no quorum, or an election is running)"
                ))
            }
            Leadership::Silent { leader, error } => {
                return Err(format!(
                    "the leader node {leader} ({}) does not answer {who}: {}",
                    self.name_of(leader),
                    error.as_deref().unwrap_or("unreachable")
                ))
            }
            Leadership::NoQuorum {
                leader,
                age_ms: Some(age),
            } => {
                return Err(format!(
                    "the leader node {leader} ({}) last heard from a quorum {:.1}s ago",
                    self.name_of(leader),
                    age as f64 / 1000.0
                ))
            }
            Leadership::NoQuorum {
                leader,
                age_ms: None,
            } => {
                return Err(format!(
                    "the leader node {leader} ({}) reports no quorum acknowledgement",
                    self.name_of(leader)
                ))
            }
        };
        let Some(me) = self.me() else {
            return Err(format!("{who} is not a member of the cluster"));
        };
        self.member_health(&who, me, leader)
    }

    /// The asked node's own part of [`StatusReport::health`], once the leader is working.
    fn member_health(&self, who: &str, me: &MemberStatus, leader: u64) -> Result<String, String> {
        if me.state == NodeState::Down.name() {
            return Err(format!("{who} is marked down by the leader"));
        }
        if me.state == NodeState::Left.name() {
            return Err(format!("{who} has left the cluster"));
        }
        if !self.collecting {
            return Err(format!(
                "{who} is not collecting: it has lost contact with the leader"
            ));
        }
        let voters: Vec<&MemberStatus> = self.members.iter().filter(|m| m.voter).collect();
        let answering = voters.iter().filter(|m| m.reachable).count();
        let doing = if me.state == NodeState::Draining.name() {
            "draining on purpose".to_string()
        } else {
            format!("collecting {} buckets", me.buckets)
        };
        Ok(format!(
            "healthy: {who} is {}, {doing}; leader node {leader} ({}); {answering}/{} voters answer",
            me.role,
            self.name_of(leader),
            voters.len()
        ))
    }

    /// A member's name, `?` when the report does not list it.
    fn name_of(&self, id: u64) -> &str {
        self.members
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.name.as_str())
            .unwrap_or("?")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::status::tests::reply;

    fn report(edit: impl FnOnce(&mut super::super::rpc::pb::StatusReply)) -> StatusReport {
        let mut p = reply();
        edit(&mut p);
        StatusReport::from_pb("a:1", p)
    }

    #[test]
    fn a_leader_whose_quorum_answers_works() {
        let r = report(|_| {});
        assert_eq!(r.leadership(), Leadership::Working { leader: 1 });
        assert_eq!(r.status_refusal(), None);
        let line = r.health().unwrap();
        assert!(
            line.starts_with("healthy: node 1 (collector-1) is leader"),
            "{line}"
        );
        assert!(line.ends_with("2/3 voters answer"), "{line}");
    }

    #[test]
    fn no_leader_is_refused_by_status_and_health() {
        let r = report(|p| p.leader_id = None);
        assert_eq!(r.leadership(), Leadership::Unknown);
        assert!(r
            .status_refusal()
            .unwrap()
            .contains("knows no leader (no quorum"));
        assert!(r.health().unwrap_err().contains("knows no leader"));
    }

    #[test]
    fn a_stale_quorum_acknowledgement_is_no_working_leader() {
        let r = report(|p| p.nodes[0].quorum_ack_age_ms = Some(60_000));
        assert_eq!(
            r.leadership(),
            Leadership::NoQuorum {
                leader: 1,
                age_ms: Some(60_000)
            }
        );
        let refusal = r.status_refusal().unwrap();
        assert!(
            refusal.contains("no quorum has answered it for 60.0s"),
            "{refusal}"
        );
        assert!(r
            .health()
            .unwrap_err()
            .contains("last heard from a quorum 60.0s ago"));
        // The failure timeout itself is still fine; one millisecond more is not.
        let r = report(|p| p.nodes[0].quorum_ack_age_ms = Some(5000));
        assert_eq!(r.leadership(), Leadership::Working { leader: 1 });
        let r = report(|p| p.nodes[0].quorum_ack_age_ms = Some(5001));
        assert!(matches!(r.leadership(), Leadership::NoQuorum { .. }));
        let r = report(|p| p.nodes[0].quorum_ack_age_ms = None);
        assert!(r.status_refusal().unwrap().contains("for ever"));
        assert!(r
            .health()
            .unwrap_err()
            .contains("no quorum acknowledgement"));
    }

    #[test]
    fn a_leader_that_does_not_answer_is_named_with_its_error() {
        let r = report(|p| {
            p.leader_id = Some(3);
            p.nodes[0].server_state = "follower".into();
        });
        assert_eq!(
            r.leadership(),
            Leadership::Silent {
                leader: 3,
                error: Some("127.0.0.1:7403: node unreachable".into())
            }
        );
        assert!(r
            .status_refusal()
            .unwrap()
            .contains("knows no leader that answers (it last followed node 3)"));
        let why = r.health().unwrap_err();
        assert!(
            why.contains("the leader node 3 (c3) does not answer node 1"),
            "{why}"
        );
    }

    #[test]
    fn health_names_the_asked_nodes_own_cause() {
        let r = report(|p| {
            p.node_id = 3;
            p.collecting = false;
        });
        assert!(r.health().unwrap_err().contains("marked down"));
        let r = report(|p| p.collecting = false);
        assert!(r.health().unwrap_err().contains("lost contact"));
        let r = report(|p| p.node_id = 0);
        assert!(r.health().unwrap_err().contains("has not joined"));
        let r = report(|p| p.members[0].state = "draining".into());
        assert!(r.health().unwrap().contains("draining on purpose"));
    }
}
