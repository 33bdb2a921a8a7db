//! Telegraf's filters end to end (`vcollect once --output -` against the simulator):
//! `<kind>_include` / `<kind>_exclude` on inventory paths with folders and nested pools,
//! `<kind>_metric_include` / `_exclude`, and a kind switched off costing no call.

mod common;

use std::collections::BTreeSet;

use common::config::{self, Vc};
use common::vcsim::{SimOptions, Simulator};

/// Runs `vcollect once --output -` with `collect` as the `[collect]` table; returns stdout.
async fn once(sim: &Simulator, collect: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(
        dir.path(),
        &[Vc::new("vc1", sim)],
        "http://127.0.0.1:9",
        &format!("[collect]\nlookback = \"1m\"\n{collect}"),
    );
    common::once_ok(&cfg, &["--output", "-"]).await.0
}

/// The values of tag `tag` on lines of `measurement`.
fn tag_values(stdout: &str, measurement: &str, tag: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter(|l| l.split(',').next() == Some(measurement))
        .filter_map(|l| {
            let tags = l.split(' ').next()?;
            tags.split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{tag}=")))
                .map(str::to_string)
        })
        .collect()
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The measurements of the lines (self-metrics left out).
fn measurements(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.split([',', ' ']).next())
        .filter(|m| !m.is_empty() && *m != "vcollect")
        .map(str::to_string)
        .collect()
}

/// Two datacenters, the second in a folder (`/F0/DC1/vm/F0/…`): the defaults miss it, as
/// Telegraf's do; VMs are selected by folder, by host and by cluster, and excluded by host.
#[tokio::test(flavor = "multi_thread")]
async fn include_and_exclude_select_what_telegraf_would() {
    let sim = Simulator::start(SimOptions {
        datacenters: 2,
        folders: 1,
        clusters: 2,
        hosts_per_cluster: 1,
        standalone_hosts: 1,
        vms: 1,
        ..Default::default()
    });
    let counters =
        "vm_counters = [\"cpu.usage.average\"]\nhost_counters = [\"mem.usage.average\"]\n";

    // Defaults: only the datacenter at the root.
    let out = once(&sim, counters).await;
    assert_eq!(
        tag_values(&out, "vsphere_vm_cpu", "vmname"),
        names(&["DC0_C0_RP0_VM0", "DC0_C1_RP0_VM0", "DC0_H0_VM0"]),
        "{out}"
    );
    assert_eq!(
        tag_values(&out, "vsphere_host_mem", "esxhostname"),
        names(&["DC0_C0_H0", "DC0_C1_H0", "DC0_H0"])
    );

    // Folder, host and pool paths; exclusion by host path; `**` across the folder.
    let out = once(
        &sim,
        &format!(
            "{counters}vm_include = [\"/*/vm/**\", \"/F0/DC1/host/F0/DC1_C1/**\"]\n\
             vm_exclude = [\"/*/host/DC0_C1/*/*\"]\n\
             host_include = [\"/**/host/**\"]\n\
             host_exclude = [\"/DC0/host/DC0_H0/*\", \"/F0/DC1/host/F0/DC1_C0/DC1_C0_H?\"]\n"
        ),
    )
    .await;
    assert_eq!(
        tag_values(&out, "vsphere_vm_cpu", "vmname"),
        names(&["DC0_C0_RP0_VM0", "DC0_H0_VM0", "DC1_C1_RP0_VM0"]),
        "{out}"
    );
    assert_eq!(
        tag_values(&out, "vsphere_host_mem", "esxhostname"),
        names(&["DC0_C0_H0", "DC0_C1_H0", "DC1_C1_H0", "DC1_H0"])
    );
}

