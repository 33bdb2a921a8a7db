//! Cluster nodes in one process over real gRPC on loopback, with real sled directories:
//! bootstrap from identical configs, leader loss, restart, join, the token check, and
//! watermark commits through a follower, the state (event stream positions included) in a
//! snapshot. Outcomes are polled with deadlines, never slept for.
//!
//! Figures (election time, reassignment time, commit latency) are printed; run with
//! `--nocapture` to see them.

mod common;

use common::{addr, free_port, host};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use vcollect::cluster::{self, ClusterState, Node, NodeState};
use vcollect::collect::assignment::{Assignment, WatermarkUpdate};
use vcollect::config::Config;
use vcollect::secret::Secret;
use vcollect::vsphere::EntityKind;

const TOKEN: &str = "s3cret-cluster-token";
const FAILURE_TIMEOUT: Duration = Duration::from_secs(2);

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(dir.path().join("vc-password"), "pw\n").unwrap();
        Files { dir }
    }

    fn config(&self, name: &str, port: u16, peers: &[u16], expect: usize) -> Config {
        self.config_with(name, port, peers, expect, "")
    }

    fn config_with(
        &self,
        name: &str,
        port: u16,
        peers: &[u16],
        expect: usize,
        extra: &str,
    ) -> Config {
        let data = self.dir.path().join(name);
        let peers: Vec<String> = peers.iter().map(|&p| format!("\"{}\"", addr(p))).collect();
        let text = format!(
            r#"
[node]
name = "{name}"
listen = "{host}:{port}"
data_dir = "{data}"

[cluster]
peers = [{peers}]
bootstrap_expect = {expect}
token_file = "{token}"
failure_timeout = "{ft}ms"
max_voters = 5
{extra}

[[vcenter]]
name = "vc1"
url = "http://127.0.0.1:1/sdk"
username = "u"
password_file = "{pw}"
"#,
            host = host(),
            data = data.display(),
            peers = peers.join(", "),
            token = self.dir.path().join("token").display(),
            pw = self.dir.path().join("vc-password").display(),
            ft = FAILURE_TIMEOUT.as_millis(),
        );
        Config::from_toml(Path::new("test.toml"), &text).unwrap()
    }
}

async fn wait_for<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn state(n: &Node) -> Arc<ClusterState> {
    n.state().borrow().clone()
}

fn buckets(s: &ClusterState) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    if let Some(v) = s.vcenters.get("vc1") {
        for o in v.owners.iter().flatten() {
            *m.entry(*o).or_default() += 1;
        }
    }
    m
}

fn leader_of(nodes: &[&Node]) -> Option<u64> {
    nodes.iter().find_map(|n| {
        let r = n.raft()?;
        let m = r.metrics();
        let m = {
            use openraft::async_runtime::WatchReceiver;
            m.borrow_watched().clone()
        };
        (m.state == ServerState::Leader).then_some(m.id)
    })
}

fn voters(n: &Node) -> Vec<u64> {
    use openraft::async_runtime::WatchReceiver;
    let r = n.raft().unwrap();
    let m = r.metrics().borrow_watched().clone();
    m.membership_config.membership().voter_ids().collect()
}

fn joint(n: &Node) -> bool {
    use openraft::async_runtime::WatchReceiver;
    let r = n.raft().unwrap();
    let m = r.metrics().borrow_watched().clone();
    m.membership_config.membership().get_joint_config().len() > 1
}

