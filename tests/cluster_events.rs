//! vCenter's event stream handed over between real `vcollect agent` processes: events are
//! posted in the simulator all along (power operations, DRS migrations, a host into and out
//! of maintenance) while the node reading the stream is drained, and while the node that took
//! it over is killed with SIGKILL; in the end every posted event is in InfluxDB, once.
//!
//! `lookback` is 1 s, shorter than either handover (a drain, a failure timeout), and the
//! simulator answers a collector's time window (tests/vcsim/event_window.go): a node that
//! took the stream over from `lookback` instead of the replicated position would miss the
//! events of the handover, and this test would see it.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{one_leader, Cluster, Options, Status};
use common::config::Vc;
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};
use vcollect::collect::bucket_of;
use vcollect::collect::events::EVENTS_ID;

const COLLECT: &str = "[collect]\ninterval = \"2s\"\nlookback = \"1s\"\nevents = true\n\
    vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"cpu.usage.average\"]";

/// How long a handover (and the events after it) may take to show.
const HANDOVER: Duration = Duration::from_secs(60);

/// (type, entity) pairs the generator posts, in turn.
const POSTS: &[(&str, &str)] = &[
    ("VmPoweredOffEvent", "DC0_C0_RP0_VM0"),
    ("VmPoweredOnEvent", "DC0_C0_RP0_VM0"),
    ("DrsVmMigratedEvent", "DC0_C0_RP0_VM1"),
    ("EnteringMaintenanceModeEvent", "DC0_C0_H1"),
    ("EnteredMaintenanceModeEvent", "DC0_C0_H1"),
    ("ExitMaintenanceModeEvent", "DC0_C0_H1"),
    ("VmPoweredOffEvent", "DC0_C0_RP0_VM1"),
    ("VmPoweredOnEvent", "DC0_C0_RP0_VM1"),
];

/// Posts an event; its key.
async fn post(base: &str, kind: &str, entity: &str) -> i64 {
    let body = reqwest::get(format!("{base}/vcsim/event?type={kind}&entity={entity}"))
        .await
        .expect("the simulator's event endpoint")
        .text()
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
    v["key"].as_i64().expect("an event key")
}

