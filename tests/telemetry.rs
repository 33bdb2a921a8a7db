//! `[metrics] listen`: `/metrics` scraped while real agents collect from the simulator into a
//! real InfluxDB (the documented series are there and move), `/healthz` following what
//! `vcollect health` decides (200, then 503 once the quorum is lost), and the scrape
//! refused without the cluster token. The dashboards of docs/dashboards/ are checked against
//! what runs: every PromQL metric name is served, every InfluxQL panel returns data. Also
//! `once --output -` into a closed pipe.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::cluster::{Cluster, TOKEN};
use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use common::{poll, vcollect_bin};

const COLLECT: &str = "[collect]\ninterval = \"5s\"\nlookback = \"1m\"\n\
    vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]\n";

/// Every series an admin's dashboard or alert may use; present after one cycle.
const SERIES: &[&str] = &[
    "vcollect_build_info{",
    "vcollect_collect_interval_seconds ",
    "vcollect_cycle_duration_seconds_bucket{le=",
    "vcollect_cycle_duration_seconds_count{vcenter=\"vc1\"}",
    "vcollect_cycles_total{vcenter=\"vc1\"}",
    "vcollect_samples_total{vcenter=\"vc1\"}",
    "vcollect_lines_total{vcenter=\"vc1\"}",
    "vcollect_written_bytes_total{vcenter=\"vc1\"}",
    "vcollect_queryperf_duration_seconds_count{vcenter=\"vc1\"}",
    "vcollect_entities_owned{vcenter=\"vc1\"}",
    "vcollect_last_cycle_timestamp_seconds{vcenter=\"vc1\"}",
    "vcollect_watermark_lag_seconds{vcenter=\"vc1\"}",
    "vcollect_discovery_duration_seconds_count{vcenter=\"vc1\"}",
    "vcollect_discovery_objects{vcenter=\"vc1\"}",
    "vcollect_sink_write_duration_seconds_count ",
    "vcollect_sink_retries_total ",
    "vcollect_sink_dropped_batches_total ",
    "vcollect_sink_spool_batches ",
    "vcollect_sink_spool_bytes ",
    "vcollect_errors_total{vcenter=\"vc-down\",cause=\"unreachable\"}",
];

/// The control plane's series, on a cluster node.
const CLUSTER_SERIES: &[&str] = &[
    "vcollect_raft_term ",
    "vcollect_raft_leader_id ",
    "vcollect_raft_last_log_index ",
    "vcollect_raft_commit_index ",
    "vcollect_raft_applied_index ",
    "vcollect_raft_state{state=\"leader\"}",
    "vcollect_node_state{state=\"active\"} 1",
    "vcollect_buckets_owned{vcenter=\"vc1\"}",
];

/// The queries of a dashboard in docs/dashboards/ (`query` for InfluxQL, `expr` for PromQL).
fn dashboard_queries(file: &str, field: &str) -> Vec<(String, String)> {
    let path = common::root().join("docs/dashboards").join(file);
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let d: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            let q = t[field].as_str().expect("a query").to_string();
            out.push((p["title"].as_str().unwrap_or("?").to_string(), q));
        }
    }
    assert!(out.len() >= 6, "{file}: {out:?}");
    out
}

/// Series only a cluster node serves.
const CLUSTER_ONLY: [&str; 4] = [
    "vcollect_raft_",
    "vcollect_buckets_",
    "vcollect_node_state",
    "vcollect_peer_",
];

