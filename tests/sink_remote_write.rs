//! The Prometheus remote-write output (issue 21) against a real Prometheus (Debian's
//! `prometheus`, remote-write receiver on) and a real VictoriaMetrics (Debian's
//! `victoria-metrics`): the same samples as InfluxDB gets, named as Telegraf's prometheus
//! serializer names them; several outputs at once, every 20-s sample in each through a
//! receiver that is killed and started again; order refusals counted and not retried.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::prometheus::Prometheus;
use common::vcsim::{SimOptions, Simulator};
use common::victoria::Victoria;
use common::{check, once_ok, poll};
use vcollect::sink::{Api, Batch, HttpOptions, Outcome, Sink};

/// The test config with its `[output]` pointed at `url` as a remote-write output.
fn remote_write_config(
    dir: &Path,
    sim: &Simulator,
    url: &str,
    collect: &str,
) -> std::path::PathBuf {
    let path = config::write(dir, &[Vc::new("vc1", sim)], "http://unused", collect);
    let text = std::fs::read_to_string(&path).expect("config");
    let (head, _) = text.split_once("[output]").expect("an [output] section");
    let text = format!("{head}[output]\ntype = \"remote_write\"\nurl = \"{url}\"\n");
    std::fs::write(&path, text).expect("config");
    path
}

/// The part of two series maps over the time both cover (two runs end a sample apart).
fn common_span(
    a: &BTreeMap<String, BTreeSet<i64>>,
    b: &BTreeMap<String, BTreeSet<i64>>,
) -> (
    BTreeMap<String, BTreeSet<i64>>,
    BTreeMap<String, BTreeSet<i64>>,
) {
    let all =
        |m: &BTreeMap<String, BTreeSet<i64>>| m.values().flatten().copied().collect::<Vec<_>>();
    let (ta, tb) = (all(a), all(b));
    let from = ta.iter().min().max(tb.iter().min()).copied().unwrap_or(0);
    let to = ta.iter().max().min(tb.iter().max()).copied().unwrap_or(0);
    let cut = |m: &BTreeMap<String, BTreeSet<i64>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.range(from..=to).copied().collect()))
            .collect()
    };
    (cut(a), cut(b))
}

