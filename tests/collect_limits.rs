//! vCenter's limits (issue 18): `config.vpxd.stats.maxQueryMetrics` on historical calls,
//! read from the server and obeyed; a refused call cut and asked again; a VM deleted while
//! the agent runs costs only itself. Against the simulator, which enforces them as vCenter
//! does (tests/vcsim/limits.go), and a real InfluxDB. The specs each run asked per type,
//! and the refusals, are printed: `cargo nextest run --test collect_limits --no-capture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use common::{check, once_ok, poll};

/// The inventory, scaled down: a dozen clusters (one host and two VMs each), 40
/// datastores, three resource pools per cluster.
fn many_historical(max_query_metrics: i32, cluster_metric_weight: u32) -> SimOptions {
    SimOptions {
        clusters: 12,
        hosts_per_cluster: 1,
        vms: 2,
        pools: 2,
        datastores: 40,
        max_query_metrics,
        cluster_metric_weight,
        ..SimOptions::default()
    }
}

/// Every cluster, datastore and resource pool, as InfluxDB holds them in `db`. The local
/// datastore's moid is a temporary path that differs between simulators (and its values
/// with it): only its tags and timestamps are kept.
async fn historical(influx: &Influx, db: &str) -> serde_json::Value {
    let q = "SELECT * FROM /^vsphere_(cluster|datastore|resourcepool)_/ GROUP BY *";
    let mut series = influx.query(db, q).await["results"][0]["series"].clone();
    for s in series.as_array_mut().into_iter().flatten() {
        let local = s["tags"]["moid"]
            .as_str()
            .is_some_and(|m| m.starts_with("/tmp/"));
        if local {
            s["tags"]["moid"] = "local".into();
            for row in s["values"].as_array_mut().into_iter().flatten() {
                if let Some(r) = row.as_array_mut() {
                    r.truncate(1);
                }
            }
        }
    }
    series
}

/// Timestamps of each historical entity (one field of each kind), by moid.
async fn historical_samples(influx: &Influx, db: &str) -> BTreeMap<String, BTreeSet<i64>> {
    let mut all = BTreeMap::new();
    for (m, f) in [
        ("vsphere_cluster_cpu", "usage_average"),
        ("vsphere_datastore_disk", "used_latest"),
        ("vsphere_resourcepool_cpu", "usagemhz_average"),
    ] {
        let got = check::series(influx, db, m, f, "moid", 0, i64::MAX).await;
        all.extend(got.into_iter().map(|(k, v)| (format!("{m} {k}"), v)));
    }
    all
}

/// `vcollect once` with the default configuration (default counters, lookback and limits)
/// on a fresh data dir, into database `db`; returns its summary.
async fn once_into(sim: &Simulator, influx: &Influx, db: &str) -> String {
    influx.create_db(db).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", sim)], &influx.url(), "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("\"vsphere\"", &format!("\"{db}\""))).unwrap();
    once_ok(&cfg, &[]).await.0
}

