//! The simulated vCenter and sink, and what the driver and the invariants see of the nodes.
//!
//! The vCenter posts one sample per entity every 20 s, [`NORMAL_LAG`] behind its clock (late
//! entities further behind), keeps them an hour as a real vCenter keeps realtime samples, and
//! fails a whole QueryPerf call when told to. The sink keeps every sample written, with how
//! many times it was written (a handover's overlap rewrites some).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::cluster::{ClusterState, Raft};
use crate::collect::cycle::cadence::{REALTIME_INTERVAL, REALTIME_RETENTION};
use crate::collect::encode::EntityLine;
use crate::collect::targets::Target;
use crate::contract::bucket_of;
use crate::vsphere::{Entity, EntityKind, PerfQuerySpec};

/// The vCenter of the simulation.
pub const VCENTER: &str = "vc1";
/// Entities (VMs) in the simulated inventory.
pub const ENTITIES: usize = 40;
/// How far behind its clock vCenter posts a realtime sample, usually.
pub const NORMAL_LAG: i64 = 30;
/// Unix seconds at the start of every schedule (so that a replay is the same).
pub const EPOCH: i64 = 1_700_000_000;

/// What the driver and the checks see of a running node.
#[derive(Clone)]
pub struct View {
    pub raft: Raft,
    /// The node's incarnation (a re-imaged node has a new one).
    pub incarnation: u64,
    pub state: tokio::sync::watch::Receiver<Arc<ClusterState>>,
}

/// Everything outside the nodes, shared by the hosts and the driver (all on one thread).
pub struct World {
    pub targets: Arc<Vec<Target>>,
    /// The buckets the targets fall in, sorted.
    pub buckets: Vec<u32>,
    moids: HashMap<String, usize>,
    /// Per entity: seconds behind vCenter's clock its samples are posted.
    pub lag: Vec<i64>,
    /// Per entity: the newest sample posted (never moves back).
    pub posted: Vec<i64>,
    /// Percentage of QueryPerf calls that fail.
    pub fail_percent: u32,
    /// While vCenter is slow: the longest a QueryPerf call takes, in milliseconds.
    pub slow_calls_ms: Option<u64>,
    /// While the sink is slow: the longest a write takes, in milliseconds.
    pub slow_writes_ms: Option<u64>,
    pub sink_down: bool,
    /// Per entity: sample timestamp → times written.
    pub sink: Vec<BTreeMap<i64, u32>>,
    /// Per entity: the newest sample up to which every sample from [`EPOCH`] on is in the
    /// sink (`EPOCH - 20` while the first is missing): what "no gap" is checked against.
    pub contiguous: Vec<i64>,
    /// Admin operations for the admin host to carry out, in order.
    pub admin: std::collections::VecDeque<AdminTask>,
    /// Per node: the inventory's buckets it holds while it collects (`None`: it does not
    /// collect, or does not run), as the node itself last said.
    pub claims: Vec<Option<Vec<u32>>>,
    /// Per node, while it runs and has joined.
    pub views: Vec<Option<View>>,
    /// Per node: started as a turmoil host (the spare only once a schedule replaces a node).
    pub hosts: Vec<bool>,
    /// Per node: gone for good, or going ([`super::schedule::Action::Replace`],
    /// [`super::schedule::Action::Leave`]); never restarted.
    pub removed: Vec<bool>,
    /// Per node: removed with `vcollect remove --force` while it ran
    /// ([`super::schedule::Action::ForceRemove`]).
    pub forced: Vec<bool>,
    /// Per node: its `vcollect leave` ran to the end.
    pub left: Vec<bool>,
    /// Nodes whose service the admin stopped, for the driver to end.
    pub stops: Vec<usize>,
    /// The calls' fault and latency draws.
    rng: SmallRng,
    /// What happened, in order: the trace a failing seed prints.
    pub trace: Vec<String>,
    pub stats: Stats,
    /// The simulated time, as the driver last stepped it (its notes are made outside any
    /// host, where turmoil does not tell the time).
    pub elapsed: std::time::Duration,
}

/// What the admin host is asked to do.
#[derive(Debug)]
pub enum AdminTask {
    /// One operation, through the first node that answers.
    Op(crate::cluster::AdminOp),
    /// `vcollect leave` against `node` (it runs beside later operations, as in an admin's
    /// second terminal: its wait takes a cycle or more), then the node's service stopped
    /// `stop_after` after it returned.
    Leave {
        node: usize,
        stop_after: Option<std::time::Duration>,
    },
}

/// Counts of one run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub calls: u64,
    pub failed_calls: u64,
    pub samples_written: u64,
    pub rewritten: u64,
    pub refused_writes: u64,
    pub commits: u64,
    pub failed_commits: u64,
}

pub type Shared = Arc<Mutex<World>>;

/// The world, locked (never across an await; a panic elsewhere does not poison it for the
/// checks).
pub fn lock(w: &Shared) -> MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// vCenter's clock: the simulated time, in unix seconds.
pub fn vcenter_now() -> i64 {
    EPOCH + turmoil::sim_elapsed().map_or(0, |d| d.as_secs() as i64)
}

