//! The vSphere client against the real govmomi simulator: login over http and https, TLS
//! policy, errors, inventory, counters, QueryPerf, session expiry and a restarted vCenter.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::vcsim::{test_certs, SimOptions, Simulator};
use vcollect::secret::Secret;
use vcollect::vsphere::{
    Client, ClientOptions, EntityKind, EntityMetrics, Error, MetricId, PerfFormat, PerfQuerySpec,
};

fn opts(url: &str) -> ClientOptions {
    ClientOptions {
        name: "vc1".into(),
        url: url.into(),
        username: "user".into(),
        password: Secret::new("pass"),
        ca_file: None,
        tls_thumbprint: None,
        insecure: false,
        timeout: Duration::from_secs(20),
    }
}

fn https_sim(dir: &std::path::Path) -> (Simulator, common::vcsim::TestCerts) {
    let certs = test_certs(dir);
    let sim = Simulator::start(SimOptions {
        tls: Some((certs.cert.clone(), certs.key.clone())),
        ..SimOptions::default()
    });
    (sim, certs)
}

#[tokio::test]
async fn connect_over_http_and_read_the_clock() {
    let sim = Simulator::start(SimOptions::default());
    let c = Client::connect(opts(&sim.url)).await.unwrap();
    let now = c.current_time().await.unwrap();
    let local = chrono::Utc::now().timestamp();
    assert!((now - local).abs() < 60, "server time {now} vs {local}");
    assert_eq!(c.session_generation(), 1);
    c.logout().await;
}

#[tokio::test]
async fn https_with_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, certs) = https_sim(dir.path());
    assert!(sim.url.starts_with("https://"));
    let mut o = opts(&sim.url);
    o.ca_file = Some(certs.ca.clone());
    let c = Client::connect(o).await.unwrap();
    c.current_time().await.unwrap();
}

#[tokio::test]
async fn https_with_system_roots_only_is_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _certs) = https_sim(dir.path());
    let err = Client::connect(opts(&sim.url)).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("vc1") && msg.contains("TLS verification failed"),
        "{msg}"
    );
    assert!(
        msg.contains("ca_file") && msg.contains("insecure = true"),
        "{msg}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn https_insecure_works() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _certs) = https_sim(dir.path());
    let mut o = opts(&sim.url);
    o.insecure = true;
    let c = Client::connect(o).await.unwrap();
    c.current_time().await.unwrap();
}

/// A simulator serving a self-signed CA:TRUE certificate for `names`; returns it and its DER.
fn self_signed_sim(
    dir: &std::path::Path,
    names: &[&str],
) -> (Simulator, std::path::PathBuf, Vec<u8>) {
    let (cert, key, der) = common::vcsim::self_signed_ca_leaf(dir, "vc", names);
    let sim = Simulator::start(SimOptions {
        tls: Some((cert.clone(), key)),
        ..SimOptions::default()
    });
    (sim, cert, der)
}

fn fingerprint(alg: &'static ring::digest::Algorithm, der: &[u8]) -> String {
    let d = ring::digest::digest(alg, der);
    let hex: Vec<String> = d.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// rustls alone refuses this (CaUsedAsEndEntity); Go and OpenSSL accept it.
#[tokio::test]
async fn self_signed_ca_leaf_in_ca_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, cert, _) = self_signed_sim(dir.path(), &["localhost", "127.0.0.1"]);
    let mut o = opts(&sim.url);
    o.ca_file = Some(cert);
    let c = Client::connect(o).await.unwrap();
    c.current_time().await.unwrap();
}

#[tokio::test]
async fn self_signed_leaf_for_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, cert, der) = self_signed_sim(dir.path(), &["vcenter.example.com"]);
    let mut o = opts(&sim.url);
    o.ca_file = Some(cert);
    let err = Client::connect(o).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not valid for name \"127.0.0.1\""),
        "{err}"
    );
    // A right thumbprint does not switch the host name check off either.
    let mut o = opts(&sim.url);
    o.tls_thumbprint = Some(fingerprint(&ring::digest::SHA256, &der));
    let err = Client::connect(o).await.unwrap_err();
    assert!(
        err.to_string().contains("not valid for name \"127.0.0.1\""),
        "{err}"
    );
}

