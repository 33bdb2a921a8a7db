//! The cluster-wide query budget (issue 18): `[[vcenter]] max_concurrent_queries` bounds the
//! performance calls all nodes together have in flight at one vCenter, counted at the
//! simulator (each call takes 300 ms there, so calls of one cycle overlap), before and after
//! a membership change. Real `vcollect agent` processes, a real InfluxDB.

mod common;

use std::time::Duration;

use common::check;
use common::cluster::{one_leader, Cluster};
use common::config::Vc;
use common::influx::Influx;
use common::poll;
use common::vcsim::{SimOptions, Simulator};

/// Every node may run 4 calls at once (`concurrency`), two entities each: without the
/// budget, three nodes would have up to 12 in flight.
const COLLECT: &str = "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\nconcurrency = 4\n\
    max_query_entities = 2\nvm_counters = [\"cpu.usage.average\"]\n\
    host_counters = [\"cpu.usage.average\"]";

const BUDGET: u64 = 3;

/// Waits until every VM and host has a sample at or after the next 20-s sample, i.e. a full
/// round of realtime calls ran on every node; returns the most calls in flight meanwhile.
async fn a_round(sim: &Simulator, influx: &Influx, what: &str) -> u64 {
    sim.reset_in_flight().await;
    let next = check::aligned_now() + 20;
    poll(what, Duration::from_secs(60), || async {
        check::all_entities_reached(influx, sim, next)
            .await
            .then_some(())
    })
    .await;
    sim.in_flight().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_never_exceed_the_vcenters_budget_through_a_membership_change() {
    let sim = Simulator::start(SimOptions {
        clusters: 2,
        hosts_per_cluster: 2,
        vms: 6,
        perf_delay: Duration::from_millis(300),
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let mut vc = Vc::new("vc1", &sim);
    vc.extra = format!("max_concurrent_queries = {BUDGET}");
    let mut c = Cluster::three(&vc, &influx.url(), COLLECT);
    c.start_all(3);
    c.wait_statuses("one leader", &[0, 1, 2], Duration::from_secs(30), |all| {
        one_leader(all) && all.iter().all(|s| s.spread() == [341, 341, 342])
    })
    .await;
    let first = check::aligned_now();
    poll("the first samples", Duration::from_secs(30), || async {
        check::all_entities_reached(&influx, &sim, first)
            .await
            .then_some(())
    })
    .await;
    let three = a_round(&sim, &influx, "a round on three nodes").await;
    // A node dies: once the leader marks it down, the other two share the budget (2 + 1).
    c.kill(2).await;
    let name = c.nodes[2].name.clone();
    c.wait_status(
        "the dead node down",
        &[0, 1],
        Duration::from_secs(15),
        |s| s.member(&name).is_some_and(|m| m.state == "down") && s.spread() == [512, 512],
    )
    .await;
    let two = a_round(&sim, &influx, "a round on two nodes").await;
    println!("calls in flight at most: {three} on three nodes, {two} on two (budget {BUDGET})");
    assert!(three <= BUDGET, "{three} calls in flight on three nodes");
    assert!(two <= BUDGET, "{two} calls in flight on two nodes");
    // The two survivors use the dead node's share: one of them runs two calls at once.
    assert!(
        two >= 2,
        "the budget was not re-divided: {two} in flight at most"
    );
}
