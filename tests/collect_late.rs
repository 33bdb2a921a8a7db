//! Late samples, as a real vCenter posts them: `vcollect once` runs on one data dir while a
//! host's samples arrive late or the host is disconnected. Whatever vCenter delivers later
//! must still reach InfluxDB: no watermark passes a sample vCenter may still deliver.
//!
//! The simulator answers like a real vCenter (tests/vcsim/perf.go): samples on the 20-s
//! grid, the newest held back by a lag, a host "out" answering nothing newer until it is back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use common::{check, poll};

const COLLECT: &str = "[collect]\nlookback = \"2m\"\n\
    vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]";

/// The host whose samples come late; VMs of the simulator's first cluster run on it.
const LATE_HOST: &str = "DC0_C0_H0";

async fn once(config: &Path, extra: &[&str]) -> String {
    let (stdout, stderr) = common::once_ok(config, extra).await;
    stdout + &stderr
}

/// Every VM's and host's timestamps in InfluxDB (`cpu.usage.average`).
async fn written(influx: &Influx) -> BTreeMap<String, BTreeSet<i64>> {
    let mut all = BTreeMap::new();
    for (m, tag) in [
        ("vsphere_vm_cpu", "vmname"),
        ("vsphere_host_cpu", "esxhostname"),
    ] {
        let got = check::series(influx, "vsphere", m, "usage_average", tag, 0, i64::MAX).await;
        all.extend(got);
    }
    all
}

/// The newest sample of the entity that got least far.
fn slowest(got: &BTreeMap<String, BTreeSet<i64>>) -> i64 {
    got.values()
        .map(|s| s.last().copied().unwrap_or(0))
        .min()
        .unwrap_or(0)
}

/// The oldest sample every entity has.
fn common_start(got: &BTreeMap<String, BTreeSet<i64>>) -> i64 {
    got.values()
        .map(|s| s.first().copied().unwrap_or(i64::MAX))
        .max()
        .unwrap_or(i64::MAX)
}

fn sim_options() -> SimOptions {
    SimOptions {
        clusters: 2,
        hosts_per_cluster: 2,
        vms: 4,
        // A real vCenter's newest sample is usually 20-40 s behind its clock.
        lag: Duration::from_secs(40),
        ..SimOptions::default()
    }
}

async fn setup(sim: &Simulator) -> (Influx, tempfile::TempDir, std::path::PathBuf) {
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", sim)], &influx.url(), COLLECT);
    (influx, dir, cfg)
}

/// The replay of issue 8: three runs on one data dir, the middle one while one host's newest
/// samples are late. The third run writes them: no gap for any entity.
#[tokio::test(flavor = "multi_thread")]
async fn late_samples_are_written_by_the_next_run() {
    let sim = Simulator::start(sim_options());
    let (influx, _dir, cfg) = setup(&sim).await;
    let entities = (sim.expected_vms() + sim.expected_hosts()) as usize;

    once(&cfg, &[]).await;
    let first = written(&influx).await;
    assert_eq!(first.len(), entities, "{first:?}");
    let from = common_start(&first);
    let newest = slowest(&first);

    // One host falls behind: vCenter has nothing newer for it and its VMs, while the others
    // stay on time.
    sim.set_lag(Some(LATE_HOST), Duration::from_secs(300)).await;
    once(&cfg, &[]).await;
    // Its samples arrive, and the others catch up with vCenter's clock.
    sim.set_lag(Some(LATE_HOST), Duration::ZERO).await;
    sim.set_lag(None, Duration::ZERO).await;
    let to = check::aligned_now();
    once(&cfg, &[]).await;

    assert!(
        to >= newest + 40,
        "the scenario covers late samples: {newest} {to}"
    );
    if let Some(p) = check::entity_gaps(&influx, &sim, from, to).await {
        panic!("{p}");
    }
}

/// A host disconnected across a restart: vCenter answers nothing for it and its VMs, then
/// its whole last hour once it is back. The run after it came back writes the outage.
#[tokio::test(flavor = "multi_thread")]
async fn a_disconnected_host_is_written_when_it_comes_back() {
    let sim = Simulator::start(SimOptions {
        lag: Duration::ZERO,
        ..sim_options()
    });
    let (influx, _dir, cfg) = setup(&sim).await;

    once(&cfg, &[]).await;
    let first = written(&influx).await;
    let from = common_start(&first);
    sim.set_out(LATE_HOST, true).await;
    let out_at = check::aligned_now();
    // At least one sample of the outage (the next 20-s step).
    poll(
        "a 20-s step during the outage",
        Duration::from_secs(25),
        || async { (check::aligned_now() > out_at).then_some(()) },
    )
    .await;
    once(&cfg, &[]).await;
    let during = written(&influx).await;
    assert!(
        slowest(&during) <= out_at,
        "the host and its VMs answered nothing newer while out: {during:?}"
    );

    sim.set_out(LATE_HOST, false).await;
    let to = check::aligned_now();
    once(&cfg, &[]).await;
    if let Some(p) = check::entity_gaps(&influx, &sim, from, to).await {
        panic!("{p}");
    }
}