#[tokio::test]
async fn thumbprint_pins_the_certificate_in_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _, der) = self_signed_sim(dir.path(), &["localhost", "127.0.0.1"]);
    for alg in [
        &ring::digest::SHA256,
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
    ] {
        let mut o = opts(&sim.url);
        o.tls_thumbprint = Some(fingerprint(alg, &der).to_lowercase());
        let c = Client::connect(o).await.unwrap();
        c.current_time().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_thumbprint_is_refused_and_the_presented_one_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, _, der) = self_signed_sim(dir.path(), &["localhost", "127.0.0.1"]);
    let mut o = opts(&sim.url);
    o.tls_thumbprint = Some(["AB"; 32].join(":"));
    let err = Client::connect(o).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let msg = err.to_string();
    let presented = fingerprint(&ring::digest::SHA256, &der);
    assert!(
        msg.contains("thumbprint") && msg.contains(&presented),
        "{msg}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn wrong_password_is_invalid_login() {
    let sim = Simulator::start(SimOptions::default());
    let mut o = opts(&sim.url);
    o.password = Secret::new("not-the-password<&>");
    let err = Client::connect(o).await.unwrap_err();
    assert!(matches!(err, Error::InvalidLogin { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("vCenter vc1: login refused for user user"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-password") && !format!("{err:?}").contains("not-the-password"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let url = format!("http://{}/sdk", common::free_addr());
    let err = Client::connect(opts(&url)).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("vc1") && msg.contains(&url) && msg.contains("unreachable"),
        "{msg}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn inventory_matches_the_model() {
    let sim = Simulator::start(SimOptions {
        clusters: 2,
        hosts_per_cluster: 2,
        standalone_hosts: 1,
        vms: 3,
        poweroff: 2,
        disconnect: 1,
        ..SimOptions::default()
    });
    let c = Client::connect(opts(&sim.url)).await.unwrap();
    let inv = c.inventory().await.unwrap();
    let vms: Vec<_> = inv.iter().filter(|e| e.kind == EntityKind::Vm).collect();
    let hosts: Vec<_> = inv.iter().filter(|e| e.kind == EntityKind::Host).collect();
    assert_eq!(vms.len(), 9);
    assert_eq!(hosts.len(), 5);
    assert_eq!(
        vms.iter().filter(|e| e.active).count() as u32,
        sim.expected_vms()
    );
    assert_eq!(
        hosts.iter().filter(|e| e.active).count() as u32,
        sim.expected_hosts()
    );
    for e in &inv {
        assert_eq!(e.dcname.as_deref(), Some("DC0"), "{e:?}");
    }
    for e in vms.iter().chain(&hosts) {
        assert!(e.esxhostname.is_some(), "{e:?}");
    }
    // Besides VMs and hosts: 2 clusters, the datacenter, 1 datastore, and a root pool per
    // cluster and per standalone host.
    let kind = |k| inv.iter().filter(|e| e.kind == k).count();
    assert_eq!(
        (
            kind(EntityKind::Cluster),
            kind(EntityKind::Datacenter),
            kind(EntityKind::Datastore),
            kind(EntityKind::ResourcePool)
        ),
        (2, 1, 1, 3)
    );
    // 2 clusters × 2 hosts are clustered, the standalone host is not.
    assert_eq!(hosts.iter().filter(|h| h.clustername.is_some()).count(), 4);
    assert_eq!(vms.iter().filter(|v| v.clustername.is_some()).count(), 6);
    let clustered = vms.iter().find(|v| v.clustername.is_some()).unwrap();
    assert!(clustered
        .clustername
        .as_deref()
        .unwrap()
        .starts_with("DC0_C"));
    for v in &vms {
        assert!(v.uuid.is_some(), "{v:?}");
        assert_eq!(
            v.guest.as_deref(),
            Some("other"),
            "otherGuest stripped: {v:?}"
        );
    }
    // The views were destroyed: a second inventory gives the same answer.
    assert_eq!(c.inventory().await.unwrap().len(), inv.len());
}

#[tokio::test]
async fn counters_are_read() {
    let sim = Simulator::start(SimOptions::default());
    let c = Client::connect(opts(&sim.url)).await.unwrap();
    let cat = c.counters().await.unwrap();
    assert!(cat.len() > 100, "{} counters", cat.len());
    let cpu = cat.by_name("cpu.usage.average").unwrap();
    assert_eq!(cpu.unit, "percent");
    assert_eq!(
        cat.by_key(cpu.key).unwrap().full_name(),
        "cpu.usage.average"
    );
}

/// Specs for every active VM over the aligned 5-minute window ending at the server's time.
async fn specs(c: &Client, format: PerfFormat) -> (Vec<PerfQuerySpec>, i64) {
    let cat = c.counters().await.unwrap();
    let ids: Arc<[MetricId]> = [
        "cpu.usage.average",
        "mem.usage.average",
        "net.usage.average",
    ]
    .iter()
    .map(|n| MetricId {
        counter_id: cat.by_name(n).unwrap().key,
        instance: if n.starts_with("cpu") { "*" } else { "" }.into(),
    })
    .collect();
    let end = c.current_time().await.unwrap() / 20 * 20 - 20;
    let specs = c
        .inventory()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EntityKind::Vm && e.active)
        .map(|e| PerfQuerySpec {
            kind: e.kind,
            moid: e.moid,
            start: Some(end - 300),
            end: Some(end),
            // More than the window holds: vCenter (and the simulator) also return the sample at
            // startTime, which the client must drop.
            max_sample: 30,
            metric_ids: ids.clone(),
            interval_id: 20,
            format,
        })
        .collect();
    (specs, end)
}

async fn run_query(c: &Client, specs: &[PerfQuerySpec]) -> (Vec<EntityMetrics>, u64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let collector = tokio::spawn(async move {
        let mut v = Vec::new();
        while let Some(e) = rx.recv().await {
            v.push(e);
        }
        v
    });
    let stats = c.query_perf(specs, &tx).await.unwrap();
    drop(tx);
    let got = collector.await.unwrap();
    assert_eq!(stats.entities, got.len());
    assert!(stats.bytes > 0);
    let samples = got
        .iter()
        .flat_map(|e| e.series())
        .map(|s| s.values.iter().filter(|v| **v >= 0).count() as u64)
        .sum();
    (got, samples)
}

#[tokio::test]
async fn query_perf_returns_every_sample_of_the_window() {
    let sim = Simulator::start(SimOptions {
        vms: 6,
        poweroff: 1,
        ..SimOptions::default()
    });
    let c = Client::connect(opts(&sim.url)).await.unwrap();
    // The simulator ignores `format` and always answers `normal`; the CSV parser is covered
    // by unit tests and the recorded fixture. Both requests must still work end to end.
    for format in [PerfFormat::Normal, PerfFormat::Csv] {
        let (specs, end) = specs(&c, format).await;
        assert_eq!(specs.len(), 5);
        let (got, samples) = run_query(&c, &specs).await;
        assert_eq!(got.len(), 5);
        let mut total = 0;
        for e in &got {
            assert_eq!(e.kind, Some(EntityKind::Vm));
            assert!(specs.iter().any(|s| s.moid == e.moid));
            assert_eq!(e.timestamps.len(), 15, "{format:?} {}", e.moid);
            assert!(e
                .timestamps
                .iter()
                .all(|&t| t > end - 300 && t <= end && t % 20 == 0));
            assert_eq!(e.series_len(), 3);
            for s in e.series() {
                assert_eq!(s.values.len(), 15);
                total += s.values.iter().filter(|v| **v >= 0).count() as u64;
            }
        }
        assert_eq!(samples, total);
        assert!(samples > 0);
    }
}

#[tokio::test]
async fn expired_session_is_renewed_once_for_concurrent_callers() {
    let sim = Simulator::start(SimOptions {
        session_idle_timeout: Some(Duration::from_millis(800)),
        ..SimOptions::default()
    });
    let c = Client::connect(opts(&sim.url)).await.unwrap();
    c.current_time().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.current_time().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(c.session_generation(), 2, "exactly one re-login");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!c.inventory().await.unwrap().is_empty());
    assert_eq!(c.session_generation(), 3);
}

#[tokio::test]
async fn restarted_vcenter_is_transparent() {
    let mut sim = Simulator::start(SimOptions::default());
    let c = Client::connect(opts(&sim.url)).await.unwrap();
    let before = c.inventory().await.unwrap();
    sim.restart();
    let after = c.inventory().await.unwrap();
    assert_eq!(after.len(), before.len());
    assert_eq!(c.session_generation(), 2);
    sim.restart();
    let (specs, _) = specs(&c, PerfFormat::Normal).await;
    sim.restart();
    let (got, _) = run_query(&c, &specs).await;
    assert_eq!(got.len(), specs.len());
    assert_eq!(c.session_generation(), 4);
}