/// With maxQueryMetrics at 256 (vCenter's default, the option absent) and at 64 (set, as on
/// vCenter 6.0), every default kind is written exactly as against a vCenter without a limit:
/// the same historical points, every VM's and host's samples, 0 errors; also when vCenter
/// counts cluster metrics heavier than planned and refuses calls, which are then cut and
/// asked again in the same run. The first window of the historical kinds reaches the newest
/// sample the simulator rolled up (posted 7.5 minutes after its interval closed).
#[tokio::test(flavor = "multi_thread")]
async fn every_default_kind_is_written_completely_whatever_max_query_metrics() {
    let influx = Influx::start().await;
    // (database, option value, cluster weight): the first has no limit, the reference.
    let runs = [
        ("unlimited", -1, 20),
        ("absent256", 0, 20),
        ("set64", 64, 20),
        ("overcounted64", 64, 60),
    ];
    let sims: Vec<Simulator> = runs
        .iter()
        .map(|(_, limit, weight)| Simulator::start(many_historical(*limit, *weight)))
        .collect();
    let (mut before, mut after) = (0, 1);
    let mut summaries = Vec::new();
    // vCenter posts a historical sample every 5 minutes: the runs compare equal only if none
    // straddles a new one, so a set of runs that did is done again.
    for _ in 0..2 {
        before = check::unix_now() - 450; // not rounded: a 5-min sample is posted 450 s after it
        let dbs = runs.iter().enumerate().map(|(i, r)| format!("{}{i}", r.0));
        summaries = futures::future::join_all(sims.iter().zip(dbs).map(|(sim, db)| {
            let influx = &influx;
            async move { once_into(sim, influx, &db).await }
        }))
        .await;
        after = check::unix_now() - 450;
        if before / 300 == after / 300 {
            break;
        }
    }
    let newest = before / 300 * 300;
    assert_eq!(
        newest,
        after / 300 * 300,
        "two runs straddled a 5-min boundary"
    );
    for s in &summaries {
        assert!(s.contains(" 0 errors"), "{s}");
    }
    let reference = historical(&influx, "unlimited0").await;
    let expected = sims[0].expected_historical() as usize;
    let samples = historical_samples(&influx, "unlimited0").await;
    assert_eq!(samples.len(), expected, "{samples:?}");
    for (entity, ts) in &samples {
        // Contiguous on the 5-min grid up to the newest sample posted.
        let want: BTreeSet<i64> = (*ts.first().unwrap()..=newest).step_by(300).collect();
        assert_eq!(ts, &want, "{entity}");
        assert!(ts.len() >= 4, "{entity}: {ts:?}");
    }
    for (i, (name, limit, _)) in runs.iter().enumerate().skip(1) {
        let db = format!("{name}{i}");
        let got = historical(&influx, &db).await;
        assert!(
            got == reference,
            "{db}: the historical points differ from those without a limit"
        );
        let calls = sims[i].calls().await;
        println!("{db}: {}", calls);
        let refused = calls["RestrictedByAdministrator"]["QueryPerf"]
            .as_u64()
            .unwrap_or(0);
        if *name == "overcounted64" {
            assert!(refused > 0, "{db}: nothing refused: {calls}");
            // Once refused, the calls not sent yet are cut before they are sent: at most
            // those in flight at the first refusal (concurrency 4), and their halves, are
            // refused, not each of the 96 planned.
            assert!(refused <= 8, "{db}: {refused} calls refused: {calls}");
        } else {
            assert_eq!(refused, 0, "{db} (limit {limit}): {calls}");
        }
        for (m, tag, n) in [
            ("vsphere_vm_cpu", "vmname", sims[i].expected_vms()),
            ("vsphere_host_cpu", "esxhostname", sims[i].expected_hosts()),
        ] {
            let got = check::series(&influx, &db, m, "usage_average", tag, 0, i64::MAX).await;
            let last = got.values().filter_map(|s| s.last()).max().copied();
            let last = last.unwrap_or_else(|| panic!("{db}: no {m}"));
            if let Some(p) = check::gaps(&got, n as usize, last - 280, last) {
                panic!("{db} {m}: {p}");
            }
        }
    }
}

