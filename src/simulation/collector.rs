//! A node's collector in the simulation: the real cycle core (`collect::cycle`: the plan, the
//! positions, what to commit) and the real assignment, around a shell that asks the simulated
//! vCenter and writes to the simulated sink where `collect::vcenter` speaks SOAP and HTTP.
//!
//! Like the real shell, a cycle reads the assignment once and commits once, only what the
//! sink acknowledged moves anything, and a failed call moves nothing it did not write.

use std::sync::Arc;
use std::time::Duration;

use crate::collect::assignment::Assignment;
use crate::collect::cycle::cadence::{REALTIME, REALTIME_INTERVAL};
use crate::collect::cycle::{plan, Commit, Positions, Settings};
use crate::collect::targets::Target;
use crate::collect::{CycleSummary, MoidMap};
use crate::vsphere::{EntityKind, MetricId, PerfFormat};

use super::world::{lock, vcenter_now, Shared, VCENTER};

/// Entities asked in one QueryPerf call (a real collector's calls hold many more; a few
/// calls a cycle let a call's failure hit part of a cycle).
const PER_CALL: usize = 8;

/// The settings of every simulated cycle: VMs at the realtime cadence, one counter.
fn settings() -> Settings {
    let none: Arc<[MetricId]> = Arc::from(Vec::new());
    let mut metric_ids: [Arc<[MetricId]>; EntityKind::COUNT] =
        std::array::from_fn(|_| none.clone());
    metric_ids[EntityKind::Vm.index()] = Arc::from(vec![MetricId {
        counter_id: 6,
        instance: String::new(),
    }]);
    Settings {
        cadences: [REALTIME; EntityKind::COUNT],
        metric_ids,
        lookback: 600,
        format: PerfFormat::Csv,
    }
}

/// Runs cycles every 20 s for as long as the node runs, and tells the assignment what each
/// did, as the real agent does (a drain's wait reads it: `vcollect leave` waits for a cycle
/// that covered nothing).
pub async fn run<A: Assignment>(node: usize, world: Shared, assignment: Arc<A>) {
    let settings = settings();
    let targets = lock(&world).targets.clone();
    let mut positions = Positions::default();
    let mut tick = tokio::time::interval(Duration::from_secs(REALTIME_INTERVAL as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut summary = CycleSummary::new(VCENTER);
        if assignment.collecting() {
            let cycle = Cycle {
                node,
                world: &world,
                settings: &settings,
                targets: &targets,
            };
            cycle.run(&*assignment, &mut positions, &mut summary).await;
        } else {
            summary.note = Some("not collecting: this node has no assignment now".into());
        }
        assignment.report(&summary);
    }
}

/// What one cycle reads.
struct Cycle<'a> {
    node: usize,
    world: &'a Shared,
    settings: &'a Settings,
    targets: &'a [Target],
}

impl Cycle<'_> {
    /// One cycle: plan, the calls, the commit; what it did goes into `summary`.
    async fn run<A: Assignment>(
        &self,
        assignment: &A,
        positions: &mut Positions,
        summary: &mut CycleSummary,
    ) {
        let snapshot = assignment.snapshot(VCENTER);
        let now = vcenter_now();
        let plan = plan(self.targets, &snapshot, positions, self.settings, now);
        positions.planned(&plan);
        summary.entities = plan.windows.len();
        summary.queried = plan.specs.len();
        let mut durable: MoidMap<String, i64> = MoidMap::default();
        let mut refused = false;
        for call in plan.specs.chunks(PER_CALL) {
            let latency = lock(self.world).latency_ms();
            tokio::time::sleep(Duration::from_millis(latency)).await;
            let (answer, write_ms) = {
                let mut w = lock(self.world);
                (w.query(call, vcenter_now()), w.write_ms())
            };
            let Some(answer) = answer else {
                summary.errors.push("a QueryPerf call failed".into());
                continue;
            };
            if write_ms > 0 {
                tokio::time::sleep(Duration::from_millis(write_ms)).await;
            }
            let mut w = lock(self.world);
            if !w.write(&answer) {
                refused = true;
                summary.errors.push("the sink refused a write".into());
                continue;
            }
            for (i, ts) in &answer {
                summary.samples += ts.len() as u64;
                if let Some(newest) = ts.last() {
                    durable.insert(w.targets[*i].entity.moid.clone(), *newest);
                }
            }
        }
        let updates = positions.advance(&plan, &durable, &snapshot);
        let decision = Commit::decide(true, refused, assignment.spool_is_durable());
        if decision != Commit::Yes || updates.is_empty() {
            return;
        }
        let n = updates.len();
        let result = assignment.commit(VCENTER, updates).await;
        let mut w = lock(self.world);
        w.stats.commits += 1;
        match result {
            Ok(()) => summary.watermarks = n,
            Err(e) => {
                w.stats.failed_commits += 1;
                w.note(format_args!(
                    "n{} commit of {n} watermarks failed: {e}",
                    self.node + 1
                ));
                summary.errors.push(format!("commit failed: {e}"));
            }
        }
    }
}
