//! [`ClusterAssignment`]: the collector's [`Assignment`] on top of the replicated state.
//!
//! Ownership and watermarks are read from the local replica (no RPC); commits go through the
//! leader as one `CommitWatermarks` command per call (the collector calls it once per vCenter
//! and cycle). `collecting()` turns false when this node has lost the cluster: a follower or
//! learner that has not accepted an AppendEntries from a leader for `failure_timeout`, or a
//! leader whose quorum has not acknowledged it for as long. By then the leader has marked it
//! down and moved its buckets, so a bucket is never collected by two nodes for longer than the
//! hand-over.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::{Instant as _, ServerState};

use super::local::Local;
use super::running::{Core, CoreSlot};
use super::state::{self, Command, Response};
use crate::collect::assignment::{Assignment, AssignmentError, BoxFuture, Snapshot};
use crate::contract::EntityKind;
use crate::contract::EventPosition;
use crate::contract::WatermarkUpdate;

/// How long a commit keeps retrying (leader election, forwarding) before it reports failure.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster's [`Assignment`]. Get one from [`Node::assignment`](super::Node::assignment).
/// One of the node's edges: before the node has its id (no [`Core`] yet) it owns nothing and
/// does not collect.
pub struct ClusterAssignment {
    local: Arc<Local>,
    core: CoreSlot,
}

impl ClusterAssignment {
    pub(crate) fn new(local: Arc<Local>, core: CoreSlot) -> Self {
        ClusterAssignment { local, core }
    }

    fn core(&self) -> Option<Arc<Core>> {
        self.core.current()
    }
}

/// Whether this node is in contact with a working cluster (see the module doc).
pub(crate) fn collecting(core: &Core) -> bool {
    let m = core.metrics();
    let contact = Contact {
        state: m.state,
        sole_voter: sole_voter(&m),
        quorum_ack_age: m.last_quorum_acked.as_ref().map(|t| t.elapsed()),
        since_leader: core.since_contact(),
        caught_up: core
            .first_leader_commit()
            .is_some_and(|c| c == 0 || m.last_applied.as_ref().is_some_and(|a| a.index >= c)),
        behind: core.behind_for(m.last_applied.as_ref().map_or(0, |a| a.index)),
    };
    in_contact(&contact, core.local.cluster.failure_timeout)
}

/// What [`in_contact`] judges from, read from Raft's metrics.
#[derive(Clone, Debug)]
struct Contact {
    state: ServerState,
    /// This node is the only voter (joint configurations included).
    sole_voter: bool,
    /// A leader: since its quorum last acknowledged it (`None`: never).
    quorum_ack_age: Option<Duration>,
    /// Any other role: since it last accepted a leader's AppendEntries (`None`: never).
    since_leader: Option<Duration>,
    /// Any other role: its replica has applied what the first leader that reached this
    /// process had committed. Until then it may say what the node owned before it stopped.
    caught_up: bool,
    /// Any other role: since its leader told it a commit index its replica has not applied
    /// yet (`None`: it applied all it was told).
    behind: Option<Duration>,
}

/// The rule that keeps two nodes from collecting one bucket: a node collects only while its
/// cluster has heard from it, or it from its leader, within `failure_timeout`. By then the
/// leader marks a silent node down and moves its buckets, so the two never overlap for
/// longer than the hand-over. A follower that restarted also waits until its replica caught
/// up with what its first leader had committed: its disk still says what it owned before it
/// stopped, and if the leader changes before it catches up (the simulation's seed 1277: a
/// new leader that could not reach it), it would collect those buckets for a whole
/// `failure_timeout` beside their new owners. And a follower whose replica has been behind
/// its leader's commit index for half of `failure_timeout` stops too: it hears its leader
/// but not the log (a slow link on which heartbeats get through and entries time out), so
/// it cannot know that its buckets moved (the simulation's seed 572: 6 s without the entries
/// that took its buckets away).
fn in_contact(c: &Contact, failure_timeout: Duration) -> bool {
    match c.state {
        // A leader that is its only voter is its own quorum: openraft refreshes
        // `last_quorum_acked` only from followers' answers, so it would go stale after
        // failure_timeout and a single-node cluster would stop collecting for good.
        ServerState::Leader if c.sole_voter => true,
        ServerState::Leader => c.quorum_ack_age.is_some_and(|d| d < failure_timeout),
        ServerState::Shutdown => false,
        // Followers, learners, and candidates (which were followers a moment ago: they stop
        // when the timeout their leader's silence started runs out).
        _ => {
            c.caught_up
                && c.since_leader.is_some_and(|d| d < failure_timeout)
                && c.behind.is_none_or(|d| d < failure_timeout / 2)
        }
    }
}