/// VMs two pools deep, selected by their resource pool path.
#[tokio::test(flavor = "multi_thread")]
async fn vms_are_selected_by_nested_resource_pool() {
    let sim = Simulator::start(SimOptions {
        pools: 1,
        nested_pools: 1,
        clusters: 1,
        hosts_per_cluster: 1,
        standalone_hosts: 1,
        vms: 2,
        ..Default::default()
    });
    let out = once(
        &sim,
        "vm_counters = [\"cpu.usage.average\"]\nhost_metric_exclude = [\"*\"]\n\
         vm_include = [\"/DC0/host/*/Resources/*/*/*\"]\n\
         vm_exclude = [\"/DC0/host/DC0_C0/Resources/**/DC0_C0_RP0_VM1\"]\n",
    )
    .await;
    assert_eq!(
        tag_values(&out, "vsphere_vm_cpu", "vmname"),
        names(&["DC0_C0_RP0_VM0"]),
        "{out}"
    );
    assert_eq!(
        tag_values(&out, "vsphere_vm_cpu", "rpname"),
        names(&["DC0_C0_RP1_N0"])
    );
}

/// `vm_metric_exclude = ["*"]`: not one VM is queried or asked what it reports; a host
/// pattern is resolved against what hosts report, and nothing else is asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_kind_switched_off_costs_nothing() {
    let sim = Simulator::start(SimOptions::default());
    let out = once(
        &sim,
        "vm_metric_exclude = [\"*\"]\nhost_metric_include = [\"mem.*\"]\n\
         host_metric_exclude = [\"mem.usage.*\"]\n\
         cluster_metric_exclude = [\"*\"]\ndatastore_metric_exclude = [\"*\"]\n\
         resource_pool_metric_exclude = [\"*\"]\n",
    )
    .await;
    assert_eq!(measurements(&out), names(&["vsphere_host_mem"]), "{out}");
    let fields: BTreeSet<String> = out
        .lines()
        .filter(|l| l.starts_with("vsphere_host_mem,"))
        .flat_map(|l| {
            let fields = l.split(' ').nth(1).unwrap_or_default().to_string();
            fields
                .split(',')
                .filter_map(|f| f.split_once('=').map(|(k, _)| k.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(fields.len() > 1, "several mem.* counters: {fields:?}");
    assert!(!fields.contains("usage_average"), "{fields:?}");
    let calls = sim.calls().await;
    let get = |method: &str, ty: &str| calls[method][ty].as_u64().unwrap_or(0);
    assert!(get("QueryPerf", "HostSystem") > 0, "{calls}");
    assert!(get("QueryAvailablePerfMetric", "HostSystem") > 0, "{calls}");
    for ty in [
        "VirtualMachine",
        "ClusterComputeResource",
        "Datastore",
        "Datacenter",
        "ResourcePool",
    ] {
        assert_eq!(get("QueryPerf", ty), 0, "{ty}: {calls}");
        assert_eq!(get("QueryAvailablePerfMetric", ty), 0, "{ty}: {calls}");
    }
}

/// Every kind's inventory path, as `govc ls` shows the simulator's inventory: a datacenter
/// in a folder, nested pools, a standalone host; and a discovery of hosts only lists no VM.
#[tokio::test(flavor = "multi_thread")]
async fn discovery_computes_govc_paths_and_lists_only_enabled_kinds() {
    use vcollect::vsphere::{Client, ClientOptions, EntityKind};
    let sim = Simulator::start(SimOptions {
        datacenters: 2,
        folders: 1,
        pools: 1,
        nested_pools: 1,
        clusters: 1,
        hosts_per_cluster: 1,
        standalone_hosts: 1,
        vms: 1,
        ..Default::default()
    });
    let c = Client::connect(ClientOptions {
        name: "vc1".into(),
        url: sim.url.clone(),
        username: "user".into(),
        password: vcollect::secret::Secret::new("pass"),
        ca_file: None,
        tls_thumbprint: None,
        insecure: false,
        timeout: std::time::Duration::from_secs(20),
    })
    .await
    .unwrap();
    let d = c.discover().await.unwrap();
    let all: BTreeSet<&str> = d.paths.values().flatten().map(String::as_str).collect();
    for p in [
        "/DC0",
        "/F0/DC1",
        "/DC0/host/DC0_C0",
        "/F0/DC1/host/F0/DC1_C0",
        "/DC0/host/DC0_C0/DC0_C0_H0",
        "/DC0/host/DC0_H0/DC0_H0",
        "/DC0/host/DC0_C0/Resources",
        "/DC0/host/DC0_C0/Resources/DC0_C0_RP1/DC0_C0_RP1_N0",
        "/F0/DC1/host/F0/DC1_C0/Resources/DC1_C0_RP1/DC1_C0_RP1_N0",
        "/DC0/vm/DC0_C0_RP0_VM0",
        "/DC0/host/DC0_C0/DC0_C0_H0/DC0_C0_RP0_VM0",
        "/DC0/host/DC0_C0/Resources/DC0_C0_RP1/DC0_C0_RP1_N0/DC0_C0_RP0_VM0",
        "/F0/DC1/vm/F0/DC1_H0_VM0",
        "/DC0/datastore/LocalDS_0",
    ] {
        assert!(all.contains(p), "{p} missing from {all:#?}");
    }
    let hosts = c
        .discover_kinds(
            &[EntityKind::Host],
            &vcollect::vsphere::ExtraSpec::default(),
        )
        .await
        .unwrap();
    assert!(hosts.entities.iter().all(|e| e.kind == EntityKind::Host));
    assert_eq!(hosts.entities.len(), 4);
    assert!(!hosts.paths.keys().any(|m| m.starts_with("vm-")));
    assert!(c
        .discover_kinds(&[], &vcollect::vsphere::ExtraSpec::default())
        .await
        .unwrap()
        .entities
        .is_empty());
}

/// The historical kinds' include/exclude: which clusters, pools, datastores and datacenters
/// are asked what they report (`<kind>_metric_include = ["*"]` asks each admitted entity once,
/// at most 50 per kind), counted per type at the simulator.
#[tokio::test(flavor = "multi_thread")]
async fn historical_kinds_are_filtered_by_path() {
    let sim = Simulator::start(SimOptions {
        clusters: 3,
        hosts_per_cluster: 1,
        pools: 2,
        nested_pools: 1,
        vms: 1,
        ..Default::default()
    });
    once(
        &sim,
        "vm_metric_exclude = [\"*\"]\nhost_metric_exclude = [\"*\"]\n\
         cluster_metric_include = [\"*\"]\n\
         cluster_include = [\"/DC0/host/DC0_C1\", \"/DC0/host/DC0_C2\"]\n\
         cluster_exclude = [\"/*/host/DC0_C2\"]\n\
         resource_pool_metric_include = [\"*\"]\n\
         resource_pool_include = [\"/DC0/host/*/Resources/*/*\"]\n\
         resource_pool_exclude = [\"/DC0/host/DC0_C0/**\"]\n\
         datastore_metric_include = [\"*\"]\n\
         datastore_exclude = [\"/*/datastore/Local*\"]\n\
         datacenter_metric_include = [\"*\"]\n\
         datacenter_metric_exclude = []\n",
    )
    .await;
    let calls = sim.calls().await;
    let asked = |ty: &str| calls["QueryAvailablePerfMetric"][ty].as_u64().unwrap_or(0);
    // DC0_C1 only.
    assert_eq!(asked("ClusterComputeResource"), 1, "{calls}");
    // The nested pools (RP1_N0, RP2_N0) of DC0_C1 and DC0_C2.
    assert_eq!(asked("ResourcePool"), 4, "{calls}");
    assert_eq!(asked("Datastore"), 0, "{calls}");
    assert_eq!(asked("Datacenter"), 1, "{calls}");
    assert_eq!(asked("VirtualMachine") + asked("HostSystem"), 0, "{calls}");
    assert_eq!(
        calls["QueryPerf"]["VirtualMachine"].as_u64().unwrap_or(0),
        0
    );
}
