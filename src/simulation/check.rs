//! The invariants, checked while a schedule runs and once it has healed. Each violation is a
//! sentence naming the node, bucket, entity or term it is about.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;

use crate::contract::EntityKind;

use super::world::{World, NORMAL_LAG, VCENTER};
use crate::cluster::ClusterState;

/// How long two nodes may both hold and collect one bucket: a handover's. The old owner
/// stops `failure_timeout` after it last heard its leader; the leader moves the bucket
/// `failure_timeout` after it last heard the old owner; both count from about the same
/// exchange, so the overlap is the time a message takes and a replica's apply lag. The
/// bound leaves room for the simulation's slow links.
pub const OVERLAP_BOUND: Duration = Duration::from_secs(3);

/// How soon after the heal every bucket must have an active owner again.
pub const OWNED_AFTER_HEAL: Duration = Duration::from_secs(3 + 30);

/// What the checks remember between steps.
#[derive(Default)]
pub struct Checker {
    /// Term → the node that led it.
    leaders: BTreeMap<u64, u64>,
    /// Raft id → the highest term its node has shown (a node that forgets its term forgot
    /// its vote: Raft's safety rests on a voter's disk).
    terms: BTreeMap<u64, u64>,
    /// (node, id) pairs already reported as running under another incarnation's id.
    impostors: BTreeSet<(usize, u64)>,
    /// Per node: the watermarks its replica showed last (reset when it restarts).
    marks: Vec<BTreeMap<(EntityKind, u32), i64>>,
    /// Bucket → since when more than one node holds and collects it.
    overlaps: BTreeMap<u32, Duration>,
    /// The buckets the inventory's entities fall in.
    buckets: Vec<u32>,
    /// The longest overlap seen.
    pub longest_overlap: Duration,
    /// When every bucket first had an active owner after the heal.
    pub owned_after_heal: Option<Duration>,
    /// The leader last noted in the trace.
    last_leader: Option<(u64, u64)>,
    /// The members and owners last noted in the trace.
    last_shares: String,
    pub violations: Vec<String>,
}

impl Checker {
    pub fn new(world: &World, nodes: usize) -> Checker {
        Checker {
            marks: vec![BTreeMap::new(); nodes],
            buckets: world.buckets.clone(),
            ..Checker::default()
        }
    }

    fn violate(&mut self, world: &mut World, what: String) {
        world.note(format_args!("VIOLATION {what}"));
        self.violations.push(what);
    }

    /// A node restarted: its replica starts again from its disk.
    pub fn restarted(&mut self, node: usize) {
        self.marks[node].clear();
    }

    /// The checks of every step at simulated time `now`.
    pub fn step(&mut self, world: &mut World, now: Duration) {
        self.one_leader_per_term(world);
        self.one_incarnation_per_id(world);
        self.shares(world);
        self.watermarks(world);
        self.one_collector_per_bucket(world, now);
    }

    /// One leader per term, and no node's term ever goes back.
    fn one_leader_per_term(&mut self, world: &mut World) {
        let metrics: Vec<_> = world
            .views
            .iter()
            .flatten()
            .map(|v| crate::cluster::metrics(&v.raft))
            .collect();
        for m in metrics {
            let seen = *self.terms.entry(m.id).or_insert(m.current_term);
            if m.current_term < seen {
                let what = format!(
                    "node {}'s term went back from {seen} to {}: it forgot its vote",
                    m.id, m.current_term
                );
                self.violate(world, what);
            } else {
                self.terms.insert(m.id, m.current_term);
            }
            if m.state != ServerState::Leader {
                continue;
            }
            let led = *self.leaders.entry(m.current_term).or_insert(m.id);
            if led != m.id {
                let what = format!(
                    "term {}: both node {led} and node {} lead",
                    m.current_term, m.id
                );
                self.violate(world, what);
            }
            if self.last_leader != Some((m.current_term, m.id)) {
                self.last_leader = Some((m.current_term, m.id));
                world.note(format_args!(
                    "leader: node {} in term {}",
                    m.id, m.current_term
                ));
            }
        }
    }