/// Every `vcollect_*` metric the Prometheus dashboard uses is a series `/metrics` serves:
/// the data plane's names on a standalone node's scrape, the control plane's on a cluster
/// node's (`cluster`).
fn assert_promql_names_exist(scrape: &str, cluster: bool) {
    for (panel, expr) in dashboard_queries("vcollect-prometheus.json", "expr") {
        let names = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("vcollect_"))
            .filter(|w| CLUSTER_ONLY.iter().any(|p| w.starts_with(p)) == cluster);
        for name in names {
            // A sample, or the family's declaration (a family with no series yet, such as
            // the errors of a run without any, is declared all the same).
            let sample = scrape
                .lines()
                .any(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']));
            let declared = ["", "_total", "_bucket", "_sum", "_count", "_info"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .any(|family| scrape.contains(&format!("# TYPE {family} ")));
            assert!(
                sample || declared,
                "panel {panel:?}: {name} is not served by /metrics"
            );
        }
    }
}

/// `promtool check metrics` (Prometheus's own linter, from Debian's `prometheus` package,
/// which scripts/setup.sh installs) accepts the scrape: names, units, suffixes, HELP and
/// TYPE lines as Prometheus expects them. Skipped, saying so, where promtool is absent.
/// Debian's promtool (2.42) reads only the classic text format, so the OpenMetrics scrape is
/// handed over as that (see `classic_text`).
fn assert_promtool_accepts(scrape: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED promtool check metrics: promtool not found (Debian: apt-get install prometheus)"
            );
            return;
        }
        Err(e) => panic!("starting promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(classic_text(scrape).as_bytes())
        .expect("writing the scrape to promtool");
    let out = child.wait_with_output().expect("promtool exit status");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\nscrape:\n{scrape}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The OpenMetrics scrape in Prometheus's classic text format, as promtool 2.42 parses it:
/// a counter's family is named with its `_total` (OpenMetrics names it without), and the
/// `# UNIT` and `# EOF` lines go. Samples are unchanged.
fn classic_text(scrape: &str) -> String {
    let counters: std::collections::HashSet<&str> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::new();
    for line in scrape.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta.and_then(|(p, rest)| rest.split_once(' ').map(|(n, r)| (p, n, r))) {
            Some((p, name, rest)) if counters.contains(name) => {
                out.push_str(&format!("{p}{name}_total {rest}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Every InfluxQL query of the InfluxDB dashboard returns data (Grafana's macros replaced).
async fn assert_influxql_panels_have_data(influx: &Influx) {
    for (panel, q) in dashboard_queries("vcollect-influxdb.json", "query") {
        let q = q
            .replace("$timeFilter", "time > now() - 10m")
            .replace("$__interval", "10s");
        let what = format!("data for panel {panel:?}: {q}");
        let series = poll(&what, Duration::from_secs(30), || async {
            let v = influx.query("vsphere", &q).await;
            let s = v["results"][0]["series"].as_array()?.clone();
            (!s.is_empty()).then_some(s)
        })
        .await;
        assert!(
            series.iter().all(|s| s["tags"]["node"].is_string()),
            "{series:?}"
        );
    }
}

/// The value of the first sample whose line starts with `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn get(url: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut req = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_serves_the_documented_series_and_they_move() {
    let sim = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let addr = common::free_addr();
    let extra = format!("{COLLECT}\n[metrics]\nlisten = \"{addr}\"\n");
    // A second vCenter that never answers: its errors are counted by cause, and the
    // standalone node's health names it.
    let down = Vc {
        name: "vc-down".into(),
        url: format!("http://{}/sdk", common::free_addr()),
        ..Vc::new("vc-down", &sim)
    };
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim), down],
        &influx.url(),
        &extra,
    );
    let log = dir.path().join("agent.log");
    let mut agent = common::spawn_agent(&cfg, Some(&log));
    let url = format!("http://{addr}/metrics");
    let cycles = "vcollect_cycles_total{vcenter=\"vc1\"}";
    let samples = "vcollect_samples_total{vcenter=\"vc1\"}";

    let first = poll(
        "a cycle with samples in /metrics",
        Duration::from_secs(60),
        || async {
            let (_, text) = get(&url, None).await?;
            (value(&text, samples)? > 0.0).then_some(text)
        },
    )
    .await;
    let missing: Vec<&&str> = SERIES.iter().filter(|s| !first.contains(**s)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in:\n{first}");
    assert_eq!(
        value(&first, "vcollect_collect_interval_seconds "),
        Some(5.0)
    );
    assert!(value(&first, "vcollect_entities_owned{vcenter=\"vc1\"}").unwrap() > 0.0);
    assert_promql_names_exist(&first, false);
    assert_promtool_accepts(&first);
    let (c1, s1) = (
        value(&first, cycles).unwrap(),
        value(&first, samples).unwrap(),
    );
    // The next cycle moves the counters.
    poll(
        "the next cycle in /metrics",
        Duration::from_secs(30),
        || async {
            let (_, text) = get(&url, None).await?;
            (value(&text, cycles)? > c1 && value(&text, samples)? > s1).then_some(())
        },
    )
    .await;
    let errors = "vcollect_errors_total{vcenter=\"vc-down\",cause=\"unreachable\"}";
    assert!(value(&first, errors).unwrap_or(0.0) >= 1.0, "{first}");
    // A standalone node is healthy when every vCenter's last cycle went well: not here.
    let health = format!("http://{addr}/healthz");
    let (code, body) = get(&health, None).await.expect("healthz answers");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.starts_with("unhealthy: standalone node: vCenter vc-down: last cycle failed"),
        "{body}"
    );

    common::sigterm(agent.id().expect("agent pid"));
    let status = tokio::time::timeout(Duration::from_secs(30), agent.wait())
        .await
        .expect("agent stops within 30s")
        .expect("agent exit status");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_200_then_503_once_the_quorum_is_lost() {
    let sim = Simulator::start(SimOptions::default());
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let mut cluster = Cluster::three(&Vc::new("vc1", &sim), &influx.url(), COLLECT);
    let addrs: Vec<String> = (0..3).map(|_| common::free_addr()).collect();
    for (n, addr) in cluster.nodes.iter().zip(&addrs) {
        let mut text = std::fs::read_to_string(&n.config).unwrap();
        text.push_str(&format!("\n[metrics]\nlisten = \"{addr}\"\n"));
        std::fs::write(&n.config, text).unwrap();
    }
    cluster.start_all(3);
    let url = |i: usize, path: &str| format!("http://{}{path}", addrs[i]);

    for i in 0..3 {
        let what = format!("node {i} healthy on /healthz");
        let u = url(i, "/healthz");
        poll(&what, Duration::from_secs(60), || async {
            let (code, _) = get(&u, Some(TOKEN)).await?;
            (code == 200).then_some(())
        })
        .await;
    }
    // Without the cluster token: refused.
    let (code, _) = get(&url(0, "/metrics"), None).await.expect("answers");
    assert_eq!(code, 401);
    let (code, _) = get(&url(0, "/metrics"), Some("wrong-token"))
        .await
        .expect("answers");
    assert_eq!(code, 401);
    // The control plane's series, on every node; one of them leads.
    let mut leaders = 0;
    for i in 0..3 {
        let u = url(i, "/metrics");
        // Sampled once a second: the buckets appear once the leader has spread them.
        let what = format!("node {i}: every control plane series ({CLUSTER_SERIES:?})");
        let text = poll(&what, Duration::from_secs(20), || async {
            let (_, text) = get(&u, Some(TOKEN)).await?;
            let all = CLUSTER_SERIES.iter().all(|s| text.contains(*s));
            (all && value(&text, "vcollect_raft_term ")? > 0.0).then_some(text)
        })
        .await;
        if value(&text, "vcollect_raft_state{state=\"leader\"}") == Some(1.0) {
            leaders += 1;
            assert_promql_names_exist(&text, true);
            assert_promtool_accepts(&text);
            assert!(
                text.contains("vcollect_peer_last_contact_seconds{peer="),
                "{text}"
            );
        }
    }
    assert_eq!(leaders, 1);
    // The nodes' `vcollect` points feed every panel of the InfluxDB dashboard.
    assert_influxql_panels_have_data(&influx).await;

    // Two of three gone: node 0 has no quorum, and says so.
    cluster.kill(1).await;
    cluster.kill(2).await;
    let u = url(0, "/healthz");
    let body = poll("503 on /healthz", Duration::from_secs(30), || async {
        let (code, body) = get(&u, Some(TOKEN)).await?;
        (code == 503).then_some(body)
    })
    .await;
    assert!(body.starts_with("unhealthy: "), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_into_a_closed_pipe_stops_quietly() {
    let sim = Simulator::start(SimOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        "http://127.0.0.1:9",
        COLLECT,
    );
    let mut child = tokio::process::Command::new(vcollect_bin())
        .args(["once", "--output", "-", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running vcollect once");
    // The reader goes away before the first line: `vcollect once --output - | head -0`.
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("once ends")
        .expect("once exit status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert!(!stderr.contains("spool"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
}
