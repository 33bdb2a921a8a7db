//! `vcollect once` end to end: the simulator, a real InfluxDB, the real binary.

mod common;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{test_certs, SimOptions, Simulator};
use common::{check, vcollect_bin};

async fn once(config: &std::path::Path, extra: &[&str]) -> std::process::Output {
    tokio::process::Command::new(vcollect_bin())
        .arg("once")
        .arg("--config")
        .arg(config)
        .args(extra)
        .output()
        .await
        .expect("running vcollect once")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn once_writes_every_sample_of_every_active_entity() {
    let sim = Simulator::start(SimOptions {
        clusters: 2,
        hosts_per_cluster: 2,
        standalone_hosts: 1,
        vms: 5,
        poweroff: 2,
        disconnect: 1,
        ..Default::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        &influx.url(),
        "[collect]\nlookback = \"5m\"",
    );
    let out = once(&cfg, &[]).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        text(&out.stderr)
    );
    let active = (sim.expected_vms() + sim.expected_hosts() + sim.expected_historical()) as usize;
    assert!(
        stdout.contains(&format!("vcenter vc1: {active} entities")),
        "summary: {stdout}"
    );
    assert!(stdout.contains("0 errors"), "{stdout}");

    // The window is (end - 5m, end], end = vCenter's time rounded down to 20 s: 15 samples.
    let end = check::aligned_now();
    for (measurement, tag, expected) in [
        ("vsphere_vm_cpu", "vmname", sim.expected_vms()),
        ("vsphere_host_cpu", "esxhostname", sim.expected_hosts()),
        ("vsphere_vm_mem", "vmname", sim.expected_vms()),
    ] {
        let got = check::series(
            &influx,
            "vsphere",
            measurement,
            "usage_average",
            tag,
            0,
            i64::MAX,
        )
        .await;
        let newest = got
            .values()
            .filter_map(|s| s.last())
            .max()
            .copied()
            .unwrap_or(end);
        if let Some(problem) = check::gaps(&got, expected as usize, newest - 280, newest) {
            panic!("{measurement}: {problem}");
        }
        assert!(
            got.values().all(|s| s.len() == 15),
            "{measurement}: exactly 15 samples per entity expected: {:?}",
            got.values().map(|s| s.len()).collect::<Vec<_>>()
        );
    }

    // Telegraf's tags, so existing dashboards work.
    let tags = influx
        .query("vsphere", "SHOW TAG KEYS FROM \"vsphere_vm_cpu\"")
        .await;
    let keys: Vec<String> = tags["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[0].as_str().unwrap().to_string())
        .collect();
    for k in [
        "clustername",
        "cpu",
        "dcname",
        "esxhostname",
        "moid",
        "source",
        "vcenter",
        "vmname",
    ] {
        assert!(
            keys.contains(&k.to_string()),
            "tag {k} missing from {keys:?}"
        );
    }
    // Percent counters are scaled like Telegraf: usage_average is a float percentage.
    let rows = influx
        .rows(
            "vsphere",
            "SELECT max(\"usage_average\") FROM \"vsphere_vm_cpu\"",
        )
        .await;
    let max = rows[0][1].as_f64().unwrap();
    assert!(
        (0.0..=100.0).contains(&max),
        "cpu usage_average {max} out of 0..100"
    );

    // Self-monitoring.
    let rows = influx
        .rows(
            "vsphere",
            "SELECT \"entities\", \"errors\", \"samples\" FROM \"vcollect\"",
        )
        .await;
    assert_eq!(
        rows.len(),
        1,
        "one vcollect point per cycle and vCenter: {rows:?}"
    );
    assert_eq!(rows[0][1].as_i64(), Some(active as i64));
    assert_eq!(rows[0][2].as_i64(), Some(0));
    assert!(rows[0][3].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_dash_writes_line_protocol_to_stdout() {
    let sim = Simulator::start(SimOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        "http://127.0.0.1:9",
        "[collect]\nlookback = \"1m\"\nvm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"mem.usage.average\"]",
    );
    let out = once(&cfg, &["--output", "-"]).await;
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    // The historical kinds (clusters, datastores, pools) are collected too, at 300 s.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("vsphere_vm_") || l.starts_with("vsphere_host_"))
        .collect();
    // 3 samples (1 minute) per entity and one line each (one counter, instance "*").
    let entities = (sim.expected_vms() + sim.expected_hosts()) as usize;
    assert_eq!(lines.len(), 3 * entities, "{stdout}");
    assert!(lines
        .iter()
        .all(|l| l.starts_with("vsphere_vm_cpu,") || l.starts_with("vsphere_host_mem,")));
    assert!(
        stderr.contains("vcenter vc1:"),
        "summary on stderr: {stderr}"
    );
}

/// A peek (`--output -`) on a live node's data dir: what it printed never reached InfluxDB,
/// so it moves no watermark, and the next run collects the same samples again.
#[tokio::test(flavor = "multi_thread")]
async fn output_dash_moves_no_watermark() {
    let sim = Simulator::start(SimOptions {
        lag: std::time::Duration::from_secs(40),
        ..Default::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        &influx.url(),
        "[collect]\nlookback = \"1m\"\nvm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"mem.usage.average\"]\n\
         cluster_metric_exclude = [\"*\"]\ndatastore_metric_exclude = [\"*\"]\nresource_pool_metric_exclude = [\"*\"]",
    );
    let out = once(&cfg, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let marks = dir.path().join("data/watermarks.json");
    let before = std::fs::read(&marks).expect("the run to InfluxDB wrote watermarks");
    let in_influx = influx
        .rows(
            "vsphere",
            "SELECT last(\"usage_average\") FROM \"vsphere_vm_cpu\"",
        )
        .await[0][0]
        .as_i64()
        .unwrap();

    // The two samples held back by the lag are now there: the peeks print them.
    sim.set_lag(None, std::time::Duration::ZERO).await;
    let entities = (sim.expected_vms() + sim.expected_hosts()) as usize;
    let mut printed = Vec::new();
    for _ in 0..2 {
        let out = once(&cfg, &["--output", "-"]).await;
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("{entities} entities ({entities} queried)")),
            "every entity queried again: {stderr}"
        );
        // (series, timestamp) of each VM sample newer than InfluxDB's newest.
        let newer: std::collections::BTreeSet<(String, i64)> = text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("vsphere_vm_cpu,"))
            .filter_map(|l| {
                let ts = l.rsplit(' ').next()?.parse::<i64>().ok()?;
                let series = l.split(' ').next()?.to_string();
                Some((series, ts))
            })
            .filter(|(_, ts)| *ts > in_influx)
            .collect();
        printed.push(newer);
        assert_eq!(
            std::fs::read(&marks).unwrap(),
            before,
            "watermarks.json unchanged"
        );
    }
    assert!(
        !printed[0].is_empty(),
        "the peek printed samples InfluxDB lacks"
    );
    // Everything the first peek printed, again (a 20-s sample that appeared between the two
    // peeks may come on top: the window ends at vCenter's newest sample).
    let missing: Vec<_> = printed[0].difference(&printed[1]).collect();
    assert!(
        missing.is_empty(),
        "the second peek did not print them again: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_ca_file_and_one_failing_vcenter_does_not_stop_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let certs = test_certs(dir.path());
    let good = Simulator::start(SimOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..Default::default()
    });
    let bad = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let mut vc1 = Vc::new("secure", &good);
    vc1.extra = format!("ca_file = \"{}\"", certs.ca.display());
    let mut vc2 = Vc::new("badpw", &bad);
    vc2.password = "wrong".into();
    let cfg = config::write(
        dir.path(),
        &[vc1, vc2],
        &influx.url(),
        "[collect]\nlookback = \"1m\"",
    );
    let out = once(&cfg, &[]).await;
    let stdout = text(&out.stdout);
    assert!(
        !out.status.success(),
        "a failing vCenter makes `once` fail: {stdout}"
    );
    assert!(
        stdout.contains("vcenter secure:") && stdout.contains("0 errors"),
        "{stdout}"
    );
    let bad_part = stdout.split("vcenter badpw:").nth(1).unwrap_or_default();
    assert!(
        bad_part.contains("login") || bad_part.contains("InvalidLogin"),
        "{stdout}"
    );
    let got = check::series(
        &influx,
        "vsphere",
        "vsphere_vm_cpu",
        "usage_average",
        "vcenter",
        0,
        i64::MAX,
    )
    .await;
    assert!(
        got.contains_key("secure") && !got.contains_key("badpw"),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_counter_is_logged_with_close_names_and_skipped() {
    let sim = Simulator::start(SimOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        "http://127.0.0.1:9",
        "[collect]\nlookback = \"1m\"\nvm_counters = [\"mem.usage.average\", \"mem.USAGE.average\", \"mem.swapIn.average\"]",
    );
    let out = once(&cfg, &["--output", "-"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stdout.contains("vsphere_vm_mem,"), "{stdout}");
    // Logged once, with the counter that differs only in case as a candidate.
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("mem.USAGE.average"))
        .collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains("mem.usage.average") && warned[0].contains("vm_counters"),
        "{stderr}"
    );
    // In the catalogue, but no entity has data for it: vCenter leaves it out of the answer.
    let unreported: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("mem.swapIn.average"))
        .collect();
    assert_eq!(unreported.len(), 1, "{stderr}");
    assert!(unreported[0].contains("no entity reported"), "{stderr}");

    // A list none of whose counters exist is an error naming one of them.
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        "http://127.0.0.1:9",
        "[collect]\nvm_counters = [\"cpu.nosuchthing.average\"]",
    );
    let out = once(&cfg, &["--output", "-"]).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cpu.nosuchthing.average") && stderr.contains("vm_counters"),
        "{stderr}"
    );
}

/// Telegraf's instance-tag rules (populateTags), line by line, on answers shaped like a real
/// vCenter's (the simulator expands instance "*" into "" plus devices, per group).
#[tokio::test(flavor = "multi_thread")]
async fn tags_follow_telegraf_line_by_line() {
    let sim = Simulator::start(SimOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        "http://127.0.0.1:9",
        "[collect]\nlookback = \"10m\"\n\
         vm_counters = [\"cpu.usagemhz.average\", \"mem.usage.average\", \"net.usage.average\", \
           \"virtualDisk.read.average\", \"sys.uptime.latest\", \"power.power.average\", \
           \"rescpu.actav1.latest\"]\n\
         host_counters = [\"cpu.usage.average\", \"mem.usage.average\", \"disk.read.average\", \
           \"datastore.maxTotalLatency.latest\", \"storageAdapter.maxTotalLatency.latest\"]",
    );
    let out = once(&cfg, &["--output", "-"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stderr: {stderr}");
    let mut instances: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> =
        Default::default();
    // VMs and hosts here; the other kinds' tags are checked in tests/collect_kinds.rs.
    let realtime = |l: &&str| l.starts_with("vsphere_vm_") || l.starts_with("vsphere_host_");
    for l in stdout.lines().filter(realtime) {
        let (series, fields) = l.split_once(' ').unwrap();
        let (measurement, tags) = series.split_once(',').unwrap();
        let keys: Vec<&str> = tags
            .split(',')
            .map(|t| t.split('=').next().unwrap())
            .collect();
        let entity_keys: &[&str] = if measurement.starts_with("vsphere_vm_") {
            assert!(fields.contains("memorySizeMB=\""), "{l}");
            &[
                "clustername",
                "dcname",
                "esxhostname",
                "guest",
                "moid",
                "rpname",
                "source",
                "uuid",
                "vcenter",
                "vmname",
            ]
        } else {
            assert!(!fields.contains("memorySizeMB"), "{l}");
            &[
                "clustername",
                "dcname",
                "esxhostname",
                "moid",
                "source",
                "vcenter",
            ]
        };
        assert!(tags.contains("vcenter=vc1"), "{l}");
        let extra: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !entity_keys.contains(k))
            .collect();
        let instance: Vec<&str> = tags
            .split(',')
            .filter(|t| extra.contains(&t.split('=').next().unwrap()))
            .collect();
        instances
            .entry(measurement)
            .or_default()
            .insert(instance.join(","));
        for k in entity_keys.iter().filter(|k| **k != "guest") {
            assert!(keys.contains(k), "{k} missing: {l}");
        }
    }
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    // No instance key: no tag at all on the aggregate (power: when the simulator has data).
    for m in [
        "vsphere_vm_mem",
        "vsphere_vm_sys",
        "vsphere_vm_rescpu",
        "vsphere_host_mem",
    ] {
        assert_eq!(instances.get(m), Some(&set(&[""])), "{m}: {stdout}");
    }
    if let Some(p) = instances.get("vsphere_vm_power") {
        assert_eq!(p, &set(&[""]));
    }
    assert!(instances["vsphere_vm_cpu"].contains("cpu=instance-total"));
    assert!(instances["vsphere_vm_cpu"].contains("cpu=0"));
    assert_eq!(instances["vsphere_host_cpu"], set(&["cpu=instance-total"]));
    assert_eq!(
        instances["vsphere_vm_net"],
        set(&["interface=4000", "interface=instance-total"])
    );
    if let Some(d) = instances.get("vsphere_vm_virtualDisk") {
        assert_eq!(d, &set(&["disk=scsi0:0"]));
    }
    assert_eq!(
        instances["vsphere_host_disk"],
        set(&["disk=instance-total", "disk=mpx.vmhba0:C0:T0:L0"])
    );
    // Sparse in the simulator's recorded data: checked where present.
    if let Some(adapters) = instances.get("vsphere_host_storageAdapter") {
        assert!(
            adapters.iter().all(|t| t.starts_with("adapter=vmhba")),
            "{adapters:?}"
        );
    }
    // The simulator's instance is not a LUN uuid, so dsname is the instance (Telegraf's
    // fallback); the mapping through info.url is covered by the encoder's unit tests.
    if let Some(ds) = instances.get("vsphere_host_datastore") {
        assert!(
            ds.iter()
                .all(|t| t.starts_with("dsname=") && t.contains(",lun=")),
            "{ds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_accepts_a_good_file_and_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let sim_url = "https://vc.example.com/sdk";
    let vc = Vc {
        name: "vc1".into(),
        url: sim_url.into(),
        user: "u".into(),
        password: "p".into(),
        extra: String::new(),
    };
    let cfg = config::write(dir.path(), &[vc], "http://127.0.0.1:8086", "");
    let ok = tokio::process::Command::new(vcollect_bin())
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("valid"));

    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap() + "\n[collect]\ninterval = \"0s\"\n",
    )
    .unwrap();
    let bad = tokio::process::Command::new(vcollect_bin())
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    let err = text(&bad.stderr);
    assert!(
        err.contains("collect.interval") && err.contains(&cfg.display().to_string()),
        "{err}"
    );
}
