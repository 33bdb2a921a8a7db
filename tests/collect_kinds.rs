//! Clusters, datastores, datacenters and resource pools: Telegraf's measurements and tags in a
//! real InfluxDB, every query of InfluxData's Chronograf vSphere dashboards answered, and the
//! historical statistics collected without a gap when vCenter posts them late.
//!
//! The simulator serves these kinds historical statistics only, at the first historical
//! interval it announces in `PerformanceManager.historicalInterval` (tests/vcsim/perf.go);
//! vcollect reads the interval from there.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use common::{check, poll};

async fn once(config: &Path) -> String {
    let (stdout, stderr) = common::once_ok(config, &[]).await;
    stdout + &stderr
}

/// The queries of a Chronograf dashboard, with its template variables filled in the way the
/// dashboard would (every value of a tag, the last hour).
fn chronograf_queries(file: &str) -> Vec<String> {
    let path = common::root().join("tests/fixtures/chronograf").join(file);
    let text = std::fs::read_to_string(&path).expect("dashboard fixture");
    let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard json");
    let mut out = Vec::new();
    collect_queries(&json, &mut out);
    out.into_iter()
        .filter(|q| !q.trim().is_empty())
        .map(|q| {
            let mut q = q
                .replace(":db:", "vsphere")
                .replace(":rp:", "autogen")
                .replace(":dashboardTime:", "now() - 1h")
                .replace(":interval:", "1m");
            for var in [":vmname:", ":esxhostname:", ":clustername:", ":datastore:"] {
                q = q.replace(var, ".*");
            }
            q
        })
        .collect()
}

fn collect_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("query", Some(q)) => out.push(q.to_string()),
                    _ => collect_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_queries(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_lands_with_telegrafs_names_and_every_chronograf_query_gets_data() {
    let sim = Simulator::start(SimOptions {
        clusters: 2,
        pools: 2,
        datastores: 2,
        folders: 1,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    // `folders: 1` puts DC0 in a folder (/F0/DC0): Telegraf's default paths (`/*/vm/**` …)
    // do not reach into it, its README's `/**/…` paths do.
    let collect = "[collect]\ndatacenter_metric_exclude = []\n\
                   vm_include = [\"/**/vm/**\"]\nhost_include = [\"/**/host/**\"]\n\
                   cluster_include = [\"/**/host/**\"]\n\
                   resource_pool_include = [\"/**/host/**\"]\n\
                   datastore_include = [\"/**/datastore/**\"]\ndatacenter_include = [\"/**\"]";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    once(&cfg).await;

    let ts = |m: &'static str, f: &'static str, tag: &'static str| {
        let influx = &influx;
        async move { check::series(influx, "vsphere", m, f, tag, 0, i64::MAX).await }
    };
    let clusters = ts("vsphere_cluster_cpu", "usage_average", "clustername").await;
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    let datastores = ts("vsphere_datastore_disk", "used_latest", "dsname").await;
    assert_eq!(datastores.len(), 2, "{datastores:?}");
    let capacity = ts("vsphere_datastore_disk", "capacity_latest", "source").await;
    assert_eq!(capacity.len(), 2, "{capacity:?}");
    let dcs = ts("vsphere_datacenter_vmop", "numPoweron_latest", "dcname").await;
    assert_eq!(dcs.keys().collect::<Vec<_>>(), ["DC0"]);
    // Each cluster's root pool ("Resources") and its two pools.
    let pools = ts("vsphere_resourcepool_cpu", "usagemhz_average", "moid").await;
    assert_eq!(pools.len(), 6, "{pools:?}");

    let want = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        influx.tag_keys("vsphere_cluster_mem").await,
        want(&["clustername", "dcname", "moid", "source", "vcenter"])
    );
    assert_eq!(
        influx.tag_keys("vsphere_datastore_disk").await,
        want(&["dcname", "disk", "dsname", "moid", "source", "vcenter"])
    );
    assert_eq!(
        influx.tag_keys("vsphere_resourcepool_mem").await,
        want(&[
            "clustername",
            "dcname",
            "moid",
            "rpname",
            "source",
            "vcenter"
        ])
    );
    // Historical samples sit on the 300-s grid vCenter announced.
    for set in clusters.values().chain(datastores.values()) {
        assert!(set.iter().all(|t| t % 300 == 0), "{set:?}");
    }

    let mut empty = Vec::new();
    for file in [
        "chronograf_vmware_vsphere_cluster_overview.json",
        "chronograf_vmware_vsphere_cluster_vms.json",
        "chronograf_vmware_vsphere_hosts.json",
    ] {
        for q in chronograf_queries(file) {
            if influx.rows("vsphere", &q).await.is_empty() {
                empty.push(format!("{file}: {q}"));
            }
        }
    }
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );
}