/// Posts events every 100 ms until dropped; the keys posted so far.
struct Generator {
    keys: Arc<Mutex<Vec<i64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Generator {
    fn start(sim: &Simulator) -> Generator {
        let base = sim.url.trim_end_matches("/sdk").to_string();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let out = keys.clone();
        let task = tokio::spawn(async move {
            for (kind, entity) in POSTS.iter().cycle() {
                let key = post(&base, kind, entity).await;
                out.lock().unwrap().push(key);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Generator { keys, task }
    }

    fn last(&self) -> Option<i64> {
        self.keys.lock().unwrap().last().copied()
    }

    /// Stops posting; every key posted.
    async fn stop(self) -> Vec<i64> {
        self.task.abort();
        let _ = self.task.await;
        let keys = self.keys.lock().unwrap().clone();
        keys
    }
}

/// Per event key, the points InfluxDB holds.
async fn points(influx: &Influx) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for r in influx
        .rows("vsphere", "SELECT \"key\" FROM \"vsphere_event\"")
        .await
    {
        if let Some(k) = r[1].as_i64() {
            *out.entry(k).or_insert(0) += 1;
        }
    }
    out
}

/// Waits until InfluxDB has the event `key`.
async fn wait_event(influx: &Influx, cluster: &Cluster, key: i64, what: &str) {
    let start = Instant::now();
    while !points(influx).await.contains_key(&key) {
        if start.elapsed() > HANDOVER {
            let have: Vec<i64> = points(influx).await.into_keys().collect();
            panic!(
                "timed out waiting for {what} (event {key}; InfluxDB has {have:?})\n{}",
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether `ranges` (`0-340,700-712`) holds `bucket`.
fn holds(ranges: &str, bucket: u32) -> bool {
    ranges.split(',').any(|r| {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&bucket),
            _ => false,
        }
    })
}

/// The name of the node owning the event stream of `vc1`, as `s` sees it.
fn stream_owner(s: &Status) -> Option<String> {
    let bucket = bucket_of("vc1", EVENTS_ID);
    s.0["vcenters"]
        .as_array()?
        .iter()
        .find(|v| v["vcenter"] == "vc1")?["owners"]
        .as_array()?
        .iter()
        .find(|o| holds(o["ranges"].as_str().unwrap_or_default(), bucket))
        .and_then(|o| o["name"].as_str().map(String::from))
}

/// Waits until the stream is owned by a node other than `not`, as every node of `which`
/// sees it; its slot.
async fn wait_owner_not(cluster: &Cluster, which: &[usize], not: &str) -> usize {
    let (st, took) = cluster
        .wait_statuses("the event stream to move", which, HANDOVER, |all| {
            one_leader(all)
                && all
                    .iter()
                    .map(stream_owner)
                    .all(|o| o.as_deref().is_some_and(|o| o != not) && o == stream_owner(&all[0]))
        })
        .await;
    let name = stream_owner(&st[0]).expect("an owner");
    println!("event stream moved from {not} to {name} after {took:?}");
    slot(cluster, &name)
}

fn slot(cluster: &Cluster, name: &str) -> usize {
    cluster
        .nodes
        .iter()
        .position(|n| n.name == name)
        .expect("a node of that name")
}

/// `vcollect drain NAME` through node `via`.
async fn drain(cluster: &Cluster, via: usize, name: &str) {
    let out = tokio::process::Command::new(common::vcollect_bin())
        .args([
            "drain",
            name,
            "--addr",
            &cluster.nodes[via].addr(),
            "--token-file",
        ])
        .arg(&cluster.token_file)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("running vcollect drain");
    assert!(
        out.status.success(),
        "drain {name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_through_a_drain_and_a_kill_of_the_reading_node() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 3,
        vms: 2,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let mut cluster = Cluster::new(
        &Vc::new("vc1", &sim),
        &influx.url(),
        Options {
            slots: 3,
            bootstrap_expect: 3,
            failure_timeout: "2s",
            collect: COLLECT,
        },
    );
    cluster.start_all(3);
    let (st, took) = cluster
        .wait_statuses(
            "the cluster to form",
            &[0, 1, 2],
            Duration::from_secs(60),
            |all| {
                one_leader(all)
                    && all
                        .iter()
                        .all(|s| s.collecting() && s.unassigned() == 0 && stream_owner(s).is_some())
            },
        )
        .await;
    let first = stream_owner(&st[0]).expect("an owner");
    println!("cluster formed after {took:?}; {first} reads the event stream");
    // The stream starts `lookback` before its first read: events posted earlier are not
    // its. A probe event a second until one arrives: from then on every event counts.
    let base = sim.url.trim_end_matches("/sdk").to_string();
    common::poll("the stream to be read", HANDOVER, || async {
        let k = post(&base, "VmPoweredOffEvent", "DC0_C0_RP0_VM0").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        points(&influx).await.contains_key(&k).then_some(())
    })
    .await;
    let gen = Generator::start(&sim);
    common::poll("a first posted event", Duration::from_secs(10), || async {
        gen.last()
    })
    .await;
    let k = gen.last().expect("posted");
    wait_event(&influx, &cluster, k, "the first events").await;

    // The reading node is drained: the stream moves to another node.
    let a = slot(&cluster, &first);
    let via = (a + 1) % 3;
    drain(&cluster, via, &first).await;
    let b = wait_owner_not(&cluster, &[0, 1, 2], &first).await;
    let k = gen.last().expect("posted");
    wait_event(&influx, &cluster, k, "events after the drain").await;

    // The node that took it over is killed: the stream moves to the one left active.
    let second = cluster.nodes[b].name.clone();
    cluster.kill(b).await;
    let alive: Vec<usize> = (0..3).filter(|&i| i != b).collect();
    let c = wait_owner_not(&cluster, &alive, &second).await;
    assert_ne!(c, a, "the drained node does not get the stream back");
    let k = gen.last().expect("posted");
    wait_event(&influx, &cluster, k, "events after the kill").await;

    let posted = gen.stop().await;
    let last = *posted.last().expect("posted");
    wait_event(&influx, &cluster, last, "the last event posted").await;
    let got = points(&influx).await;
    let missing: Vec<i64> = posted
        .iter()
        .copied()
        .filter(|k| !got.contains_key(k))
        .collect();
    let doubled: Vec<(i64, usize)> = got
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, n)| (*k, *n))
        .collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{} events posted; missing {missing:?}; more than one point {doubled:?}\n{}",
        posted.len(),
        cluster.logs()
    );
    println!(
        "{} events posted through a drain and a kill, each once in InfluxDB",
        posted.len()
    );
    // `vcollect status`, asked of either node left: the committed position at the last
    // event posted, and the node that reads the stream now.
    let reader = cluster.nodes[c].name.clone();
    cluster
        .wait_statuses(
            "status to show the stream's position",
            &alive,
            HANDOVER,
            |all| {
                all.iter().all(|s| {
                    let vc1 = s.0["vcenters"]
                        .as_array()
                        .and_then(|vs| vs.iter().find(|v| v["vcenter"] == "vc1"));
                    vc1.is_some_and(|v| {
                        v["events"]["key"].as_i64() >= Some(last)
                            && v["events"]["reader_name"] == reader.as_str()
                    })
                })
            },
        )
        .await;
}