/// One `vcollect once` into InfluxDB and one into Prometheus: each entity has the same
/// samples in both, under Telegraf's prometheus names and with the tags as labels.
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_gets_the_samples_influxdb_gets_under_telegrafs_names() {
    let sim = Simulator::start(SimOptions::default());
    let (influx, prom) = (Influx::start().await, Prometheus::start().await);
    influx.create_db("vsphere").await;
    let collect = "[collect]\nlookback = \"3m\"\nvm_counters = [\"cpu.usage.average\", \"mem.usage.average\"]\n\
                   host_counters = [\"cpu.usage.average\"]\ncluster_counters = []\ndatastore_counters = []";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let to_influx = config::write(a.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let to_prom = remote_write_config(b.path(), &sim, &prom.write_url(), collect);
    once_ok(&to_influx, &[]).await;
    let (stdout, _) = once_ok(&to_prom, &[]).await;
    assert!(stdout.contains("vc1"), "{stdout}");

    for (measurement, field, name) in [
        (
            "vsphere_vm_cpu",
            "usage_average",
            "vsphere_vm_cpu_usage_average",
        ),
        (
            "vsphere_vm_mem",
            "usage_average",
            "vsphere_vm_mem_usage_average",
        ),
        (
            "vsphere_host_cpu",
            "usage_average",
            "vsphere_host_cpu_usage_average",
        ),
    ] {
        let want = check::series(&influx, "vsphere", measurement, field, "moid", 0, i64::MAX).await;
        let got = prom.timestamps_by_label(name, "moid", "1h").await;
        let (want, got) = common_span(&want, &got);
        assert!(
            !want.is_empty() && want.values().all(|t| t.len() >= 5),
            "{measurement}: {want:?}"
        );
        assert_eq!(
            got, want,
            "{name} in Prometheus against {measurement}.{field} in InfluxDB"
        );
    }
    // Tags are labels, on every series.
    let series = prom.query("vsphere_vm_cpu_usage_average").await;
    assert_eq!(series.len() as u32, sim.expected_vms());
    for s in &series {
        for label in [
            "vcenter",
            "vmname",
            "esxhostname",
            "clustername",
            "dcname",
            "source",
        ] {
            assert!(s["metric"][label].is_string(), "no {label} label on {s}");
        }
        assert_eq!(s["metric"]["vcenter"], "vc1");
    }
}

/// An agent writing to InfluxDB, Prometheus and VictoriaMetrics at once (`[[output]]`)
/// every 2 s while Prometheus is killed and started again: InfluxDB gets each new sample
/// while Prometheus is down (a dead output delays no other), Prometheus' batches of the
/// outage go to its spool and are replayed in order; every VM has every 20-s sample in all
/// three.
#[tokio::test(flavor = "multi_thread")]
async fn influxdb_prometheus_and_victoriametrics_at_once_through_a_prometheus_restart() {
    let sim = Simulator::start(SimOptions::default());
    let mut prom = Prometheus::start().await;
    let victoria = Victoria::start().await;
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = common::free_addr();
    let collect = format!(
        "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\n\
         vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]\n\
         cluster_counters = []\ndatastore_counters = []\n[metrics]\nlisten = \"{metrics}\"\n"
    );
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), &collect);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("[output]", "[[output]]")
        + &format!(
            "\n[[output]]\ntype = \"remote_write\"\nurl = \"{}\"\nmax_retries = 0\ntimeout = \"2s\"\n\
             \n[[output]]\ntype = \"remote_write\"\nname = \"victoria\"\nurl = \"{}\"\n",
            prom.write_url(),
            victoria.write_url()
        );
    std::fs::write(&cfg, text).unwrap();
    let mut agent = common::spawn_agent(&cfg, None);
    let vms = sim.expected_vms() as usize;
    let newest = |m: &BTreeMap<String, BTreeSet<i64>>| {
        (m.len() == vms)
            .then(|| m.values().filter_map(|t| t.last().copied()).min())
            .flatten()
    };
    let first = poll(
        "the first samples in Prometheus",
        Duration::from_secs(40),
        || async {
            newest(
                &prom
                    .timestamps_by_label("vsphere_vm_cpu_usage_average", "moid", "1h")
                    .await,
            )
        },
    )
    .await;
    prom.stop();
    // Down until a new 20-s sample was collected and spooled.
    let during = check::aligned_now() + 20;
    let spooled = |metrics: String| async move {
        let text = reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("vcollect_sink_spool_batches "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    poll(
        "a new sample collected into the spool while the receiver is down",
        Duration::from_secs(45),
        || async {
            let depth = spooled(metrics.clone()).await.unwrap_or(0.0);
            (check::aligned_now() >= during && depth > 0.0).then_some(())
        },
    )
    .await;
    // InfluxDB has the new sample while Prometheus is still down.
    poll(
        "the new sample in InfluxDB while Prometheus is down",
        Duration::from_secs(20),
        || async {
            let m = check::series(
                &influx,
                "vsphere",
                "vsphere_vm_cpu",
                "usage_average",
                "moid",
                0,
                i64::MAX,
            )
            .await;
            (m.len() == vms && m.values().all(|t| t.contains(&during))).then_some(())
        },
    )
    .await;
    assert!(
        spooled(metrics.clone()).await.unwrap_or(0.0) > 0.0,
        "Prometheus came back by itself?"
    );
    prom.start_again().await;
    let after = during;
    let got = poll(
        "every sample after the restart",
        Duration::from_secs(60),
        || async {
            let m = prom
                .timestamps_by_label("vsphere_vm_cpu_usage_average", "moid", "1h")
                .await;
            let drained = spooled(metrics.clone()).await == Some(0.0);
            (drained && newest(&m).is_some_and(|t| t >= after)).then_some(m)
        },
    )
    .await;
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
    if let Some(p) = check::gaps(&got, vms, first, after) {
        panic!("samples missing in Prometheus: {p}");
    }
    let in_influx = check::series(
        &influx,
        "vsphere",
        "vsphere_vm_cpu",
        "usage_average",
        "moid",
        first,
        after,
    )
    .await;
    if let Some(p) = check::gaps(&in_influx, vms, first, after) {
        panic!("samples missing in InfluxDB: {p}");
    }
    // VictoriaMetrics makes new rows searchable about a second after it took them.
    let in_victoria = poll(
        "every sample in VictoriaMetrics",
        Duration::from_secs(20),
        || async {
            let m = victoria
                .timestamps_by_label("vsphere_vm_cpu_usage_average", "moid")
                .await;
            check::gaps(&m, vms, first, after).is_none().then_some(m)
        },
    )
    .await;
    assert_eq!(in_victoria.len(), vms);
}

/// A sample older than the newest one of its series, to a Prometheus that accepts no late
/// samples (no out-of-order window): Prometheus refuses the whole request with a 400. The
/// writer sends the halves: the other series' sample in the same batch is stored, the late
/// line is left out, and the batch counts as written (sending it whole again would be
/// refused for ever), neither spooled nor dropped.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_refusal_is_not_retried_and_the_rest_is_stored() {
    let prom = Prometheus::start_without_late_samples().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = HttpOptions {
        url: prom.write_url(),
        api: Api::RemoteWrite {
            username: None,
            password: None,
            bearer_token: None,
        },
        timeout: Duration::from_secs(5),
        gzip: true,
        max_retries: 2,
        retry_backoff: Duration::from_millis(50),
    };
    let sink = Sink::http(opts, dir.path().join("spool"), 1 << 20).expect("sink");
    let now = check::aligned_now();
    let batch = |body: String| Batch {
        lines: body.lines().count(),
        body: body.into_bytes(),
    };
    let first = batch(format!("m,moid=a f=2 {now}\n"));
    assert_eq!(sink.write(first).await, Outcome::Written);
    let late = batch(format!(
        "m,moid=c f=5 {now}\nm,moid=a f=1 {}\nm,moid=b f=3 {now}\n",
        now - 60
    ));
    assert_eq!(sink.write(late).await, Outcome::Written);
    let stats = sink.stats();
    assert_eq!((stats.spooled_batches, stats.dropped_batches), (0, 0));
    let b = prom.timestamps_by_label("m_f", "moid", "1h").await;
    assert_eq!(
        b.get("b").map(|t| t.len()),
        Some(1),
        "the rest of the batch stored: {b:?}"
    );
    assert_eq!(
        b.get("a").map(|t| t.len()),
        Some(1),
        "the late sample refused: {b:?}"
    );
}
