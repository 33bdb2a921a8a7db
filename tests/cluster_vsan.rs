//! vSAN clusters as entities of the shard map (issue 22), with real `vcollect agent`
//! processes: while vSAN posts its samples late, the leader is killed with SIGKILL and then
//! another node is drained. Every vSAN sample of every host of every vSAN cluster must be in
//! InfluxDB, on the grid, with no gap across both handovers.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::cluster::{one_leader, Cluster};
use common::config::Vc;
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};

const VSAN_INTERVAL: i64 = 30;
const COLLECT: &str = "[collect]\ninterval = \"5s\"\nlookback = \"1m\"\n\
    vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]\n\
    vsan_metric_exclude = []\nvsan_metric_include = [\"performance.host-domclient\"]\n\
    vsan_interval = \"30s\"";
const MEASUREMENT: &str = "vsphere_vsan_performance_hostdomclient";

/// Per (vSAN cluster, host): the sample timestamps in InfluxDB.
async fn samples(influx: &Influx) -> BTreeMap<String, BTreeSet<i64>> {
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let by_cluster = influx
        .timestamps_by_tag("vsphere", MEASUREMENT, "iops_read", "clustername")
        .await;
    for cluster in by_cluster.keys() {
        let q = format!(
            "SELECT \"iops_read\" FROM \"{MEASUREMENT}\" WHERE \"clustername\" = '{cluster}' GROUP BY \"hostname\""
        );
        let v = influx.query("vsphere", &q).await;
        for s in v["results"][0]["series"].as_array().into_iter().flatten() {
            let host = s["tags"]["hostname"].as_str().unwrap_or_default();
            let ts = s["values"].as_array().into_iter().flatten();
            let set = out.entry(format!("{cluster}/{host}")).or_default();
            set.extend(ts.filter_map(|r| r[0].as_i64()));
        }
    }
    out
}

async fn admin(cluster: &Cluster, via: usize, args: &[&str]) -> String {
    let out = tokio::process::Command::new(common::vcollect_bin())
        .args(args)
        .env("VCOLLECT_ADDR", cluster.nodes[via].addr())
        .env("VCOLLECT_TOKEN_FILE", &cluster.token_file)
        .env("VCOLLECT_CONFIG", "/nonexistent/vcollect.toml")
        .output()
        .await
        .expect("running vcollect");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "vcollect {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_kill_and_a_drain_lose_no_vsan_sample() {
    let sim = Simulator::start(SimOptions {
        clusters: 4,
        hosts_per_cluster: 2,
        vms: 1,
        vsan: Some((
            Duration::from_secs(VSAN_INTERVAL as u64),
            Duration::from_secs(45),
        )),
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let mut cluster = Cluster::three(&Vc::new("vc1", &sim), &influx.url(), COLLECT);
    cluster.start_all(3);
    let (st, _) = cluster
        .wait_statuses(
            "the cluster to form",
            &[0, 1, 2],
            Duration::from_secs(30),
            |all| {
                one_leader(all)
                    && all
                        .iter()
                        .all(|s| s.spread() == [341, 341, 342] && s.collecting())
            },
        )
        .await;
    let expected = 8; // 4 vSAN clusters x 2 hosts
    let first = common::poll(
        "vSAN samples of every host",
        Duration::from_secs(90),
        || async {
            let s = samples(&influx).await;
            (s.len() == expected).then_some(s)
        },
    )
    .await;
    let from = first
        .values()
        .filter_map(|t| t.first().copied())
        .max()
        .unwrap();

    // SIGKILL the leader: its vSAN clusters go to the others, from the replicated watermark.
    let old = st[0].leader().unwrap();
    let li = st.iter().position(|s| s.node_id() == old).unwrap();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != li).collect();
    let killed = Instant::now();
    cluster.kill(li).await;
    cluster
        .wait_status(
            "the dead leader's buckets moved",
            &survivors,
            Duration::from_secs(20),
            |s| s.spread() == [512, 512] && s.unassigned() == 0,
        )
        .await;
    println!(
        "leader killed: its buckets moved after {:?}",
        killed.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(VSAN_INTERVAL as u64)).await;

    // Drain one survivor: everything goes to the last node.
    let (drained, last) = (survivors[0], survivors[1]);
    let name = cluster.nodes[drained].name.clone();
    admin(&cluster, last, &["drain", &name]).await;
    cluster
        .wait_status(
            "the drained node's buckets moved",
            &[last],
            Duration::from_secs(20),
            |s| s.member(&name).is_some_and(|m| m.buckets == 0) && s.spread().contains(&1024),
        )
        .await;
    let now = common::check::unix_now();
    let to = now - now % VSAN_INTERVAL + VSAN_INTERVAL;
    let got = common::poll(
        "vSAN samples past the drain",
        Duration::from_secs(150),
        || async {
            let s = samples(&influx).await;
            s.values()
                .all(|t| t.last().is_some_and(|l| *l >= to))
                .then_some(s)
        },
    )
    .await;
    assert_eq!(got.len(), expected, "{got:?}");
    for (series, ts) in &got {
        let want: Vec<i64> = (from..=to).step_by(VSAN_INTERVAL as usize).collect();
        let have: Vec<i64> = ts.range(from..=to).copied().collect();
        assert_eq!(have, want, "{series}: samples missing\n{}", cluster.logs());
    }
    println!("no vSAN gap: {expected} host series, every sample of [{from}, {to}]");
}