fn live(nodes: &[Option<Node>]) -> Vec<&Node> {
    nodes.iter().flatten().collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_form_fail_over_rejoin_and_grow() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "vcollect=info".into()),
        )
        .with_test_writer()
        .try_init();
    let files = Files::new();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let cfgs: Vec<Config> = (0..3)
        .map(|i| files.config(&format!("n{}", i + 1), ports[i], &ports, 3))
        .collect();

    // 1. Three identical nodes form one cluster.
    let t0 = Instant::now();
    let mut nodes: Vec<Option<Node>> = Vec::new();
    for c in &cfgs {
        nodes.push(Some(Node::start(c).await.unwrap()));
    }
    for n in nodes.iter().flatten() {
        n.wait_ready(Duration::from_secs(10)).await.unwrap();
    }
    let formed = wait_for(
        "three voters and 341/341/342",
        Duration::from_secs(10),
        || {
            live(&nodes).iter().all(|n| {
                let s = state(n);
                let b = buckets(&s);
                s.members.nodes.len() == 3
                    && b.len() == 3
                    && b.values().all(|&c| c == 341 || c == 342)
                    && b.values().sum::<usize>() == 1024
            })
        },
    )
    .await;
    println!(
        "cluster formed (3 voters, buckets spread) {:?} after start",
        t0.elapsed()
    );
    let _ = formed;
    let ids: Vec<u64> = live(&nodes).iter().map(|n| n.id().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3]);
    for n in live(&nodes) {
        let mut v = voters(n);
        v.sort();
        assert_eq!(v, vec![1, 2, 3]);
    }

    // status over gRPC from any node, with the token.
    let token = Secret::new(TOKEN);
    let report = cluster::status(&addr(ports[0]), &token, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(report.members.len(), 3);
    assert!(report.leader_id.is_some());
    assert_eq!(report.members.iter().map(|m| m.buckets).sum::<u32>(), 1024);
    println!("{report}");

    // 2. Watermarks committed through a follower's assignment are visible everywhere.
    let leader = leader_of(&live(&nodes)).unwrap();
    let follower = live(&nodes)
        .into_iter()
        .find(|n| n.id() != Some(leader))
        .unwrap();
    let fid = follower.id().unwrap();
    let asg = follower.assignment();
    wait_for("follower collecting", Duration::from_secs(5), || {
        asg.collecting()
    })
    .await;
    let snapshot = asg.snapshot("vc1");
    let owned: Vec<u32> = (0..cluster::BUCKETS)
        .filter(|&b| snapshot.owns(b))
        .collect();
    assert!(owned.len() >= 341);
    let mut lat = Vec::new();
    for i in 0..200i64 {
        let ts = 1_700_000_000 + i * 20;
        let updates: Vec<WatermarkUpdate> = owned
            .iter()
            .flat_map(|&b| {
                [EntityKind::Vm, EntityKind::Host].map(|kind| WatermarkUpdate {
                    kind,
                    bucket: b,
                    ts,
                })
            })
            .collect();
        let t = Instant::now();
        asg.commit("vc1", updates).await.unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "CommitWatermarks via follower ({} buckets x 2 kinds): p50 {:?} p99 {:?} max {:?}",
        owned.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().unwrap()
    );
    let last_ts = 1_700_000_000 + 199 * 20;
    wait_for("watermarks on every node", Duration::from_secs(5), || {
        live(&nodes).iter().all(|n| {
            let s = state(n);
            owned.iter().all(|&b| {
                s.vcenters["vc1"].watermark(EntityKind::Vm, b) == Some(last_ts)
                    && s.vcenters["vc1"].watermark(EntityKind::Host, b) == Some(last_ts)
            })
        })
    })
    .await;
    assert_eq!(
        asg.snapshot("vc1").watermark(EntityKind::Vm, owned[0]),
        Some(last_ts)
    );
    drop(asg);
    let _ = fid;

    // 3. The leader dies: a new leader within 2 s, its buckets move within failure_timeout + 1 s.
    let li = nodes
        .iter()
        .position(|n| n.as_ref().and_then(|n| n.id()) == Some(leader))
        .unwrap();
    let dead = nodes[li].take().unwrap();
    let killed = Instant::now();
    dead.shutdown().await.unwrap();
    let election = wait_for("a new leader", Duration::from_secs(2), || {
        leader_of(&live(&nodes)).is_some_and(|l| l != leader)
    })
    .await;
    let elapsed_election = killed.elapsed();
    let _ = election;
    let reassigned = wait_for(
        "the dead leader's buckets moved",
        FAILURE_TIMEOUT + Duration::from_secs(1),
        || {
            live(&nodes).iter().all(|n| {
                let s = state(n);
                let b = buckets(&s);
                !b.contains_key(&leader) && b.values().all(|&c| c == 512)
            })
        },
    )
    .await;
    let _ = reassigned;
    let elapsed_reassign = killed.elapsed();
    println!(
        "leader {leader} killed: new leader after {elapsed_election:?}, its buckets moved after \
         {elapsed_reassign:?} (failure_timeout {FAILURE_TIMEOUT:?})"
    );
    {
        let s = state(live(&nodes)[0]);
        assert_eq!(s.members.nodes[&leader].state, NodeState::Down);
    }

    // 4. It restarts with its data dir: same id, active again, gets buckets back.
    let restarted = Node::start(&cfgs[li]).await.unwrap();
    let rid = restarted.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert_eq!(rid, leader);
    nodes[li] = Some(restarted);
    let back = wait_for(
        "the restarted node active with buckets",
        Duration::from_secs(10),
        || {
            live(&nodes).iter().all(|n| {
                let s = state(n);
                let b = buckets(&s);
                s.members.nodes[&leader].state == NodeState::Active
                    && b.len() == 3
                    && b.values().all(|&c| c == 341 || c == 342)
            })
        },
    )
    .await;
    println!("restarted node {leader} rejoined and got buckets back after {back:?}");

    // 5. A fourth node with an empty data dir joins through one peer: learner, then voter, ~256.
    let p4 = free_port();
    let cfg4 = files.config("n4", p4, &[ports[(li + 1) % 3]], 1);
    let t4 = Instant::now();
    let n4 = Node::start(&cfg4).await.unwrap();
    let id4 = n4.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert_eq!(id4, 4, "ids are never reused");
    nodes.push(Some(n4));
    let joined = wait_for(
        "node 4 a voter with 256 buckets",
        Duration::from_secs(10),
        || {
            live(&nodes).iter().all(|n| {
                let s = state(n);
                let b = buckets(&s);
                let mut v = voters(n);
                v.sort();
                v == vec![1, 2, 3, 4] && !joint(n) && b.len() == 4 && b.values().all(|&c| c == 256)
            })
        },
    )
    .await;
    println!(
        "node 4 joined, promoted and got 256 buckets after {joined:?} ({:?} since start)",
        t4.elapsed()
    );
    let report = cluster::status(&addr(p4), &token, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(report.members.len(), 4);
    assert!(report
        .members
        .iter()
        .all(|m| m.voter && m.state == "active"));
    println!("{report}");

    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_forms_alone_and_refuses_rpcs_without_the_token() {
    let files = Files::new();
    let port = free_port();
    let cfg = files.config("solo", port, &[port], 1);
    let node = Node::start(&cfg).await.unwrap();
    assert_eq!(node.wait_ready(Duration::from_secs(10)).await.unwrap(), 1);
    wait_for("solo owns everything", Duration::from_secs(10), || {
        buckets(&state(&node)).get(&1) == Some(&1024)
    })
    .await;
    let asg = node.assignment();
    wait_for("solo collecting", Duration::from_secs(5), || {
        asg.collecting()
    })
    .await;
    // Its own quorum: still collecting long after the last write (no follower ever acks).
    tokio::time::sleep(FAILURE_TIMEOUT + Duration::from_millis(500)).await;
    assert!(asg.collecting(), "a single-node cluster stopped collecting");

    let addr = addr(port);
    let ok = cluster::status(&addr, &Secret::new(TOKEN), Duration::from_secs(2)).await;
    assert!(ok.is_ok(), "{ok:?}");
    let wrong = cluster::status(&addr, &Secret::new("wrong"), Duration::from_secs(2)).await;
    assert!(
        matches!(wrong, Err(cluster::Error::Unauthenticated { .. })),
        "{wrong:?}"
    );
    let none = cluster::status_with(
        &addr,
        &cluster::ClientOptions::new(None, Duration::from_secs(2)),
    )
    .await;
    assert!(
        matches!(none, Err(cluster::Error::Unauthenticated { .. })),
        "{none:?}"
    );
    // The Raft service is guarded too.
    let opts = cluster::ClientOptions::new(Some(Secret::new("wrong")), Duration::from_secs(2));
    let mut raft = opts.raft_client(opts.channel(&addr).unwrap());
    let err = raft
        .vote(cluster::rpc::pb::RaftMessage::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    drop(asg);
    node.shutdown().await.unwrap();
}

/// A CA and one certificate for this process's loopback address signed by it, plus a rogue
/// self-signed one.
fn write_pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec![host().to_string(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("node.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("node.key"), key.serialize_pem()).unwrap();
    let rogue_key = KeyPair::generate().unwrap();
    let rogue = CertificateParams::new(vec![host().to_string()])
        .unwrap()
        .self_signed(&rogue_key)
        .unwrap();
    std::fs::write(dir.join("rogue.pem"), rogue.pem()).unwrap();
    std::fs::write(dir.join("rogue.key"), rogue_key.serialize_pem()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_over_mutual_tls_and_a_cut_off_node_stops_collecting() {
    let files = Files::new();
    let d = files.dir.path();
    write_pki(d);
    let tls = format!(
        "tls_cert = \"{0}/node.pem\"\ntls_key = \"{0}/node.key\"\ntls_ca = \"{0}/ca.pem\"",
        d.display()
    );
    let ports = [free_port(), free_port()];
    let a = Node::start(&files.config_with("a", ports[0], &ports, 2, &tls))
        .await
        .unwrap();
    let b = Node::start(&files.config_with("b", ports[1], &ports, 2, &tls))
        .await
        .unwrap();
    for n in [&a, &b] {
        n.wait_ready(Duration::from_secs(10)).await.unwrap();
    }
    wait_for("512/512 over TLS", Duration::from_secs(10), || {
        [&a, &b].iter().all(|n| {
            let bk = buckets(&state(n));
            bk.len() == 2 && bk.values().all(|&c| c == 512)
        })
    })
    .await;

    let addr = addr(ports[0]);
    let pem = |f: &str| std::fs::read(d.join(f)).unwrap();
    let mut good = cluster::ClientOptions::new(Some(Secret::new(TOKEN)), Duration::from_secs(2));
    good.tls = Some(cluster::rpc::TlsPem {
        cert: pem("node.pem"),
        key: pem("node.key"),
        ca: pem("ca.pem"),
    });
    let r = cluster::status_with(&addr, &good).await.unwrap();
    assert_eq!(r.members.len(), 2);
    // Plain text to a TLS port fails; so does a client certificate from another CA.
    let plain = cluster::ClientOptions::new(Some(Secret::new(TOKEN)), Duration::from_secs(2));
    assert!(cluster::status_with(&addr, &plain).await.is_err());
    let mut rogue = good.clone();
    rogue.tls = Some(cluster::rpc::TlsPem {
        cert: pem("rogue.pem"),
        key: pem("rogue.key"),
        ca: pem("ca.pem"),
    });
    assert!(cluster::status_with(&addr, &rogue).await.is_err());

    // Cut off from its only peer (quorum lost, or no leader reaching it), a node stops
    // collecting within failure_timeout.
    let asg = a.assignment();
    wait_for("a collecting", Duration::from_secs(5), || asg.collecting()).await;
    let cut = Instant::now();
    b.shutdown().await.unwrap();
    wait_for(
        "a stops collecting",
        FAILURE_TIMEOUT + Duration::from_secs(1),
        || !asg.collecting(),
    )
    .await;
    println!("isolated node stopped collecting after {:?}", cut.elapsed());
    drop(asg);
    a.shutdown().await.unwrap();
}

/// A vCenter removed from every node's configuration is forgotten: the leader learns each
/// member's vCenters and proposes `DropVcenter` once none names it (not while one still does).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vcenter_removed_from_every_config_is_dropped_from_the_shard_map() {
    let files = Files::new();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let vc2 = format!(
        "\n[[vcenter]]\nname = \"vc2\"\nurl = \"http://127.0.0.1:2/sdk\"\nusername = \"u\"\n\
         password_file = \"{}\"\n",
        files.dir.path().join("vc-password").display()
    );
    let with: Vec<Config> = (0..3)
        .map(|i| files.config_with(&format!("n{}", i + 1), ports[i], &ports, 3, &vc2))
        .collect();
    let without: Vec<Config> = (0..3)
        .map(|i| files.config(&format!("n{}", i + 1), ports[i], &ports, 3))
        .collect();
    let mut nodes: Vec<Option<Node>> = Vec::new();
    for c in &with {
        nodes.push(Some(Node::start(c).await.unwrap()));
    }
    let has = |s: &ClusterState, vc: &str| {
        s.vcenters
            .get(vc)
            .is_some_and(|v| v.owners.iter().all(|o| o.is_some()))
    };
    wait_for("vc1 and vc2 assigned", Duration::from_secs(15), || {
        live(&nodes).iter().all(|n| {
            let s = state(n);
            s.members.nodes.len() == 3 && has(&s, "vc1") && has(&s, "vc2")
        })
    })
    .await;

    // Rolling restart without vc2: while one node still names it, it stays.
    for i in 0..3 {
        if i == 2 {
            let s = state(live(&nodes)[0]);
            assert!(s.vcenters.contains_key("vc2"), "dropped while n3 has it");
        }
        nodes[i].take().unwrap().shutdown().await.unwrap();
        let n = Node::start(&without[i]).await.unwrap();
        n.wait_ready(Duration::from_secs(10)).await.unwrap();
        nodes[i] = Some(n);
    }
    let t = Instant::now();
    wait_for("vc2 dropped everywhere", Duration::from_secs(30), || {
        live(&nodes).iter().all(|n| {
            let s = state(n);
            !s.vcenters.contains_key("vc2") && has(&s, "vc1")
        })
    })
    .await;
    println!("vc2 dropped {:?} after the last restart", t.elapsed());
    let report = cluster::status(&addr(ports[0]), &Secret::new(TOKEN), Duration::from_secs(2))
        .await
        .unwrap();
    let listed: Vec<&str> = report.vcenters.iter().map(|v| v.vcenter.as_str()).collect();
    assert_eq!(listed, ["vc1"]);
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

/// A new follower gets a state larger than one snapshot chunk: 20 vCenters with a watermark
/// on every bucket of every kind, the leader's log purged behind a snapshot, so only the
/// snapshot (streamed in 1 MiB chunks) can bring the follower up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_follower_installs_a_snapshot_larger_than_one_chunk() {
    use vcollect::cluster::snapshot_stream::CHUNK;
    use vcollect::cluster::state::WatermarkWindow;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "vcollect=info".into()),
        )
        .with_test_writer()
        .try_init();
    let files = Files::new();
    let pw = files.dir.path().join("vc-password");
    let extra: String = (2..=20)
        .map(|i| {
            format!(
                "\n[[vcenter]]\nname = \"vc{i}\"\nurl = \"http://127.0.0.1:2/sdk\"\n\
                 username = \"u\"\npassword_file = \"{}\"\n",
                pw.display()
            )
        })
        .collect();
    let p1 = free_port();
    let n1 = Node::start(&files.config_with("n1", p1, &[p1], 1, &extra))
        .await
        .unwrap();
    n1.wait_ready(Duration::from_secs(10)).await.unwrap();
    wait_for("20 vCenters assigned", Duration::from_secs(20), || {
        let s = state(&n1);
        s.vcenters.len() == 20
            && s.vcenters
                .values()
                .all(|v| v.owners.iter().all(|o| o.is_some()))
    })
    .await;
    let ts = 1_700_000_000;
    for vc in state(&n1).vcenters.keys() {
        let windows = EntityKind::ALL
            .iter()
            .map(|&kind| WatermarkWindow {
                vcenter: vc.clone(),
                kind,
                ts,
                buckets: (0..cluster::BUCKETS).collect(),
            })
            .collect();
        n1.write(
            cluster::Command::commit_watermarks(1, windows),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    // And vc1's event stream position, which the snapshot carries too.
    let position = vcollect::contract::EventPosition {
        key: 4242,
        time: ts,
    };
    n1.write(
        cluster::Command::commit_events(1, "vc1", position),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let size = serde_json::to_vec(&*state(&n1)).unwrap().len();
    assert!(size > CHUNK, "state of {size} bytes fits one chunk");

    let raft = n1.raft().unwrap();
    let metrics = || {
        use openraft::async_runtime::WatchReceiver;
        raft.metrics().borrow_watched().clone()
    };
    let applied = metrics().last_applied.unwrap().index;
    raft.trigger().snapshot().await.unwrap();
    wait_for("the snapshot", Duration::from_secs(10), || {
        metrics().snapshot.is_some_and(|s| s.index >= applied)
    })
    .await;
    raft.trigger().purge_log(applied).await.unwrap();
    wait_for("the log purged", Duration::from_secs(10), || {
        metrics().purged.is_some_and(|p| p.index >= applied)
    })
    .await;

    let p2 = free_port();
    let t = Instant::now();
    let n2 = Node::start(&files.config_with("n2", p2, &[p1], 1, &extra))
        .await
        .unwrap();
    assert_eq!(n2.wait_ready(Duration::from_secs(10)).await.unwrap(), 2);
    let took = wait_for(
        "the follower has the whole state",
        Duration::from_secs(20),
        || {
            let s = state(&n2);
            s.vcenters.len() == 20
                && s.vcenters["vc1"].events == Some(position)
                && s.vcenters.values().all(|v| {
                    EntityKind::ALL
                        .iter()
                        .all(|&k| (0..cluster::BUCKETS).all(|b| v.watermark(k, b) == Some(ts)))
                })
        },
    )
    .await;
    println!(
        "a {size}-byte snapshot ({} chunks of {CHUNK}) installed on a new follower {took:?} \
         after it asked ({:?} since its start)",
        size.div_ceil(CHUNK),
        t.elapsed()
    );
    n2.shutdown().await.unwrap();
    n1.shutdown().await.unwrap();
}