/// VMs deleted while the agent runs: the simulator then fails any call naming one with
/// ManagedObjectNotFound, as vCenter does. The agent drops the vanished VM, asks the rest of
/// the call again in the same cycle and rediscovers: no cycle reports an error, and every
/// other VM has every 20-s sample through the deletion.
#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_vm_costs_only_itself() {
    let sim = Simulator::start(SimOptions {
        hosts_per_cluster: 1,
        vms: 8,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    // All VMs in one call; rediscovery only when vCenter says something is gone.
    let collect = "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\ndiscovery_interval = \"1h\"\n\
                   vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]";
    let metrics = common::free_addr();
    let collect = format!("{collect}\n[metrics]\nlisten = \"{metrics}\"\n");
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), &collect);
    let mut agent = common::spawn_agent(&cfg, None);
    let first = check::aligned_now();
    poll("the first window", Duration::from_secs(30), || async {
        check::all_entities_reached(&influx, &sim, first)
            .await
            .then_some(())
    })
    .await;
    let gone = sim.destroy_vms(2).await;
    assert_eq!(gone.len(), 2);
    // The next 20-s sample, asked of the call that still names the deleted VMs.
    let next = check::aligned_now() + 20;
    let survivors = poll(
        "the survivors' next sample",
        Duration::from_secs(45),
        || async {
            let got = check::series(
                &influx,
                "vsphere",
                "vsphere_vm_cpu",
                "usage_average",
                "moid",
                0,
                i64::MAX,
            )
            .await;
            let alive: BTreeMap<_, _> =
                got.into_iter().filter(|(m, _)| !gone.contains(m)).collect();
            (alive.len() == 6 && alive.values().all(|s| s.contains(&next))).then_some(alive)
        },
    )
    .await;
    // The recovered faults are counted (not as cycle errors).
    let scrape = common::scrape(&metrics).await;
    let series = "vcollect_queryperf_faults_total{vcenter=\"vc1\",fault=\"ManagedObjectNotFound\"}";
    assert!(
        scrape.contains(series),
        "{series} not in /metrics:\n{scrape}"
    );
    let received = "vcollect_queryperf_received_bytes_total{vcenter=\"vc1\"}";
    assert!(scrape.contains(received), "{received} not in /metrics");
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
    let calls = sim.calls().await;
    assert!(
        calls["ManagedObjectNotFound"]["VirtualMachine"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "no call named a deleted VM (rediscovered first?): {calls}"
    );
    if let Some(p) = check::gaps(&survivors, 6, first, next) {
        panic!("survivors: {p}");
    }
    let errors = influx
        .rows(
            "vsphere",
            "SELECT \"errors\" FROM \"vcollect\" WHERE \"errors\" > 0",
        )
        .await;
    assert!(errors.is_empty(), "cycles with errors: {errors:?}");
}

/// A vCenter slower than the interval: every QueryPerf call takes 1.5 s, the interval is
/// 1 s. The overrun is counted on `/metrics` with vCenter's latency as its cause.
#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_longer_than_the_interval_is_counted_with_its_cause() {
    let sim = Simulator::start(SimOptions {
        perf_delay: Duration::from_millis(1500),
        ..SimOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let metrics = common::free_addr();
    let collect = format!(
        "[collect]\ninterval = \"1s\"\nvm_counters = [\"cpu.usage.average\"]\n\
         host_counters = [\"cpu.usage.average\"]\n[metrics]\nlisten = \"{metrics}\"\n"
    );
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], "-", &collect);
    let mut agent = common::spawn_agent(&cfg, None);
    let series = "vcollect_cycle_overruns_total{vcenter=\"vc1\",cause=\"vcenter_latency\"}";
    poll(
        "an overrun on /metrics",
        Duration::from_secs(30),
        || async {
            let scrape = reqwest::get(format!("http://{metrics}/metrics"))
                .await
                .ok()?;
            scrape.text().await.ok()?.contains(series).then_some(())
        },
    )
    .await;
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
}

