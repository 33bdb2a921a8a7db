use super::*;
use crate::vsphere::{Counter, Series};

fn catalog() -> CounterCatalog {
    let c = |key, group: &str, name: &str, rollup: &str, unit: &str| Counter {
        key,
        group: group.into(),
        name: name.into(),
        rollup: rollup.into(),
        unit: unit.into(),
    };
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
        active: true,
    }
}

fn series(counter_id: i32, instance: &str, values: &[i64]) -> Series {
    Series {
        counter_id,
        instance: instance.into(),
        values: values.to_vec(),
    }
}

fn encode(m: &EntityMetrics, after: i64) -> (String, Encoded) {
    let cat = catalog();
    let mut enc = Encoder::new(&cat, [2, 6, 24, 90, 143]);
    let tags = entity_tags("vc1", &vm());
    let mut out = Vec::new();
    let r = enc.encode(EntityKind::Vm, &tags, m, after, &mut out);
    (String::from_utf8(out).unwrap(), r)
}

#[test]
fn one_line_per_group_instance_and_timestamp_with_telegraf_names() {
    let m = EntityMetrics {
        kind: Some(EntityKind::Vm),
        moid: "vm-42".into(),
        timestamps: vec![1000, 980],
        series: vec![
            series(2, "", &[501, 250]),
            series(6, "", &[100, 200]),
            series(2, "0", &[1000, 0]),
            series(24, "", &[3300, 3400]),
        ],
    };
    let (text, r) = encode(&m, 0);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    let tags = r"clustername=C\,1,dcname=DC0,esxhostname=esx1,guest=ubuntu64,moid=vm-42,source=web\ 01,uuid=4213,vcenter=vc1,vmname=web\ 01";
    assert_eq!(
        lines,
        vec![
            format!("vsphere_vm_cpu,{tags},cpu=0 usage_average=0.0 980"),
            format!("vsphere_vm_cpu,{tags},cpu=0 usage_average=10.0 1000"),
            format!("vsphere_vm_cpu,{tags},cpu=instance-total usage_average=2.5,usagemhz_average=200i 980"),
            format!("vsphere_vm_cpu,{tags},cpu=instance-total usage_average=5.01,usagemhz_average=100i 1000"),
            format!("vsphere_vm_mem,{tags},instance=instance-total usage_average=33.0 1000"),
            format!("vsphere_vm_mem,{tags},instance=instance-total usage_average=34.0 980"),
        ]
    );
    assert_eq!(r.lines, 6);
    assert_eq!(r.samples, 8);
    assert_eq!(r.newest, Some(1000));
}

#[test]
fn no_data_values_and_old_samples_are_skipped() {
    let m = EntityMetrics {
        kind: Some(EntityKind::Vm),
        moid: "vm-42".into(),
        timestamps: vec![960, 1000, 980],
        series: vec![series(6, "", &[5, -1, 7]), series(24, "", &[1, -1, 2])],
    };
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
}

#[test]
fn dotted_counter_names_become_underscored_fields() {
    let m = EntityMetrics {
        kind: Some(EntityKind::Vm),
        moid: "vm-42".into(),
        timestamps: vec![1000],
        series: vec![series(90, "scsi0:0", &[12]), series(143, "4000", &[3])],
    };
    let (text, _) = encode(&m, 0);
    assert!(text.contains("vsphere_vm_virtualDisk,"), "{text}");
    assert!(
        text.contains(",disk=scsi0:0 throughput_usage_average=12i 1000"),
        "{text}"
    );
    assert!(
        text.contains(",interface=4000 bytesRx_average=3i 1000"),
        "{text}"
    );
}

#[test]
fn unknown_counters_are_ignored() {
    let m = EntityMetrics {
        kind: Some(EntityKind::Vm),
        moid: "vm-42".into(),
        timestamps: vec![1000],
        series: vec![series(9999, "", &[1])],
    };
    let (text, r) = encode(&m, 0);
    assert_eq!((text.as_str(), r.lines), ("", 0));
}

#[test]
fn host_tags_use_the_host_name_as_esxhostname() {
    let host = Entity {
        kind: EntityKind::Host,
        moid: "host-9".into(),
        name: "esx9".into(),
        dcname: Some("DC0".into()),
        clustername: None,
        esxhostname: None,
        uuid: Some("ignored".into()),
        guest: None,
        active: true,
    };
    let tags = String::from_utf8(entity_tags("vc1", &host)).unwrap();
    assert_eq!(
        tags,
        ",dcname=DC0,esxhostname=esx9,moid=host-9,source=esx9,vcenter=vc1"
    );
}
