//! vCenter's events as `vsphere_event` points, end to end: events posted in the simulator's
//! EventManager while the agent runs (tests/vcsim/events.go), the real binary, a real
//! InfluxDB. The handover of the event stream between nodes: tests/cluster_events.rs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};

/// Posts an event of `kind` on `entity`; returns its key.
async fn post(sim: &Simulator, kind: &str, entity: &str) -> i64 {
    let base = sim.url.trim_end_matches("/sdk");
    let resp = reqwest::get(format!("{base}/vcsim/event?type={kind}&entity={entity}"))
        .await
        .expect("the simulator's event endpoint");
    let body = resp.text().await.unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
    v["key"].as_i64().expect("an event key")
}

/// Per event key: (type, vmname, esxhostname, message) of each point.
async fn points(influx: &Influx) -> BTreeMap<i64, Vec<(String, String, String, String)>> {
    let q =
        "SELECT \"key\", \"type\", \"vmname\", \"esxhostname\", \"message\" FROM \"vsphere_event\"";
    let mut out: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for r in influx.rows("vsphere", q).await {
        let s = |i: usize| r[i].as_str().unwrap_or_default().to_string();
        if let Some(key) = r[1].as_i64() {
            out.entry(key).or_default().push((s(2), s(3), s(4), s(5)));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn events_posted_while_the_agent_runs_arrive_once_each() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 1,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let (vm, host) = ("DC0_C0_RP0_VM0", "DC0_C0_H0");
    let before = post(&sim, "VmPoweredOffEvent", vm).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = common::free_addr();
    let collect = format!(
        "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\nevents = true\n\
         [metrics]\nlisten = \"{metrics}\"\n"
    );
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), &collect);
    let mut agent = common::spawn_agent(&cfg, None);
    common::poll(
        "the event posted before the start",
        Duration::from_secs(30),
        || async { points(&influx).await.contains_key(&before).then_some(()) },
    )
    .await;
    // While it runs: power, maintenance, a migration, and a type not in the default set.
    let mut expected = vec![before];
    for (kind, entity) in [
        ("VmPoweredOnEvent", vm),
        ("EnteringMaintenanceModeEvent", host),
        ("EnteredMaintenanceModeEvent", host),
        ("DrsVmMigratedEvent", vm),
        ("ExitMaintenanceModeEvent", host),
    ] {
        expected.push(post(&sim, kind, entity).await);
    }
    let skipped = post(&sim, "VmBeingCreatedEvent", vm).await;
    let last = post(&sim, "VmPoweredOffEvent", vm).await;
    expected.push(last);
    let got = common::poll("every event posted", Duration::from_secs(30), || async {
        let p = points(&influx).await;
        p.contains_key(&last).then_some(p)
    })
    .await;
    for key in &expected {
        assert_eq!(got.get(key).map(Vec::len), Some(1), "key {key}: {got:?}");
    }
    assert!(!got.contains_key(&skipped), "{got:?}");
    let off = &got[&before][0];
    assert_eq!(off.0, "VmPoweredOffEvent");
    assert_eq!(off.1, vm);
    assert!(off.3.contains("powered off"), "{off:?}");
    let maintenance = &got[&expected[3]][0];
    assert_eq!(
        (maintenance.0.as_str(), maintenance.2.as_str()),
        ("EnteredMaintenanceModeEvent", host)
    );
    // /metrics: the stream is at the last key, the events written are counted, and a cycle
    // after the last event finds it caught up (docs/operations.md).
    let text = common::poll(
        "the stream's position in /metrics",
        Duration::from_secs(30),
        || async {
            let text = common::scrape(&metrics).await;
            let at_last =
                metric(&text, "vcollect_events_last_key{vcenter=\"vc1\"}") == Some(last as f64);
            let lag = metric(&text, "vcollect_events_lag_seconds{vcenter=\"vc1\"}");
            (at_last && lag.is_some_and(|l| l <= 5.0)).then_some(text)
        },
    )
    .await;
    // Every point in InfluxDB, counted once (the simulator's own events of the default set,
    // such as its VMs powering on at start, included).
    let in_influx: usize = points(&influx).await.values().map(Vec::len).sum();
    let written = metric(&text, "vcollect_events_written_total{vcenter=\"vc1\"}");
    assert_eq!(written, Some(in_influx as f64), "{text}");
    let created = metric(
        &text,
        "vcollect_events_last_timestamp_seconds{vcenter=\"vc1\"}",
    );
    let now = common::check::unix_now() as f64;
    assert!(
        created.is_some_and(|t| t <= now && t > now - 120.0),
        "{text}"
    );
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
}

