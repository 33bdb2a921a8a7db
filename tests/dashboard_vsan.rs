//! docs/dashboards/vsphere-vsan.json against what vcollect writes (issue 22): with the
//! simulator's vSAN on, every query of the dashboard (its panels and variables) returns
//! data from a real InfluxDB. The Grafana variables are filled in as Grafana would with
//! "All" selected.

mod common;

use std::time::Duration;

use common::config::{self, Vc};
use common::grafana::{filled, queries};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};

/// The dashboard's variables, all filled with "All".
const VARIABLES: &[&str] = &["clustername", "hostname"];

#[tokio::test(flavor = "multi_thread")]
async fn every_query_of_the_vsan_dashboard_gets_data() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 2,
        vsan: Some((Duration::from_secs(30), Duration::ZERO)),
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\nvsan_metric_exclude = []\nvsan_interval = \"30s\"\n";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    common::once_ok(&cfg, &[]).await;

    let path = common::root().join("docs/dashboards/vsphere-vsan.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard json");
    let mut all = Vec::new();
    queries(&json, &mut all);
    assert!(all.len() >= 16, "{all:?}");
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
