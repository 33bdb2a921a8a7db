use super::*;
use crate::vsphere::{Counter, Series};
use std::collections::HashMap;
use std::sync::Arc;

fn catalog() -> CounterCatalog {
    let c = Counter::new;
    CounterCatalog::new([
        c(2, "cpu", "usage", "average", "percent"),
        c(6, "cpu", "usagemhz", "average", "megaHertz"),
        c(24, "mem", "usage", "average", "percent"),
        c(
            90,
            "virtualDisk",
            "throughput.usage",
            "average",
            "kiloBytesPerSecond",
        ),
        c(143, "net", "bytesRx", "average", "kiloBytesPerSecond"),
        c(29, "mem", "swapin", "average", "kiloBytes"),
        c(155, "sys", "uptime", "latest", "second"),
        c(156, "sys", "resourceCpuUsage", "average", "megaHertz"),
        c(157, "power", "power", "average", "watt"),
        c(180, "disk", "read", "average", "kiloBytesPerSecond"),
        c(181, "datastore", "read", "average", "kiloBytesPerSecond"),
    ])
}

fn vm() -> Entity {
    Entity {
        kind: EntityKind::Vm,
        moid: "vm-42".into(),
        name: "web 01".into(),
        dcname: Some("DC0".into()),
        clustername: Some("C,1".into()),
        esxhostname: Some("esx1".into()),
        uuid: Some("4213".into()),
        guest: Some("ubuntu64".into()),
        guesthostname: Some("web01.example.com".into()),
        rpname: Some("Resources".into()),
        memory_size_mb: Some(4096),
        memory_reservation: Some(1024),
        extras: Default::default(),
        active: true,
    }
}

const IDS: [i32; 11] = [2, 6, 24, 90, 143, 29, 155, 156, 157, 180, 181];

fn series<'a>(counter_id: i32, instance: &'a str, values: &'a [i64]) -> Series<'a> {
    Series {
        counter_id,
        instance,
        values,
    }
}

fn encode(m: &EntityMetrics, after: i64) -> (String, Encoded) {
    let cat = catalog();
    let mut enc = Encoder::new(&cat, IDS);
    let line = EntityLine::new("vc1", &vm());
    let mut out = Vec::new();
    let r = enc.encode(EntityKind::Vm, &line, m, after, &mut out);
    (String::from_utf8(out).unwrap(), r)
}