/// A host vCenter loses while the agent runs: every QueryPerf call naming it or one of its
/// VMs fails whole with `HostNotConnected`, naming none of them (tests/vcsim/hoststate.go).
/// The agent halves such a call until the one entity is found, drops it, asks the rest in
/// the same cycle and rediscovers (the VMs are then `disconnected` and left out): the other
/// host's VMs, asked in the same calls, have every 20-s sample, and no cycle has an error.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_host_costs_only_itself_and_its_vms() {
    let sim = Simulator::start(SimOptions {
        hosts_per_cluster: 2,
        vms: 8,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    // All VMs and hosts in one call; rediscovery only when vCenter says something is wrong.
    let metrics = common::free_addr();
    let collect = format!(
        "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\ndiscovery_interval = \"1h\"\n\
         vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]\n\
         [metrics]\nlisten = \"{metrics}\"\n"
    );
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), &collect);
    let mut agent = common::spawn_agent(&cfg, None);
    let first = check::aligned_now();
    poll("the first window", Duration::from_secs(30), || async {
        check::all_entities_reached(&influx, &sim, first)
            .await
            .then_some(())
    })
    .await;
    // Which VMs run on which host, as written.
    let placed = influx
        .query(
            "vsphere",
            "SELECT last(\"usage_average\") FROM \"vsphere_vm_cpu\" GROUP BY \"moid\", \"esxhostname\"",
        )
        .await;
    let mut by_host: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in placed["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let host = s["tags"]["esxhostname"].as_str().unwrap_or_default();
        let moid = s["tags"]["moid"].as_str().unwrap_or_default();
        by_host.entry(host.into()).or_default().insert(moid.into());
    }
    assert_eq!(by_host.len(), 2, "VMs on two hosts: {by_host:?}");
    let (lost_host, lost_vms) = by_host
        .iter()
        .next()
        .map(|(h, v)| (h.clone(), v.clone()))
        .unwrap();
    sim.control(&format!("disconnect=1&host={lost_host}")).await;
    let next = check::aligned_now() + 20;
    let survivors = poll(
        "the other host's VMs' next sample",
        Duration::from_secs(45),
        || async {
            let got = check::series(
                &influx,
                "vsphere",
                "vsphere_vm_cpu",
                "usage_average",
                "moid",
                0,
                i64::MAX,
            )
            .await;
            let alive: BTreeMap<_, _> = got
                .into_iter()
                .filter(|(m, _)| !lost_vms.contains(m))
                .collect();
            (alive.len() == sim.expected_vms() as usize - lost_vms.len()
                && alive.values().all(|s| s.contains(&next)))
            .then_some(alive)
        },
    )
    .await;
    let scrape = common::scrape(&metrics).await;
    let series = "vcollect_queryperf_faults_total{vcenter=\"vc1\",fault=\"HostNotConnected\"}";
    assert!(
        scrape.contains(series),
        "{series} not in /metrics:\n{scrape}"
    );
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
    let calls = sim.calls().await;
    assert!(
        calls["HostNotConnected"]["QueryPerf"].as_u64().unwrap_or(0) > 0,
        "no call named the lost host's entities (rediscovered first?): {calls}"
    );
    if let Some(p) = check::gaps(
        &survivors,
        sim.expected_vms() as usize - lost_vms.len(),
        first,
        next,
    ) {
        panic!("the other host's VMs: {p}");
    }
    let errors = influx
        .rows(
            "vsphere",
            "SELECT \"errors\" FROM \"vcollect\" WHERE \"errors\" > 0",
        )
        .await;
    assert!(errors.is_empty(), "cycles with errors: {errors:?}");
}