/// The value of the series `name` (with its labels) in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().split(' ').next()?.parse().ok())
}

/// A simulator of one host and one VM, InfluxDB, and an agent writing the default event set
/// every 2 s (its data dir: the temporary directory, kept while it runs).
async fn one_vm_with_events() -> (Simulator, Influx, tempfile::TempDir, tokio::process::Child) {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 1,
        vms: 1,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\nevents = true\n";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let agent = common::spawn_agent(&cfg, None);
    (sim, influx, dir, agent)
}

/// A snapshot taken, reverted to and removed, with the default event set: vCenter records the
/// first and the last only as tasks (`TaskEvent`, tagged with the task), the revert also as
/// an `EventEx` (tests/vcsim/snapshots.go). The tasks of the default set and the revert's
/// outcome arrive; the revert's own task, not in the set, does not.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_taken_reverted_and_removed_arrives_as_events() {
    let (sim, influx, _dir, mut agent) = one_vm_with_events().await;
    let vm = "DC0_C0_RP0_VM0";
    let base = sim.url.trim_end_matches("/sdk").to_string();
    let snapshot = |op: &'static str| {
        let url = format!("{base}/vcsim/snapshot?entity={vm}&op={op}");
        async move {
            let resp = reqwest::get(url)
                .await
                .expect("the simulator's snapshot endpoint");
            let body = resp.text().await.unwrap_or_default();
            let v: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{op}: {body}"));
            let keys: Vec<i64> = v["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .filter_map(|k| k.as_i64())
                .collect();
            keys
        }
    };
    let created = snapshot("create").await;
    let reverted = snapshot("revert").await;
    let removed = snapshot("remove").await;
    let last = removed[0];
    let q = "SELECT \"key\", \"type\", \"task\", \"vmname\", \"message\" FROM \"vsphere_event\"";
    let rows = common::poll("the snapshot's events", Duration::from_secs(30), || async {
        let rows = influx.rows("vsphere", q).await;
        rows.iter()
            .any(|r| r[1].as_i64() == Some(last))
            .then_some(rows)
    })
    .await;
    let by_key = |k: i64| -> Vec<(String, String, String, String)> {
        rows.iter()
            .filter(|r| r[1].as_i64() == Some(k))
            .map(|r| {
                let s = |i: usize| r[i].as_str().unwrap_or_default().to_string();
                (s(2), s(3), s(4), s(5))
            })
            .collect()
    };
    let task = |t: &str| ("TaskEvent".to_string(), t.to_string(), vm.to_string());
    let point = |k: i64| {
        let p = by_key(k);
        assert_eq!(p.len(), 1, "key {k}: {rows:?}");
        p[0].clone()
    };
    let c = point(created[0]);
    assert_eq!((c.0, c.1, c.2), task("VirtualMachine.createSnapshot"));
    let r = point(removed[0]);
    assert_eq!((r.0, r.1, r.2), task("VirtualMachine.removeAllSnapshots"));
    // The revert: its task is not in the default set, its outcome is.
    assert!(by_key(reverted[0]).is_empty(), "{rows:?}");
    let outcome = point(reverted[1]);
    assert_eq!(outcome.0, "com.vmware.vc.vm.VmStateRevertedToSnapshot");
    assert_eq!((outcome.1.as_str(), outcome.2.as_str()), ("", vm));
    assert!(
        outcome.3.contains("reverted to the state of snapshot"),
        "{outcome:?}"
    );
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
}