/// Timestamps of every cluster, datastore and resource pool (one field of each kind).
async fn historical(influx: &Influx) -> BTreeMap<String, BTreeSet<i64>> {
    let mut all = BTreeMap::new();
    for (m, f) in [
        ("vsphere_cluster_cpu", "usage_average"),
        ("vsphere_datastore_disk", "used_latest"),
        ("vsphere_resourcepool_cpu", "usagemhz_average"),
    ] {
        let got = check::series(influx, "vsphere", m, f, "moid", 0, i64::MAX).await;
        all.extend(got.into_iter().map(|(k, v)| (format!("{m} {k}"), v)));
    }
    all
}

/// Historical statistics come later than realtime ones, sometimes much later. A run while the
/// newest are not posted yet holds the watermark back; the next run, in a new process from
/// the same data dir, writes them: every entity's samples are contiguous on the grid.
#[tokio::test(flavor = "multi_thread")]
async fn late_historical_samples_are_written_by_the_next_run_without_a_gap() {
    const STEP: i64 = 60;
    let sim = Simulator::start(SimOptions {
        pools: 1,
        historical_interval: Duration::from_secs(STEP as u64),
        // Posted ten intervals late: beyond the first run's window, which reaches six
        // intervals back (`FIRST_HISTORICAL_INTERVALS`).
        historical_lag: Some(Duration::from_secs(600)),
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\nlookback = \"2m\"\nvm_counters = [\"cpu.usage.average\"]\n\
        host_counters = [\"cpu.usage.average\"]";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);

    // The first run's windows end at vCenter's clock: its newest samples are not there yet.
    let started = check::aligned_now() / STEP * STEP;
    once(&cfg).await;
    let first = historical(&influx).await;
    assert!(first.is_empty(), "nothing posted yet: {first:?}");

    // vCenter catches up; a new interval starts; the next run writes everything since.
    sim.control("hlag=0s").await;
    poll(
        "the next historical interval",
        Duration::from_secs(70),
        || async { (check::aligned_now() / STEP * STEP > started).then_some(()) },
    )
    .await;
    let to = check::aligned_now() / STEP * STEP;
    once(&cfg).await;
    let got = historical(&influx).await;
    // One cluster, its root pool and one more, one datastore.
    assert_eq!(got.len(), 4, "{got:?}");
    // The first run's window started six intervals before its end (no watermark yet):
    // everything from `started` on is there.
    let want: BTreeSet<i64> = (started..=to).step_by(STEP as usize).collect();
    for (entity, ts) in &got {
        let missing: Vec<_> = want.difference(ts).collect();
        assert!(
            missing.is_empty(),
            "{entity}: missing {missing:?} of {want:?}"
        );
    }
}

/// `vcollect agent` runs a cycle every 2 s; VMs are asked whenever a 20-s sample is new, the
/// historical kinds at most once per historical interval (300 s here), counted at the
/// simulator. Their samples are late, so each cycle would still have a window to ask for.
#[tokio::test(flavor = "multi_thread")]
async fn historical_kinds_are_queried_once_per_interval_not_every_cycle() {
    let sim = Simulator::start(SimOptions {
        historical_lag: Some(Duration::from_secs(600)),
        ..SimOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\ninterval = \"2s\"\nvm_counters = [\"cpu.usage.average\"]\n\
        host_counters = [\"cpu.usage.average\"]";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], "-", collect);
    let started = check::aligned_now();
    let mut agent = common::spawn_agent(&cfg, None);
    let count = |v: &serde_json::Value, ty: &str| v["QueryPerf"][ty].as_u64().unwrap_or(0);
    let vms = u64::from(sim.expected_vms());
    // Three 20-s windows of every VM (a dozen cycles or more).
    let calls = poll(
        "three realtime windows",
        Duration::from_secs(90),
        || async {
            let c = sim.calls().await;
            (count(&c, "VirtualMachine") >= 3 * vms).then_some(c)
        },
    )
    .await;
    let ended = check::aligned_now();
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
    // One window per 300-s interval the run touched (two if it crossed a boundary). A
    // cluster's window takes two specs: its 16 default counters in calls of at most 10
    // (maxQueryMetrics 256, a cluster's metric counting 25: collect::calls).
    let intervals = (ended / 300 - started / 300 + 1) as u64;
    for (ty, specs) in [
        ("ClusterComputeResource", 2),
        ("Datastore", 1),
        ("ResourcePool", 1),
    ] {
        let n = count(&calls, ty);
        assert!(
            (specs..=specs * intervals).contains(&n),
            "{ty}: {n} QueryPerf specs in {intervals} intervals: {calls}"
        );
    }
}