/// Encodes `m` for host `esx9` with the datastore map `{ "5f1b-aa" → "ds 1" }`.
fn encode_host(m: &EntityMetrics) -> Vec<String> {
    let cat = catalog();
    let ds = HashMap::from([("5f1b-aa".to_string(), "ds 1".to_string())]);
    let mut enc = Encoder::new(&cat, IDS).with_datastores(Arc::new(ds));
    let line = EntityLine::new("vc1", &host());
    let mut out = Vec::new();
    enc.encode(EntityKind::Host, &line, m, 0, &mut out);
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn host() -> Entity {
    Entity {
        kind: EntityKind::Host,
        moid: "host-9".into(),
        name: "esx9".into(),
        dcname: Some("DC0".into()),
        clustername: None,
        esxhostname: None,
        uuid: Some("ignored".into()),
        guest: None,
        guesthostname: Some("ignored".into()),
        rpname: Some("ignored".into()),
        memory_size_mb: Some(1),
        memory_reservation: None,
        extras: Default::default(),
        active: true,
    }
}

#[test]
fn one_line_per_group_instance_and_timestamp_with_telegraf_names() {
    let m = EntityMetrics::new(
        Some(EntityKind::Vm),
        "vm-42",
        vec![1000, 980],
        vec![
            series(2, "", &[501, 250]),
            series(6, "", &[100, 200]),
            series(2, "0", &[1000, 0]),
            series(24, "", &[3300, 3400]),
        ],
    );
    let (text, r) = encode(&m, 0);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    let tags = r"clustername=C\,1,dcname=DC0,esxhostname=esx1,guest=ubuntu64,guesthostname=web01.example.com,moid=vm-42,rpname=Resources,source=web\ 01,uuid=4213,vcenter=vc1,vmname=web\ 01";
    let mem = r#"memorySizeMB="4096",memoryReservation="1024""#;
    assert_eq!(
        lines,
        vec![
            format!("vsphere_vm_cpu,{tags},cpu=0 usage_average=0.0,{mem} 980"),
            format!("vsphere_vm_cpu,{tags},cpu=0 usage_average=10.0,{mem} 1000"),
            format!("vsphere_vm_cpu,{tags},cpu=instance-total usage_average=2.5,usagemhz_average=200i,{mem} 980"),
            format!("vsphere_vm_cpu,{tags},cpu=instance-total usage_average=5.01,usagemhz_average=100i,{mem} 1000"),
            // mem has no instance key: Telegraf writes no instance tag on its aggregate.
            format!("vsphere_vm_mem,{tags} usage_average=33.0,{mem} 1000"),
            format!("vsphere_vm_mem,{tags} usage_average=34.0,{mem} 980"),
        ]
    );
    assert_eq!(r.lines, 6);
    assert_eq!(r.samples, 8);
    assert_eq!(r.newest, Some(1000));
}

#[test]
fn no_data_values_and_old_samples_are_skipped() {
    let m = EntityMetrics::new(
        Some(EntityKind::Vm),
        "vm-42",
        vec![960, 1000, 980],
        vec![series(6, "", &[5, -1, 7]), series(24, "", &[1, -1, 2])],
    );
    let (text, r) = encode(&m, 960);
    // 1000 has only -1 values: no line at all; 960 is at/before `after`.
    assert_eq!(r.lines, 2, "{text}");
    assert_eq!(r.newest, Some(980));
    assert!(text.lines().all(|l| l.ends_with(" 980")), "{text}");
}

#[test]
fn instance_tag_keys_follow_telegraf() {
    assert_eq!(instance_tag_key("virtualDisk", "read"), "disk");
    assert_eq!(instance_tag_key("net", "bytesRx"), "interface");
    assert_eq!(instance_tag_key("sys", "resourceCpuUsage"), "resource");
    assert_eq!(instance_tag_key("sys", "uptime"), "instance");
    assert_eq!(instance_tag_key("storageAdapter", "read"), "adapter");
    assert_eq!(instance_tag_key("datastore", "read"), "lun");
    assert_eq!(instance_tag("mem", "usage"), InstanceTag::Optional);
    assert_eq!(instance_tag("rescpu", "actav1"), InstanceTag::Optional);
    assert_eq!(instance_tag("disk", "read"), InstanceTag::Disk);
}

/// Every instance rule of Telegraf's populateTags, line by line, on a host.
#[test]
fn host_instance_tags_follow_telegraf_line_by_line() {
    let m = EntityMetrics::new(
        Some(EntityKind::Host),
        "host-9",
        vec![1000],
        vec![
            series(29, "", &[7]),      // mem: aggregate only
            series(155, "", &[86400]), // sys.uptime: aggregate
            series(156, "", &[12]),    // sys.resource*: has its key
            series(156, "host/vim/vmvisor", &[3]),
            series(157, "", &[250]),         // power: aggregate
            series(157, "0", &[120]),        // power, per PSU
            series(180, "<naa.600a>", &[5]), // disk.*: `<>` stripped
            series(180, "", &[9]),           // disk.* aggregate
            series(181, "5f1b-aa", &[4]),    // datastore.*: dsname from info.url
            series(181, "6a00-bb", &[2]),    // unknown LUN: dsname = the LUN
        ],
    );
    let t = "dcname=DC0,esxhostname=esx9,moid=host-9,source=esx9,vcenter=vc1";
    assert_eq!(
        encode_host(&m),
        vec![
            format!("vsphere_host_datastore,{t},dsname=6a00-bb,lun=6a00-bb read_average=2i 1000"),
            format!(r"vsphere_host_datastore,{t},dsname=ds\ 1,lun=5f1b-aa read_average=4i 1000"),
            format!("vsphere_host_disk,{t},disk=instance-total read_average=9i 1000"),
            format!("vsphere_host_disk,{t},disk=naa.600a read_average=5i 1000"),
            format!("vsphere_host_mem,{t} swapin_average=7i 1000"),
            format!("vsphere_host_power,{t} power_average=250i 1000"),
            format!("vsphere_host_power,{t},instance=0 power_average=120i 1000"),
            format!("vsphere_host_sys,{t} uptime_latest=86400i 1000"),
            format!(
                "vsphere_host_sys,{t},resource=host/vim/vmvisor resourceCpuUsage_average=3i 1000"
            ),
            format!(
                "vsphere_host_sys,{t},resource=instance-total resourceCpuUsage_average=12i 1000"
            ),
        ]
    );
}

/// A recorded QueryPerf answer of a real vCenter (7.0.2, via OpenTelemetry's vcenterreceiver
/// mock server; tests/fixtures/otel_vcenter/README.md) with that vCenter's counter keys.
#[test]
fn recorded_vcenter_answer_gets_telegraf_tags() {
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/otel_vcenter/");
    let json = std::fs::read(format!("{base}counters_subset.json")).unwrap();
    let counters: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
    let cat = CounterCatalog::new(counters.iter().map(|c| Counter {
        key: c["key"].as_i64().unwrap() as i32,
        group: c["group"].as_str().unwrap().into(),
        name: c["name"].as_str().unwrap().into(),
        rollup: c["rollup"].as_str().unwrap().into(),
        unit: c["unit"].as_str().unwrap().into(),
    }));
    let doc = std::fs::read(format!("{base}vm-performance-counters.xml")).unwrap();
    let mut enc = Encoder::new(&cat, [143, 146, 147, 175, 176, 531, 532]);
    // No escaped spaces in the tags, so that a line splits on ' ' below.
    let line = EntityLine::new(
        "vc1",
        &Entity {
            name: "web01".into(),
            ..vm()
        },
    );
    let mut out = Vec::new();
    crate::vsphere::parse_perf_slice(&doc, |m| {
        enc.encode(EntityKind::Vm, &line, &m, 0, &mut out);
    })
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut got: Vec<String> = text
        .lines()
        .map(|l| {
            let (series, rest) = l.split_once(' ').unwrap();
            let (fields, _ts) = rest.rsplit_once(' ').unwrap();
            let measurement = series.split(',').next().unwrap();
            let instance = series.rsplit(',').next().unwrap();
            let mut fields: Vec<&str> = fields.split(',').collect();
            fields.sort();
            format!("{measurement} {instance} {}", fields.join(","))
        })
        .collect();
    got.sort();
    let mem = r#"memoryReservation="1024",memorySizeMB="4096""#;
    let net = format!("bytesRx_average=0i,bytesTx_average=0i,{mem},packetsRx_summation=0i,packetsTx_summation=0i,usage_average=0i");
    let vdisk = format!("{mem},totalReadLatency_average=0i,totalWriteLatency_average=0i");
    // net: the aggregate plus every device; virtualDisk: per disk, no aggregate (as sent).
    let mut want: Vec<String> = [
        "instance-total",
        "4000",
        "vmnic0",
        "vmnic1",
        "vmnic2",
        "vmnic3",
    ]
    .iter()
    .map(|nic| format!("vsphere_vm_net interface={nic} {net}"))
    .collect();
    want.push(format!("vsphere_vm_virtualDisk disk=scsi0:0 {vdisk}"));
    want.sort();
    assert_eq!(got, want);
    assert!(
        text.lines()
            .all(|l| l.contains(",vcenter=vc1,") && l.ends_with(" 1652798360")),
        "{text}"
    );
}

#[test]
fn vm_fields_are_strings_and_absent_when_zero_or_on_hosts() {
    let mut e = vm();
    assert_eq!(
        entity_fields(&e),
        br#",memorySizeMB="4096",memoryReservation="1024""#.to_vec()
    );
    e.memory_reservation = Some(0);
    e.memory_size_mb = None;
    assert!(entity_fields(&e).is_empty());
    assert!(entity_fields(&host()).is_empty());
}

#[test]
fn dotted_counter_names_become_underscored_fields() {
    let m = EntityMetrics::new(
        Some(EntityKind::Vm),
        "vm-42",
        vec![1000],
        vec![series(90, "scsi0:0", &[12]), series(143, "4000", &[3])],
    );
    let (text, _) = encode(&m, 0);
    assert!(text.contains("vsphere_vm_virtualDisk,"), "{text}");
    assert!(
        text.contains(",disk=scsi0:0 throughput_usage_average=12i,memorySizeMB=\"4096\""),
        "{text}"
    );
    assert!(
        text.contains(",interface=4000 bytesRx_average=3i,memorySizeMB=\"4096\""),
        "{text}"
    );
}

#[test]
fn unknown_counters_are_ignored() {
    let m = EntityMetrics::new(
        Some(EntityKind::Vm),
        "vm-42",
        vec![1000],
        vec![series(9999, "", &[1])],
    );
    let (text, r) = encode(&m, 0);
    assert_eq!((text.as_str(), r.lines), ("", 0));
}

#[test]
fn host_tags_use_the_host_name_as_esxhostname() {
    let tags = String::from_utf8(entity_tags("vc1", &host())).unwrap();
    assert_eq!(
        tags,
        ",dcname=DC0,esxhostname=esx9,moid=host-9,source=esx9,vcenter=vc1"
    );
}

/// Custom attributes and properties join the entity's tags in key order (a reserved name
/// is not written), numeric properties follow the VM fields, and NIC addresses follow the
/// `interface` tag of the NIC they belong to.
#[test]
fn extra_tags_fields_and_nic_addresses() {
    use crate::collect::tags::ExtraTags;
    use crate::vsphere::{Extras, NicAddresses, PropertyValue};
    let e = Entity {
        name: "web".into(),
        clustername: None,
        extras: Extras {
            attributes: vec![
                ("owner".into(), "team a".into()),
                ("moid".into(), "forged".into()),
                ("zone".into(), "z1".into()),
                ("secret".into(), "s3cret".into()),
            ],
            properties: vec![
                (
                    "runtime.powerState".into(),
                    PropertyValue::Text("poweredOn".into()),
                ),
                ("owner".into(), PropertyValue::Text("first wins".into())),
                (
                    "summary.quickStats.uptimeSeconds".into(),
                    PropertyValue::Int(7),
                ),
            ],
            nics: vec![NicAddresses {
                instance: "4000".into(),
                ipv4: vec!["10.0.0.1".into()],
                ipv6: vec!["2001:db8::1".into(), "fe80::1".into()],
            }],
            vsphere_tags: vec![],
            alarms: vec![],
        },
        ..vm()
    };
    let x = ExtraTags {
        attribute_include: vec!["*".into()],
        attribute_exclude: vec!["secret".into()],
        ipv4: true,
        ipv6: true,
        ..ExtraTags::default()
    };
    let line = EntityLine::with_extras("vc1", &e, &x);
    let m = EntityMetrics::new(
        Some(EntityKind::Vm),
        "vm-42",
        vec![1000],
        vec![
            series(143, "4000", &[3]),
            series(143, "", &[5]),
            series(143, "4001", &[1]),
        ],
    );
    let mut enc = Encoder::new(&catalog(), IDS);
    let mut out = Vec::new();
    enc.encode(EntityKind::Vm, &line, &m, 0, &mut out);
    let text = String::from_utf8(out).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    let tags = r"dcname=DC0,esxhostname=esx1,guest=ubuntu64,guesthostname=web01.example.com,moid=vm-42,owner=first\ wins,rpname=Resources,runtime.powerState=poweredOn,source=web,uuid=4213,vcenter=vc1,vmname=web,zone=z1";
    let fields =
        r#"memorySizeMB="4096",memoryReservation="1024",summary.quickStats.uptimeSeconds=7i"#;
    assert_eq!(
        lines,
        vec![
            format!(
                r"vsphere_vm_net,{tags},interface=4000,ipv4=10.0.0.1,ipv6=2001:db8::1\,fe80::1 bytesRx_average=3i,{fields} 1000"
            ),
            format!("vsphere_vm_net,{tags},interface=4001 bytesRx_average=1i,{fields} 1000"),
            format!(
                "vsphere_vm_net,{tags},interface=instance-total bytesRx_average=5i,{fields} 1000"
            ),
        ]
    );
    // Without configuration, the same entity is written as Telegraf's defaults.
    let plain = EntityLine::new("vc1", &e);
    assert_eq!(
        plain,
        EntityLine::with_extras("vc1", &e, &ExtraTags::default())
    );
    assert!(!String::from_utf8_lossy(&plain.tags).contains("zone"));
    assert!(plain.nics.is_empty());
    // Properties are configured, not chosen by the writer: they are written even then.
    assert!(String::from_utf8_lossy(&plain.tags).contains("runtime.powerState"));
}

/// A datastore, a cluster and a resource pool: the entity's name under its kind's tag and
/// Telegraf's parent tags. A datastore's `datastore.*` series take `dsname` from their
/// instance (Telegraf overwrites the datastore's own name there): one `dsname`, never two.
#[test]
fn historical_kinds_carry_telegrafs_tags_without_duplicates() {
    let entity = |kind, name: &str, cluster: Option<&str>| Entity {
        dcname: Some("DC0".into()),
        clustername: cluster.map(Into::into),
        ..Entity::new(kind, format!("{}-1", kind.as_str()), name)
    };
    let cat = catalog();
    let m = EntityMetrics::new(
        None,
        String::new(),
        vec![300],
        vec![series(181, "", &[7]), series(2, "", &[1500])],
    );
    let lines = |e: &Entity| {
        let mut enc = Encoder::new(&cat, IDS);
        let mut out = Vec::new();
        enc.encode(e.kind, &EntityLine::new("vc1", e), &m, 0, &mut out);
        String::from_utf8(out).unwrap()
    };
    let ds = lines(&entity(EntityKind::Datastore, "ds1", None));
    assert_eq!(
        ds,
        "vsphere_datastore_cpu,dcname=DC0,dsname=ds1,moid=datastore-1,source=ds1,vcenter=vc1,cpu=instance-total usage_average=15.0 300\n\
         vsphere_datastore_datastore,dcname=DC0,moid=datastore-1,source=ds1,vcenter=vc1,dsname=instance-total,lun=instance-total read_average=7i 300\n"
    );
    let c = lines(&entity(EntityKind::Cluster, "C0", None));
    assert!(c.starts_with("vsphere_cluster_cpu,clustername=C0,dcname=DC0,moid=cluster-1,source=C0,vcenter=vc1,cpu=instance-total "), "{c}");
    let rp = lines(&entity(EntityKind::ResourcePool, "Resources", Some("C0")));
    assert!(rp.starts_with("vsphere_resourcepool_cpu,clustername=C0,dcname=DC0,moid=resourcepool-1,rpname=Resources,source=Resources,vcenter=vc1,"), "{rp}");
}

proptest::proptest! {
    /// The encoder's series order (by prefix key) is the order by group, then instance as a
    /// string, then position: what a plain string sort gives, including long instances and
    /// ones that share their first 8 bytes.
    #[test]
    fn slots_sort_as_group_instance_position(
        items in proptest::collection::vec((0u16..3, "[a-c0-9:]{0,12}"), 0..40)
    ) {
        let m = EntityMetrics::new(
            None,
            "vm-1",
            vec![],
            items.iter().map(|(_, inst)| series(1, inst, &[])),
        );
        let mut slots: Vec<Slot> = items
            .iter()
            .enumerate()
            .map(|(i, (g, inst))| Slot::new(*g, i as u32, 0, inst))
            .collect();
        slots.sort_unstable_by(|a, b| a.cmp(b, &m));
        let got: Vec<(u16, &str, u32)> = slots
            .iter()
            .map(|s| (s.group, m.series_at(s.series as usize).instance, s.series))
            .collect();
        let mut want = got.clone();
        want.sort();
        proptest::prop_assert_eq!(&got, &want);
        for w in slots.windows(2) {
            let same = w[0].group == w[1].group
                && m.series_at(w[0].series as usize).instance
                    == m.series_at(w[1].series as usize).instance;
            proptest::prop_assert_eq!(w[0].same_line(&w[1], &m), same);
        }
    }
}