/// Two events of one type on one object in one second are two points (their keys in the
/// milliseconds of the timestamp, docs/compatibility.md), and every key is one point.
#[tokio::test(flavor = "multi_thread")]
async fn events_of_one_type_on_one_object_in_one_second_are_one_point_each() {
    let (sim, influx, _dir, mut agent) = one_vm_with_events().await;
    let vm = "DC0_C0_RP0_VM0";
    let q = "SELECT \"key\" FROM \"vsphere_event\" WHERE \"type\" = 'VmPoweredOnEvent'";
    // Bursts of four until one lands in a single second (the first, nearly always).
    for burst in 0..5 {
        let mut keys = Vec::new();
        for _ in 0..4 {
            keys.push(post(&sim, "VmPoweredOnEvent", vm).await);
        }
        let rows = common::poll("the burst's points", Duration::from_secs(30), || async {
            let rows = influx.rows("vsphere", q).await;
            let last = keys[keys.len() - 1];
            rows.iter()
                .any(|r| r[1].as_i64() == Some(last))
                .then_some(rows)
        })
        .await;
        // Per key of the burst: the seconds of its points.
        let mut seconds: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for r in &rows {
            if let (Some(t), Some(k)) = (r[0].as_i64(), r[1].as_i64()) {
                if keys.contains(&k) {
                    seconds.entry(k).or_default().push(t);
                }
            }
        }
        for k in &keys {
            assert_eq!(seconds.get(k).map(Vec::len), Some(1), "key {k}: {rows:?}");
        }
        let distinct: std::collections::BTreeSet<i64> =
            seconds.values().flatten().copied().collect();
        if distinct.len() < keys.len() {
            println!(
                "burst {burst}: {} events in {} seconds",
                keys.len(),
                distinct.len()
            );
            common::sigterm(agent.id().expect("agent pid"));
            let _ = agent.wait().await;
            return;
        }
    }
    panic!("no burst of four events landed within one second");
}

/// A standalone node resumes the stream from `<data_dir>/events.json`: events posted while
/// it was stopped for longer than `lookback` arrive once each after its restart, though a
/// reader starting from `lookback` (a `once` with an empty data dir) no longer sees them
/// (the simulator answers a collector's time window, tests/vcsim/event_window.go).
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_node_resumes_the_stream_from_its_position_not_from_lookback() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 1,
        vms: 1,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let collect = "[collect]\ninterval = \"1s\"\nlookback = \"3s\"\nevents = true\n";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let (vm, host) = ("DC0_C0_RP0_VM0", "DC0_C0_H0");
    let mut agent = common::spawn_agent(&cfg, None);
    // The stream starts `lookback` before the agent's first read: an event a second until
    // one arrives.
    let first = common::poll("a first event", Duration::from_secs(60), || async {
        let k = post(&sim, "VmPoweredOffEvent", vm).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        points(&influx).await.contains_key(&k).then_some(k)
    })
    .await;
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
    assert!(dir.path().join("data/events.json").exists());
    // While it is stopped, and for longer than lookback after.
    let missed = [
        post(&sim, "EnteredMaintenanceModeEvent", host).await,
        post(&sim, "VmPoweredOnEvent", vm).await,
    ];
    let posted = common::check::unix_now();
    while common::check::unix_now() < posted + 3 + 2 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The control: from lookback, they are gone.
    let fresh = tempfile::tempdir().unwrap();
    let cfg2 = config::write(
        fresh.path(),
        &[Vc::new("vc1", &sim)],
        &influx.url(),
        collect,
    );
    let out = tokio::process::Command::new(common::vcollect_bin())
        .args(["once", "--output", "-", "--config"])
        .arg(&cfg2)
        .output()
        .await
        .expect("running vcollect once");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    for key in missed {
        assert!(!printed.contains(&format!("key={key}i")), "{printed}");
    }
    let mut agent = common::spawn_agent(&cfg, None);
    let got = common::poll(
        "the events of the outage",
        Duration::from_secs(30),
        || async {
            let p = points(&influx).await;
            missed.iter().all(|k| p.contains_key(k)).then_some(p)
        },
    )
    .await;
    for key in missed.iter().chain([&first]) {
        assert_eq!(got.get(key).map(Vec::len), Some(1), "key {key}: {got:?}");
    }
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
}