    /// A node runs as the id its cluster gave its own incarnation: a machine rebuilt under
    /// its old name (a new incarnation, an empty disk) that ran as its old id would be a voter
    /// that forgot its vote and its log.
    fn one_incarnation_per_id(&mut self, world: &mut World) {
        // Every running node's replica says which incarnation each id belongs to.
        let known: Vec<Arc<ClusterState>> = world
            .views
            .iter()
            .flatten()
            .map(|v| v.state.borrow().clone())
            .collect();
        let mut found = Vec::new();
        for (i, view) in world.views.iter().enumerate() {
            let Some(view) = view else { continue };
            let id = crate::cluster::metrics(&view.raft).id;
            let other = known
                .iter()
                .filter_map(|s| s.members.nodes.get(&id))
                .find(|m| m.incarnation != view.incarnation);
            if let Some(m) = other.filter(|_| !self.impostors.contains(&(i, id))) {
                self.impostors.insert((i, id));
                found.push(format!(
                    "n{} runs as node {id}, which the cluster knows as incarnation {}, not its \
                     own {}: a rebuilt node took its old id",
                    i + 1,
                    m.incarnation,
                    view.incarnation
                ));
            }
        }
        for what in found {
            self.violate(world, what);
        }
    }

    /// Notes in the trace how the leader's replica shares the inventory's buckets, when that
    /// changes: each member's state and how many of the buckets it owns.
    fn shares(&mut self, world: &mut World) {
        let leader = world
            .views
            .iter()
            .flatten()
            .find(|v| crate::cluster::metrics(&v.raft).state == ServerState::Leader);
        let Some(leader) = leader else { return };
        let state = leader.state.borrow().clone();
        let owners = state.vcenters.get(VCENTER).map(|s| &s.owners);
        let shares: Vec<String> = state
            .members
            .nodes
            .values()
            .map(|m| {
                let held = owners.map_or(0, |o| {
                    self.buckets
                        .iter()
                        .filter(|b| o.get(**b as usize) == Some(&Some(m.id)))
                        .count()
                });
                format!("{} {} {held}", m.name, m.state.name())
            })
            .collect();
        let shares = shares.join(", ");
        if shares != self.last_shares {
            world.note(format_args!("buckets: {shares}"));
            self.last_shares = shares;
        }
    }

    /// Watermarks never go back, and never pass a sample the sink does not hold.
    fn watermarks(&mut self, world: &mut World) {
        let mut found = Vec::new();
        for (i, view) in world.views.iter().enumerate() {
            let Some(view) = view else { continue };
            let state = view.state.borrow().clone();
            let Some(shards) = state.vcenters.get(VCENTER) else {
                continue;
            };
            for (kind, marks) in &shards.watermarks {
                for &b in &self.buckets {
                    let Some(ts) = marks.get(b as usize).copied().flatten() else {
                        continue;
                    };
                    let seen = self.marks[i].entry((*kind, b)).or_insert(ts);
                    if ts < *seen {
                        found.push(format!(
                            "n{}'s replica: bucket {b}'s {kind} watermark went back from {} to {ts}",
                            i + 1,
                            *seen
                        ));
                    }
                    *seen = ts;
                    for (e, t) in world.targets.iter().enumerate() {
                        if t.bucket == b && t.entity.kind == *kind && world.contiguous[e] < ts {
                            found.push(format!(
                                "n{}'s replica: bucket {b}'s watermark {ts} passes {}'s sample at {}, not in the sink",
                                i + 1,
                                t.entity.moid,
                                world.contiguous[e] + 20
                            ));
                        }
                    }
                }
            }
        }
        for what in found {
            self.violate(world, what);
        }
    }