/// Whether this node is the only voter (joint configurations included).
fn sole_voter(m: &openraft::RaftMetrics<super::TypeConfig>) -> bool {
    let mut voters = m.membership_config.membership().voter_ids();
    voters.next() == Some(m.id) && voters.next().is_none()
}

impl Assignment for ClusterAssignment {
    fn collecting(&self) -> bool {
        self.core().is_some_and(|c| collecting(&c))
    }

    /// Only what the sink acknowledged moves a watermark: another node resumes from it if
    /// this one dies with batches still in its spool.
    fn spool_is_durable(&self) -> bool {
        false
    }

    /// Ownership and watermarks from the local replica, read under one borrow.
    fn snapshot(&self, vcenter: &str) -> Snapshot {
        let mut snap = Snapshot::default();
        let Some(me) = self.core().map(|c| c.id) else {
            return snap;
        };
        let state = self.local.state.borrow();
        let Some(v) = state.vcenters.get(vcenter) else {
            return snap;
        };
        for (bucket, owner) in v.owners.iter().enumerate() {
            if *owner == Some(me) {
                snap.own(bucket as u32);
            }
        }
        for (kind, marks) in &v.watermarks {
            for (bucket, ts) in marks.iter().enumerate() {
                if let Some(ts) = ts {
                    snap.set_watermark(*kind, bucket as u32, *ts);
                }
            }
        }
        snap
    }

    fn query_share(&self, _vcenter: &str, total: usize) -> usize {
        let Some(me) = self.core().map(|c| c.id) else {
            return 1;
        };
        self.local.state.borrow().query_share(me, total)
    }

    fn report(&self, s: &crate::collect::CycleSummary) {
        let ended = super::runtime::wall_ms();
        self.local.cycles.record(s.report(ended));
    }

    fn commit<'a>(
        &'a self,
        vcenter: &'a str,
        updates: Vec<WatermarkUpdate>,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        Box::pin(async move {
            if updates.is_empty() {
                return Ok(());
            }
            let core = self
                .core()
                .ok_or_else(|| AssignmentError::Commit("this node has no id yet".into()))?;
            let cmd = Command::commit_watermarks(core.id, group(vcenter, updates));
            match core.write(cmd, COMMIT_TIMEOUT).await {
                Ok(Response::Rejected(r)) => Err(AssignmentError::Commit(r.to_string())),
                Ok(_) => Ok(()),
                Err(e) => Err(AssignmentError::Commit(e.to_string())),
            }
        })
    }

    fn event_position(&self, vcenter: &str) -> Option<EventPosition> {
        self.event_position_of(vcenter)
    }

    fn commit_events<'a>(
        &'a self,
        vcenter: &'a str,
        position: EventPosition,
    ) -> BoxFuture<'a, Result<(), AssignmentError>> {
        Box::pin(self.commit_event_position(vcenter, position))
    }
}

/// The event stream's position ([`Assignment::event_position`], [`Assignment::commit_events`]):
/// read from the local replica, committed like the watermarks, through the leader.
impl ClusterAssignment {
    fn event_position_of(&self, vcenter: &str) -> Option<EventPosition> {
        self.local.state.borrow().vcenters.get(vcenter)?.events
    }

    async fn commit_event_position(
        &self,
        vcenter: &str,
        position: EventPosition,
    ) -> Result<(), AssignmentError> {
        if self
            .event_position_of(vcenter)
            .is_some_and(|old| !position.advances(&old))
        {
            return Ok(());
        }
        let core = self
            .core()
            .ok_or_else(|| AssignmentError::Commit("this node has no id yet".into()))?;
        let cmd = Command::commit_events(core.id, vcenter, position);
        match core.write(cmd, COMMIT_TIMEOUT).await {
            Ok(Response::Rejected(r)) => Err(AssignmentError::Commit(r.to_string())),
            Ok(_) => Ok(()),
            Err(e) => Err(AssignmentError::Commit(e.to_string())),
        }
    }
}

