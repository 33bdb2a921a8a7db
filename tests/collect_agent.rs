//! `vcollect agent` under faults: every 20-second sample still reaches InfluxDB.
//!
//! Each test runs the real binary against the simulator and a real InfluxDB, breaks one
//! part, and then checks that every active VM and host has every sample of the whole
//! scenario window: no gap.

mod common;

use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use common::{check, poll};

const COLLECT: &str = "[collect]\ninterval = \"5s\"\nlookback = \"1m\"\n\
    vm_counters = [\"cpu.usage.average\", \"mem.usage.average\"]\n\
    host_counters = [\"cpu.usage.average\"]";

struct Agent {
    child: tokio::process::Child,
    log: std::path::PathBuf,
}

impl Agent {
    fn start(config: &std::path::Path, log: std::path::PathBuf) -> Agent {
        let child = common::spawn_agent(config, Some(&log));
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (within `limit`).
    async fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("agent pid");
        common::sigterm(pid);
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(s) => s.expect("agent exit status"),
            Err(_) => panic!(
                "agent did not stop within {limit:?} of SIGTERM:\n{}",
                self.log()
            ),
        }
    }
}

/// Waits until every expected VM has a sample at or after `ts`.
async fn wait_for_samples(influx: &Influx, vms: usize, ts: i64, what: &str, agent: &Agent) {
    let log = agent.log.clone();
    poll(what, Duration::from_secs(120), || async {
        let got = check::series(
            influx,
            "vsphere",
            "vsphere_vm_cpu",
            "usage_average",
            "vmname",
            ts,
            i64::MAX,
        )
        .await;
        (got.len() == vms && got.values().all(|s| !s.is_empty())).then_some(())
    })
    .await;
    let _ = log;
}

async fn assert_no_gaps(influx: &Influx, sim: &Simulator, from: i64, to: i64, agent_log: &str) {
    for (m, tag, n) in [
        ("vsphere_vm_cpu", "vmname", sim.expected_vms()),
        ("vsphere_vm_mem", "vmname", sim.expected_vms()),
        ("vsphere_host_cpu", "esxhostname", sim.expected_hosts()),
    ] {
        let got = check::series(influx, "vsphere", m, "usage_average", tag, from, to).await;
        if let Some(p) = check::gaps(&got, n as usize, from, to) {
            panic!("{m} over [{from}, {to}]: {p}\nagent log:\n{agent_log}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn influx_down_for_a_minute_loses_no_sample() {
    let sim = Simulator::start(SimOptions::default());
    let mut influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), COLLECT);
    let agent = Agent::start(&cfg, dir.path().join("agent.log"));
    let vms = sim.expected_vms() as usize;

    // The first window is (end - lookback, end] with end at most one 20 s step after now.
    let from = check::aligned_now() - 20;
    wait_for_samples(&influx, vms, from, "first samples", &agent).await;
    influx.stop();
    let stopped = std::time::Instant::now();
    // While InfluxDB is down, batches wait in the on-disk spool.
    let spool = dir.path().join("data/spool");
    poll("batches in the spool", Duration::from_secs(30), || async {
        let n = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
        (n > 0).then_some(())
    })
    .await;
    // Down for a full minute: three realtime samples per minute per series wait in the spool.
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(stopped.elapsed())).await;
    influx.start_again().await;
    let to = check::aligned_now();
    wait_for_samples(&influx, vms, to, "samples after the outage", &agent).await;
    assert_no_gaps(&influx, &sim, from, to, &agent.log()).await;
    let status = agent.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "agent exit {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vcenter_killed_and_restarted_loses_no_sample() {
    let mut sim = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), COLLECT);
    let agent = Agent::start(&cfg, dir.path().join("agent.log"));
    let vms = sim.expected_vms() as usize;

    // The first window is (end - lookback, end] with end at most one 20 s step after now.
    let from = check::aligned_now() - 20;
    wait_for_samples(&influx, vms, from, "first samples", &agent).await;
    sim.kill();
    tokio::time::sleep(Duration::from_secs(30)).await;
    sim.restart();
    let to = check::aligned_now() + 20;
    wait_for_samples(&influx, vms, to, "samples after vCenter came back", &agent).await;
    let log = agent.log();
    assert_no_gaps(&influx, &sim, from, to, &log).await;
    assert!(
        log.contains("cycle had errors"),
        "the outage was noticed:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_gracefully_and_a_restart_resumes_from_the_watermark() {
    let sim = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), COLLECT);
    let vms = sim.expected_vms() as usize;

    let agent = Agent::start(&cfg, dir.path().join("agent1.log"));
    // The first window is (end - lookback, end] with end at most one 20 s step after now.
    let from = check::aligned_now() - 20;
    wait_for_samples(&influx, vms, from, "first samples", &agent).await;
    let log1 = agent.log.clone();
    let status = agent.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status}");
    let log1 = std::fs::read_to_string(log1).unwrap();
    assert!(log1.contains("agent stopped"), "{log1}");
    assert!(dir.path().join("data/watermarks.json").exists());

    // Down for more than two samples, then back: the window starts at the watermark.
    tokio::time::sleep(Duration::from_secs(45)).await;
    let agent = Agent::start(&cfg, dir.path().join("agent2.log"));
    let to = check::aligned_now();
    wait_for_samples(&influx, vms, to, "samples after the restart", &agent).await;
    assert_no_gaps(&influx, &sim, from, to, &agent.log()).await;
}