pub fn grid(ts: i64) -> i64 {
    ts - ts.rem_euclid(REALTIME_INTERVAL)
}

impl World {
    /// The nodes started as turmoil hosts so far.
    pub fn started(&self) -> Vec<usize> {
        (0..self.hosts.len()).filter(|i| self.hosts[*i]).collect()
    }

    /// Whether node `i` is expected to run once the schedule heals: started, and not gone for
    /// good.
    pub fn expected(&self, i: usize) -> bool {
        self.hosts[i] && !self.removed[i]
    }

    pub fn new(seed: u64, nodes: usize) -> World {
        let targets: Vec<Target> = (0..ENTITIES)
            .map(|i| {
                let moid = format!("vm-{}", 100 + i);
                let entity = Entity::new(EntityKind::Vm, &moid, format!("vm{i}"));
                Target {
                    bucket: bucket_of(VCENTER, &moid),
                    line: EntityLine::default(),
                    entity,
                }
            })
            .collect();
        let moids = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.entity.moid.clone(), i))
            .collect();
        let mut buckets: Vec<u32> = targets.iter().map(|t| t.bucket).collect();
        buckets.sort_unstable();
        buckets.dedup();
        World {
            targets: Arc::new(targets),
            buckets,
            moids,
            lag: vec![NORMAL_LAG; ENTITIES],
            posted: vec![grid(EPOCH - NORMAL_LAG); ENTITIES],
            fail_percent: 0,
            slow_calls_ms: None,
            slow_writes_ms: None,
            sink_down: false,
            sink: vec![BTreeMap::new(); ENTITIES],
            contiguous: vec![grid(EPOCH) - REALTIME_INTERVAL; ENTITIES],
            admin: Default::default(),
            claims: vec![None; nodes],
            views: vec![None; nodes],
            hosts: vec![false; nodes],
            removed: vec![false; nodes],
            forced: vec![false; nodes],
            left: vec![false; nodes],
            stops: Vec::new(),
            rng: SmallRng::seed_from_u64(seed ^ 0x5eed_cafe),
            trace: Vec::new(),
            stats: Stats::default(),
            elapsed: std::time::Duration::ZERO,
        }
    }

    /// Posts what vCenter has sampled by `now`.
    pub fn post(&mut self, now: i64) {
        for (p, lag) in self.posted.iter_mut().zip(&self.lag) {
            *p = (*p).max(grid(now - lag));
        }
    }

    /// The entity index of `moid`.
    pub fn index(&self, moid: &str) -> Option<usize> {
        self.moids.get(moid).copied()
    }

    /// A call's latency in milliseconds: a real vCenter takes hundreds, a loaded one seconds.
    pub fn latency_ms(&mut self) -> u64 {
        let most = self.slow_calls_ms.unwrap_or(800).max(51);
        self.rng.random_range(50..most)
    }

    /// How long a write takes before it lands, in milliseconds (none while the sink is brisk).
    pub fn write_ms(&mut self) -> u64 {
        self.slow_writes_ms
            .map_or(0, |most| self.rng.random_range(0..most.max(1)))
    }

    /// One QueryPerf call at vCenter time `now`: per spec, the posted samples of its window
    /// that vCenter still keeps. `None`: the whole call failed.
    pub fn query(&mut self, specs: &[PerfQuerySpec], now: i64) -> Option<Vec<(usize, Vec<i64>)>> {
        self.stats.calls += 1;
        if self.rng.random_range(0..100) < self.fail_percent {
            self.stats.failed_calls += 1;
            return None;
        }
        let kept = now - REALTIME_RETENTION;
        let answer = specs
            .iter()
            .filter_map(|s| {
                let i = self.index(&s.moid)?;
                let from = s.start.unwrap_or(kept).max(kept);
                let to = s.end.unwrap_or(now).min(self.posted[i]);
                let first = grid(from) + REALTIME_INTERVAL;
                let ts: Vec<i64> = (first..=to).step_by(REALTIME_INTERVAL as usize).collect();
                Some((i, ts))
            })
            .collect();
        Some(answer)
    }

    /// Writes samples to the sink; `false`: refused, nothing written.
    pub fn write(&mut self, samples: &[(usize, Vec<i64>)]) -> bool {
        if self.sink_down {
            self.stats.refused_writes += 1;
            return false;
        }
        for (i, ts) in samples {
            for t in ts {
                let n = self.sink[*i].entry(*t).or_insert(0);
                *n += 1;
                self.stats.samples_written += 1;
                if *n > 1 {
                    self.stats.rewritten += 1;
                }
            }
            let c = &mut self.contiguous[*i];
            while self.sink[*i].contains_key(&(*c + REALTIME_INTERVAL)) {
                *c += REALTIME_INTERVAL;
            }
        }
        true
    }

    /// Notes an event in the trace, stamped with the simulated time.
    pub fn note(&mut self, what: impl std::fmt::Display) {
        let t = turmoil::sim_elapsed().unwrap_or(self.elapsed);
        self.trace.push(format!("{:>9.3} {what}", t.as_secs_f64()));
    }
}