/// Groups a cycle's updates by (kind, timestamp): one entry per window, not per bucket.
fn group(vcenter: &str, updates: Vec<WatermarkUpdate>) -> Vec<state::WatermarkWindow> {
    let mut by: BTreeMap<(EntityKind, i64), Vec<u32>> = BTreeMap::new();
    for u in updates {
        by.entry((u.kind, u.ts)).or_default().push(u.bucket);
    }
    by.into_iter()
        .map(|((kind, ts), mut buckets)| {
            buckets.sort_unstable();
            buckets.dedup();
            state::WatermarkWindow {
                vcenter: vcenter.to_string(),
                kind,
                ts,
                buckets,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_grouped_per_window() {
        let u = |kind, bucket, ts| WatermarkUpdate { kind, bucket, ts };
        let g = group(
            "vc",
            vec![
                u(EntityKind::Vm, 3, 100),
                u(EntityKind::Vm, 1, 100),
                u(EntityKind::Host, 1, 100),
                u(EntityKind::Vm, 2, 120),
                u(EntityKind::Vm, 1, 100),
            ],
        );
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].kind, EntityKind::Vm);
        assert_eq!((g[0].ts, g[0].buckets.clone()), (100, vec![1, 3]));
        assert_eq!((g[1].ts, g[1].buckets.clone()), (120, vec![2]));
        assert_eq!(g[2].kind, EntityKind::Host);
    }

    const FT: Duration = Duration::from_secs(10);

    fn contact(state: ServerState) -> Contact {
        Contact {
            state,
            sole_voter: false,
            quorum_ack_age: None,
            since_leader: None,
            caught_up: true,
            behind: None,
        }
    }

    #[test]
    fn a_leader_collects_while_its_quorum_acknowledges_it() {
        let mut c = contact(ServerState::Leader);
        assert!(!in_contact(&c, FT), "never acknowledged");
        c.quorum_ack_age = Some(Duration::from_secs(3));
        assert!(in_contact(&c, FT));
        c.quorum_ack_age = Some(FT);
        assert!(
            !in_contact(&c, FT),
            "cut off for failure_timeout: its buckets move"
        );
    }

    #[test]
    fn a_leader_that_is_its_only_voter_always_collects() {
        let mut c = contact(ServerState::Leader);
        c.sole_voter = true;
        assert!(in_contact(&c, FT));
        c.quorum_ack_age = Some(Duration::from_secs(3600));
        assert!(in_contact(&c, FT));
    }

    #[test]
    fn a_follower_learner_or_candidate_collects_while_it_hears_its_leader() {
        for state in [
            ServerState::Follower,
            ServerState::Learner,
            ServerState::Candidate,
        ] {
            let mut c = contact(state);
            assert!(!in_contact(&c, FT), "{state:?} never heard a leader");
            c.since_leader = Some(Duration::from_millis(500));
            assert!(in_contact(&c, FT), "{state:?}");
            c.since_leader = Some(FT + Duration::from_millis(1));
            assert!(!in_contact(&c, FT), "{state:?} silent leader");
            // A quorum acknowledgement means nothing but to a leader.
            c.quorum_ack_age = Some(Duration::ZERO);
            assert!(!in_contact(&c, FT), "{state:?}");
        }
    }

    #[test]
    fn a_restarted_follower_waits_until_its_replica_caught_up() {
        let mut c = contact(ServerState::Follower);
        c.since_leader = Some(Duration::from_millis(100));
        c.caught_up = false;
        assert!(
            !in_contact(&c, FT),
            "its replica may still say what it owned before it stopped"
        );
        c.caught_up = true;
        assert!(in_contact(&c, FT));
    }

    #[test]
    fn a_follower_whose_replica_lags_its_leader_stops() {
        let mut c = contact(ServerState::Follower);
        c.since_leader = Some(Duration::from_millis(100));
        c.behind = Some(Duration::from_millis(200));
        assert!(in_contact(&c, FT), "a commit on its way");
        c.behind = Some(FT / 2);
        assert!(
            !in_contact(&c, FT),
            "it hears its leader but not the log: its buckets may have moved"
        );
        c.behind = None;
        assert!(in_contact(&c, FT));
    }

    #[test]
    fn a_node_shutting_down_never_collects() {
        let mut c = contact(ServerState::Shutdown);
        c.sole_voter = true;
        c.since_leader = Some(Duration::ZERO);
        c.quorum_ack_age = Some(Duration::ZERO);
        assert!(!in_contact(&c, FT));
    }
}
