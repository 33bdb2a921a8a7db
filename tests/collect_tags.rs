//! Custom attributes, extra properties and NIC addresses as tags, end to end: the simulator
//! holding them (`-seed-tags`, tests/vcsim/tags.go), the real binary, a real InfluxDB.

mod common;

use std::collections::BTreeSet;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};

fn sim() -> Simulator {
    Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 2,
        seed_tags: true,
        ..Default::default()
    })
}

/// Runs `vcollect once` with `collect` as its `[collect]` table; returns its stdout.
async fn once(sim: &Simulator, influx: &Influx, collect: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config::write(dir.path(), &[Vc::new("vc1", sim)], &influx.url(), collect);
    let (stdout, stderr) = common::once_ok(&cfg, &[]).await;
    assert!(
        stdout.contains("0 errors"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

async fn tag_values(influx: &Influx, measurement: &str, key: &str) -> BTreeSet<String> {
    influx
        .rows(
            "vsphere",
            &format!(
                "SHOW TAG VALUES FROM {} WITH KEY = \"{key}\"",
                from(measurement)
            ),
        )
        .await
        .iter()
        .filter_map(|r| r[1].as_str().map(str::to_string))
        .collect()
}

/// A measurement name quoted, or a `/regex/` as it is.
fn from(measurement: &str) -> String {
    if measurement.starts_with('/') {
        measurement.to_string()
    } else {
        format!("\"{measurement}\"")
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_attributes_addresses_and_properties_reach_influxdb() {
    let sim = sim();
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    once(
        &sim,
        &influx,
        r#"[collect]
lookback = "2m"
custom_attribute_include = ["*"]
custom_attribute_exclude = ["secret"]
ip_addresses = ["ipv4", "ipv6"]
vm_property_include = ["runtime.powerState", "summary.config.numCpu", "summary.runtime"]
host_property_include = ["summary.runtime.inMaintenanceMode"]
cluster_property_include = ["overallStatus"]
datastore_property_include = ["summary.accessible", "summary.capacity"]
"#,
    )
    .await;

    // Custom attributes: a tag each, named like the attribute, on every VM and host point;
    // the excluded one nowhere.
    let vm_keys = influx.tag_keys("vsphere_vm_cpu").await;
    for k in ["owner", "env", "cost center", "runtime.powerState"] {
        assert!(vm_keys.contains(k), "tag {k:?} missing: {vm_keys:?}");
    }
    assert!(!vm_keys.contains("secret"), "{vm_keys:?}");
    assert_eq!(
        tag_values(&influx, "vsphere_vm_mem", "owner").await,
        set(&["team-a", "team-b"])
    );
    assert_eq!(
        tag_values(&influx, "vsphere_vm_cpu", "cost center").await,
        set(&["cc 42"])
    );
    assert_eq!(
        tag_values(&influx, "vsphere_vm_cpu", "env").await,
        set(&["prod"])
    );
    assert_eq!(
        tag_values(&influx, "vsphere_host_cpu", "env").await,
        set(&["lab"])
    );
    assert!(!influx.tag_keys("vsphere_host_cpu").await.contains("owner"));
    // The historical kinds get theirs too.
    for m in ["/^vsphere_cluster_/", "/^vsphere_datastore_/"] {
        assert_eq!(tag_values(&influx, m, "env").await, set(&["lab"]), "{m}");
    }

    // Properties: text and booleans as tags, numbers as integer fields; a data object is
    // not written.
    assert_eq!(
        tag_values(&influx, "vsphere_vm_cpu", "runtime.powerState").await,
        set(&["poweredOn"])
    );
    assert_eq!(
        tag_values(
            &influx,
            "vsphere_host_mem",
            "summary.runtime.inMaintenanceMode"
        )
        .await,
        set(&["false"])
    );
    let fields = influx
        .rows("vsphere", "SHOW FIELD KEYS FROM \"vsphere_vm_cpu\"")
        .await;
    assert!(
        fields
            .iter()
            .any(|r| r[0] == "summary.config.numCpu" && r[1] == "integer"),
        "{fields:?}"
    );
    assert!(
        !fields
            .iter()
            .any(|r| r[0].as_str().unwrap_or("").starts_with("summary.runtime")),
        "{fields:?}"
    );
    assert!(!vm_keys.iter().any(|k| k.starts_with("summary.runtime")));
    assert_eq!(
        tag_values(&influx, "/^vsphere_cluster_/", "overallStatus").await,
        set(&["green"])
    );
    assert_eq!(
        tag_values(&influx, "/^vsphere_datastore_/", "summary.accessible").await,
        set(&["true"])
    );
    let ds_fields = influx
        .rows("vsphere", "SHOW FIELD KEYS FROM /^vsphere_datastore_/")
        .await;
    assert!(
        ds_fields
            .iter()
            .any(|r| r[0] == "summary.capacity" && r[1] == "integer"),
        "{ds_fields:?}"
    );

    // Addresses: on the NIC's own `net` points, preferred first, none on the aggregate.
    let rows = influx
        .query(
            "vsphere",
            "SELECT last(\"bytesRx_average\") FROM \"vsphere_vm_net\" GROUP BY \"interface\", \"ipv4\", \"ipv6\"",
        )
        .await;
    let mut nics = BTreeSet::new();
    for s in rows["results"][0]["series"].as_array().expect("net series") {
        let t = &s["tags"];
        nics.insert((
            t["interface"].as_str().unwrap().to_string(),
            t["ipv4"].as_str().unwrap_or("").to_string(),
            t["ipv6"].as_str().unwrap_or("").to_string(),
        ));
    }
    let nic = |i: &str, v4: &str, v6: &str| (i.to_string(), v4.to_string(), v6.to_string());
    assert_eq!(
        nics,
        [
            nic("4000", "10.0.0.1", "2001:db8::1,fe80::250:56ff:fe00:1"),
            nic("4000", "10.0.0.2", "2001:db8::2,fe80::250:56ff:fe00:2"),
            nic("instance-total", "", ""),
        ]
        .into_iter()
        .collect()
    );
    assert!(!influx.tag_keys("vsphere_host_net").await.contains("ipv4"));
}

/// With the keys unset, the simulator's attributes and addresses exist but nothing of them
/// is written (and the mock-vCenter test in vsphere_fake.rs shows they are not even read).
#[tokio::test(flavor = "multi_thread")]
async fn without_the_keys_nothing_extra_is_written() {
    let sim = sim();
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    once(&sim, &influx, "[collect]\nlookback = \"2m\"").await;
    let telegraf_default = set(&[
        "clustername",
        "cpu",
        "dcname",
        "esxhostname",
        "guest",
        "moid",
        "rpname",
        "source",
        "uuid",
        "vcenter",
        "vmname",
    ]);
    assert_eq!(influx.tag_keys("vsphere_vm_cpu").await, telegraf_default);
    let net = influx.tag_keys("vsphere_vm_net").await;
    assert!(
        net.contains("interface") && !net.contains("ipv4") && !net.contains("ipv6"),
        "{net:?}"
    );
}