    /// At most one node holds and collects a bucket, or for at most [`OVERLAP_BOUND`].
    fn one_collector_per_bucket(&mut self, world: &mut World, now: Duration) {
        let holders: Vec<(String, Vec<u32>)> = world
            .claims
            .iter()
            .enumerate()
            .filter_map(|(i, held)| {
                let held = held.clone()?;
                let who = match &world.views[i] {
                    Some(v) => {
                        let m = crate::cluster::metrics(&v.raft);
                        format!(
                            "n{} ({:?}, term {}, leader {:?})",
                            i + 1,
                            m.state,
                            m.current_term,
                            m.current_leader
                        )
                    }
                    None => format!("n{}", i + 1),
                };
                Some((who, held))
            })
            .collect();
        let mut count: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for (who, held) in &holders {
            for b in held {
                count.entry(*b).or_default().push(who);
            }
        }
        let mut found = Vec::new();
        for &b in &self.buckets {
            let nodes = count.get(&b).map_or(&[][..], |v| v.as_slice());
            let nodes: Vec<&str> = nodes.to_vec();
            if nodes.len() < 2 {
                self.overlaps.remove(&b);
                continue;
            }
            let since = *self.overlaps.entry(b).or_insert(now);
            let lasted = now - since;
            if lasted > self.longest_overlap {
                self.longest_overlap = lasted;
            }
            if lasted > OVERLAP_BOUND && lasted <= OVERLAP_BOUND + super::CHECK_EVERY {
                found.push(format!(
                    "bucket {b} held and collected by {} for more than {OVERLAP_BOUND:?}",
                    nodes.join(" and ")
                ));
            }
        }
        for what in found {
            self.violate(world, what);
        }
    }

    /// After the heal: every bucket has an active owner (recorded when it first holds).
    pub fn owners(&mut self, world: &World, now: Duration) {
        if self.owned_after_heal.is_some() {
            return;
        }
        // A node that left may run on, its replica no longer updated: only the members'.
        let mut members = world
            .views
            .iter()
            .zip(&world.removed)
            .filter(|(_, gone)| !**gone)
            .filter_map(|(v, _)| v.as_ref());
        let owned = members.all(|v| {
            let state = v.state.borrow().clone();
            let active = |id: &u64| {
                state
                    .members
                    .nodes
                    .get(id)
                    .is_some_and(|m| m.state == crate::cluster::NodeState::Active)
            };
            state
                .vcenters
                .get(VCENTER)
                .is_some_and(|s| s.owners.iter().all(|o| o.as_ref().is_some_and(active)))
        });
        let every_expected_runs =
            (0..world.views.len()).all(|i| world.views[i].is_some() || !world.expected(i));
        if owned && every_expected_runs {
            self.owned_after_heal = Some(now);
        }
    }

    /// The checks once the healed cluster has run [`super::schedule::SETTLE`]: no gap, and
    /// every bucket owned again in time.
    pub fn finish(&mut self, world: &mut World, healed_at: Duration, vcenter_now: i64) {
        // Posted by now, and a cycle and a call's latency to collect it.
        let due = super::world::grid(vcenter_now - NORMAL_LAG) - 2 * 20;
        let mut found = Vec::new();
        for (e, t) in world.targets.iter().enumerate() {
            if world.contiguous[e] < due {
                found.push(format!(
                    "gap: {}'s sample at {} is not in the sink {} s after the heal",
                    t.entity.moid,
                    world.contiguous[e] + 20,
                    vcenter_now - super::world::EPOCH - healed_at.as_secs() as i64
                ));
            }
        }
        match self.owned_after_heal {
            None => found.push("some bucket has no active owner at the end".to_string()),
            Some(at) if at > healed_at + OWNED_AFTER_HEAL => found.push(format!(
                "every bucket had an active owner only {:?} after the heal",
                at - healed_at
            )),
            Some(_) => {}
        }
        for what in found {
            self.violate(world, what);
        }
    }
}
