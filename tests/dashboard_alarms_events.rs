//! docs/dashboards/vsphere-alarms-events.json against what vcollect writes (issue 23): after
//! a simulated vMotion, a host into maintenance and a red host alarm, every query of the
//! dashboard (its panels, its event and alarm annotations, its variables) returns data from a
//! real InfluxDB. The Grafana variables are filled in as Grafana would with "All" selected.

mod common;

use common::config::{self, Vc};
use common::grafana::{filled, queries};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};

/// The dashboard's variables, all filled with "All".
const VARIABLES: &[&str] = &["vmname", "esxhostname"];

async fn get(sim: &Simulator, path: &str) {
    let base = sim.url.trim_end_matches("/sdk");
    let resp = reqwest::get(format!("{base}{path}"))
        .await
        .expect("the simulator's endpoint");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "vcsim {path}: {status} {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_query_of_the_alarms_and_events_dashboard_gets_data() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 2,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let (vm, host) = ("DC0_C0_RP0_VM0", "DC0_C0_H0");
    for (kind, entity) in [
        ("DrsVmMigratedEvent", vm),
        ("EnteringMaintenanceModeEvent", host),
        ("EnteredMaintenanceModeEvent", host),
    ] {
        get(&sim, &format!("/vcsim/event?type={kind}&entity={entity}")).await;
    }
    get(
        &sim,
        &format!(
            "/vcsim/alarm?entity={host}&name=Host%20connection%20and%20power%20state&status=red"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\nlookback = \"5m\"\nalarms = true\nevents = true\n";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    common::once_ok(&cfg, &[]).await;

    let path = common::root().join("docs/dashboards/vsphere-alarms-events.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard json");
    let mut all = Vec::new();
    queries(&json, &mut all);
    assert!(all.len() >= 10, "{all:?}");
    let mut empty = Vec::new();
    for q in &all {
        if influx
            .rows("vsphere", &filled(q, VARIABLES))
            .await
            .is_empty()
        {
            empty.push(filled(q, VARIABLES));
        }
    }
    assert!(empty.is_empty(), "queries without data: {empty:#?}");
}