/// Runs an agent against `sim` with every VM and host in calls of `entities_per_call` and
/// `counters` counters each, until every VM and host has every 20-s sample from its first
/// window through the next one: returns the agent's `/metrics` text at that point. Asserts that
/// no sample is missing and that no cycle reported an error.
async fn every_sample_through(sim: &Simulator, entities_per_call: usize, counters: &str) -> String {
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = common::free_addr();
    let collect = format!(
        "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\nmax_query_entities = {entities_per_call}\n\
         vm_counters = {counters}\nhost_counters = {counters}\ncluster_metric_exclude = [\"*\"]\n\
         datastore_metric_exclude = [\"*\"]\nresource_pool_metric_exclude = [\"*\"]\n\
         [metrics]\nlisten = \"{metrics}\"\n"
    );
    let cfg = config::write(dir.path(), &[Vc::new("vc1", sim)], &influx.url(), &collect);
    let mut agent = common::spawn_agent(&cfg, None);
    // Inside the first window (lookback 1m) whatever the second.
    let first = check::aligned_now() - 40;
    let last = check::aligned_now() + 20;
    poll(
        "every VM and host through the next sample",
        Duration::from_secs(60),
        || async {
            check::all_entities_reached(&influx, sim, last)
                .await
                .then_some(())
        },
    )
    .await;
    let scrape = common::scrape(&metrics).await;
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
    for (m, tag, n) in [
        ("vsphere_vm_cpu", "vmname", sim.expected_vms()),
        ("vsphere_host_cpu", "esxhostname", sim.expected_hosts()),
    ] {
        let got = check::series(&influx, "vsphere", m, "usage_average", tag, 0, i64::MAX).await;
        if let Some(p) = check::gaps(&got, n as usize, first, last) {
            panic!("{m}: {p}");
        }
    }
    let errors = influx
        .rows(
            "vsphere",
            "SELECT \"errors\" FROM \"vcollect\" WHERE \"errors\" > 0",
        )
        .await;
    assert!(errors.is_empty(), "cycles with errors: {errors:?}");
    scrape
}

/// A vCenter whose reverse proxy serves one QueryPerf call at a time and answers HTTP 503
/// to any other (tests/vcsim/front.go), each call taking 200 ms: the agent, asking four at
/// once, is turned away, sends those calls again after a backoff with fewer at once, and
/// every sample arrives with no cycle error; the 503s are counted on `/metrics`.
#[tokio::test(flavor = "multi_thread")]
async fn calls_turned_away_with_503_are_sent_again_and_nothing_is_lost() {
    let sim = Simulator::start(SimOptions {
        hosts_per_cluster: 2,
        vms: 6,
        perf_delay: Duration::from_millis(200),
        max_concurrent_calls: 1,
        ..SimOptions::default()
    });
    let scrape = every_sample_through(&sim, 2, "[\"cpu.usage.average\"]").await;
    let series = "vcollect_queryperf_faults_total{vcenter=\"vc1\",fault=\"http_503\"}";
    assert!(
        scrape.contains(series),
        "{series} not in /metrics:\n{scrape}"
    );
    let calls = sim.calls().await;
    let refused = calls["Front"]["refused_503"].as_u64().unwrap_or(0);
    assert!(refused > 0, "the simulator turned nothing away: {calls}");
    assert!(calls["InFlight"]["max"].as_u64() <= Some(1), "{calls}");
}

/// A vCenter whose request limit is lower than the calls planned (a real one refuses more
/// than 500,000 XML elements, which planned calls never reach; here 150, which four VMs of
/// four counters exceed): it answers the fault vpxd's parser does, the agent asks the call
/// again in halves in the same cycle, and every sample arrives; the refusals are counted on
/// `/metrics` as `request_too_large`.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_over_vcenters_element_limit_is_asked_again_in_halves() {
    let sim = Simulator::start(SimOptions {
        hosts_per_cluster: 1,
        vms: 8,
        max_request_elements: Some(150),
        ..SimOptions::default()
    });
    let counters = "[\"cpu.usage.average\", \"mem.usage.average\", \"net.usage.average\", \
                    \"disk.usage.average\"]";
    let scrape = every_sample_through(&sim, 64, counters).await;
    let series = "vcollect_queryperf_faults_total{vcenter=\"vc1\",fault=\"request_too_large\"}";
    assert!(
        scrape.contains(series),
        "{series} not in /metrics:\n{scrape}"
    );
    let calls = sim.calls().await;
    assert!(
        calls["Front"]["refused_elements"].as_u64().unwrap_or(0) > 0,
        "the simulator refused nothing: {calls}"
    );
    assert!(
        calls["Front"]["max_elements"].as_u64().unwrap_or(0) > 150,
        "{calls}"
    );
}
