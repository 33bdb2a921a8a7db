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
use crate::collect::MoidMap;
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

/// Runs cycles every 20 s for as long as the node runs.
pub async fn run<A: Assignment>(node: usize, world: Shared, assignment: Arc<A>) {
    let settings = settings();
    let targets = lock(&world).targets.clone();
    let mut positions = Positions::default();
    let mut tick = tokio::time::interval(Duration::from_secs(REALTIME_INTERVAL as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !assignment.collecting() {
            continue;
        }
        let snapshot = assignment.snapshot(VCENTER);
        let now = vcenter_now();
        let plan = plan(&targets, &snapshot, &positions, &settings, now);
        positions.planned(&plan);
        let mut durable: MoidMap<String, i64> = MoidMap::default();
        let mut refused = false;
        for call in plan.specs.chunks(PER_CALL) {
            let latency = lock(&world).latency_ms();
            tokio::time::sleep(Duration::from_millis(latency)).await;
            let mut w = lock(&world);
            let Some(answer) = w.query(call, vcenter_now()) else {
                continue;
            };
            if !w.write(&answer) {
                refused = true;
                continue;
            }
            for (i, ts) in &answer {
                if let Some(newest) = ts.last() {
                    durable.insert(w.targets[*i].entity.moid.clone(), *newest);
                }
            }
        }
        let updates = positions.advance(&plan, &durable, &snapshot);
        let decision = Commit::decide(true, refused, assignment.spool_is_durable());
        if decision != Commit::Yes || updates.is_empty() {
            continue;
        }
        let n = updates.len();
        let result = assignment.commit(VCENTER, updates).await;
        let mut w = lock(&world);
        w.stats.commits += 1;
        if let Err(e) = result {
            w.stats.failed_commits += 1;
            w.note(format_args!(
                "n{} commit of {n} watermarks failed: {e}",
                node + 1
            ));
        }
    }
}
