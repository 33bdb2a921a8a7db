//! OpenTelemetry's `vcenter.*` names (`names = "otel"` on an OTLP output): the metrics of
//! the OpenTelemetry Collector's vcenter receiver (opentelemetry-collector-contrib,
//! `receiver/vcenterreceiver/metadata.yaml`) that are **exactly** a counter vcollect
//! collects: the same vSphere performance counter with the same rollup, sent by the receiver
//! unchanged and in the unit its metadata declares. Such a field is sent under the
//! receiver's name, unit and type, with the receiver's attributes; every other field keeps
//! its Telegraf name and tags (docs/compatibility.md has the table and what is left out, and
//! why).
//!
//! Pure and table-driven: [`lookup`] finds a field's entry, [`attributes`] turns a series'
//! Telegraf tags into the receiver's attributes. The encoder (`super`) only asks.

/// How the receiver types a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// A non-monotonic cumulative sum (the receiver's `sum: monotonic: false`).
    Sum,
}

/// One Telegraf field with an exact `vcenter.*` equivalent.
#[derive(Debug, PartialEq, Eq)]
pub struct Semantic {
    /// Telegraf's measurement and field (`vsphere_host_disk`, `read_average`).
    pub measurement: &'static str,
    pub field: &'static str,
    /// The receiver's metric name, unit and type.
    pub name: &'static str,
    pub unit: &'static str,
    pub kind: Kind,
    /// The Telegraf tag holding the counter's instance, sent as the receiver's `object`
    /// (every mapped metric has it): `disk` or `interface`.
    pub instance_tag: &'static str,
    /// Attributes the receiver sets from the counter's name (`direction`, `disk_type`).
    pub constant: &'static [(&'static str, &'static str)],
}

/// The receiver's attribute for the counter's instance.
pub const OBJECT: &str = "object";

/// Telegraf's tag for an aggregate instance; the receiver sends the instance as vCenter
/// names it, the aggregate as `""`.
const INSTANCE_TOTAL: &str = "instance-total";

/// Telegraf's tags that name the entity, and the receiver's attributes for them.
const RENAMED: [(&str, &str); 4] = [
    ("vmname", "vcenter.vm.name"),
    ("esxhostname", "vcenter.host.name"),
    ("clustername", "vcenter.cluster.name"),
    ("dcname", "vcenter.datacenter.name"),
];

const READ: &[(&str, &str)] = &[("direction", "read")];
const WRITE: &[(&str, &str)] = &[("direction", "write")];
const VIRTUAL_READ: &[(&str, &str)] = &[("direction", "read"), ("disk_type", "virtual")];
const VIRTUAL_WRITE: &[(&str, &str)] = &[("direction", "write"), ("disk_type", "virtual")];
const TRANSMITTED: &[(&str, &str)] = &[("direction", "transmitted")];
const RECEIVED: &[(&str, &str)] = &[("direction", "received")];

const fn entry(
    measurement: &'static str,
    field: &'static str,
    name: &'static str,
    unit: &'static str,
    kind: Kind,
    instance_tag: &'static str,
    constant: &'static [(&'static str, &'static str)],
) -> Semantic {
    Semantic {
        measurement,
        field,
        name,
        unit,
        kind,
        instance_tag,
        constant,
    }
}

/// Every mapped field: the receiver's `recordHostPerformanceMetrics` and
/// `recordVMPerformanceMetrics` cases that pass the counter's value on unchanged, with the
/// unit and type of its metadata. `ms` is the counters' `millisecond`, `{KiBy/s}` their
/// `kiloBytesPerSecond`.
#[rustfmt::skip]
pub const TABLE: &[Semantic] = &[
    entry("vsphere_host_disk", "maxTotalLatency_latest", "vcenter.host.disk.latency.max", "ms", Kind::Gauge, "disk", &[]),
    entry("vsphere_host_disk", "totalReadLatency_average", "vcenter.host.disk.latency.avg", "ms", Kind::Gauge, "disk", READ),
    entry("vsphere_host_disk", "totalWriteLatency_average", "vcenter.host.disk.latency.avg", "ms", Kind::Gauge, "disk", WRITE),
    entry("vsphere_host_disk", "read_average", "vcenter.host.disk.throughput", "{KiBy/s}", Kind::Sum, "disk", READ),
    entry("vsphere_host_disk", "write_average", "vcenter.host.disk.throughput", "{KiBy/s}", Kind::Sum, "disk", WRITE),
    entry("vsphere_host_net", "usage_average", "vcenter.host.network.usage", "{KiBy/s}", Kind::Sum, "interface", &[]),
    entry("vsphere_host_net", "bytesTx_average", "vcenter.host.network.throughput", "{KiBy/s}", Kind::Sum, "interface", TRANSMITTED),
    entry("vsphere_host_net", "bytesRx_average", "vcenter.host.network.throughput", "{KiBy/s}", Kind::Sum, "interface", RECEIVED),
    entry("vsphere_vm_disk", "maxTotalLatency_latest", "vcenter.vm.disk.latency.max", "ms", Kind::Gauge, "disk", &[]),
    entry("vsphere_vm_virtualDisk", "totalReadLatency_average", "vcenter.vm.disk.latency.avg", "ms", Kind::Gauge, "disk", VIRTUAL_READ),
    entry("vsphere_vm_virtualDisk", "totalWriteLatency_average", "vcenter.vm.disk.latency.avg", "ms", Kind::Gauge, "disk", VIRTUAL_WRITE),
    entry("vsphere_vm_virtualDisk", "read_average", "vcenter.vm.disk.throughput", "{KiBy/s}", Kind::Gauge, "disk", READ),
    entry("vsphere_vm_virtualDisk", "write_average", "vcenter.vm.disk.throughput", "{KiBy/s}", Kind::Gauge, "disk", WRITE),
    entry("vsphere_vm_net", "usage_average", "vcenter.vm.network.usage", "{KiBy/s}", Kind::Sum, "interface", &[]),
];

/// The `vcenter.*` equivalent of a Telegraf measurement and field, if there is an exact one.
pub fn lookup(measurement: &str, field: &str) -> Option<&'static Semantic> {
    TABLE
        .iter()
        .find(|s| s.measurement == measurement && s.field == field)
}

/// The receiver's attributes for a series' Telegraf tags (the `vcenter` tag, a resource
/// attribute, already taken out), unsorted: the entity's names renamed, the instance tag as
/// `object` (`instance-total` as `""`), the constant attributes added, every other tag kept
/// under its Telegraf name.
pub fn attributes<'a>(s: &Semantic, tags: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::with_capacity(tags.len() + s.constant.len());
    for &(k, v) in tags {
        if k == s.instance_tag {
            out.push((OBJECT, if v == INSTANCE_TOTAL { "" } else { v }));
        } else {
            out.push((rename(k), v));
        }
    }
    out.extend(s.constant.iter().copied());
    out
}

/// The receiver's name for a Telegraf tag that names the entity; other tags unchanged.
fn rename(tag: &str) -> &str {
    RENAMED
        .iter()
        .find(|(t, _)| *t == tag)
        .map_or(tag, |(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_equivalents_are_found_and_others_are_not() {
        let s = lookup("vsphere_host_disk", "totalReadLatency_average").unwrap();
        assert_eq!(
            (s.name, s.unit, s.kind),
            ("vcenter.host.disk.latency.avg", "ms", Kind::Gauge)
        );
        assert_eq!(
            lookup("vsphere_vm_net", "usage_average").unwrap().name,
            "vcenter.vm.network.usage"
        );
        // The receiver's VM throughput declares By/s for the KBps counter; packet counters
        // are divided by 20; cpu and memory come from quick stats, not these counters.
        for (m, f) in [
            ("vsphere_vm_net", "bytesTx_average"),
            ("vsphere_host_net", "packetsRx_summation"),
            ("vsphere_vm_cpu", "usage_average"),
            ("vsphere_host_cpu", "usagemhz_average"),
            ("vsphere_host_disk", "read_summation"),
        ] {
            assert_eq!(lookup(m, f), None, "{m} {f}");
        }
    }

    #[test]
    fn every_entry_is_unique_and_shaped_as_the_receivers_metrics() {
        for (i, s) in TABLE.iter().enumerate() {
            assert!(s.name.starts_with("vcenter.host.") || s.name.starts_with("vcenter.vm."));
            assert!(
                s.measurement.starts_with("vsphere_host_") == s.name.starts_with("vcenter.host.")
            );
            assert!(matches!(s.unit, "ms" | "{KiBy/s}"), "{s:?}");
            assert!(["disk", "interface"].contains(&s.instance_tag), "{s:?}");
            assert!(
                TABLE[..i]
                    .iter()
                    .all(|o| (o.measurement, o.field) != (s.measurement, s.field)),
                "{s:?} twice"
            );
            // Fields that share a name differ by their constant attributes.
            for o in TABLE[..i].iter().filter(|o| o.name == s.name) {
                assert_ne!(o.constant, s.constant, "{s:?}");
                assert_eq!((o.unit, o.kind), (s.unit, s.kind), "{s:?}");
            }
        }
    }

    #[test]
    fn attributes_are_the_receivers() {
        let s = lookup("vsphere_vm_virtualDisk", "totalWriteLatency_average").unwrap();
        let tags = [
            ("clustername", "C0"),
            ("dcname", "DC0"),
            ("disk", "scsi0:1"),
            ("esxhostname", "esx1"),
            ("moid", "vm-1"),
            ("vmname", "web"),
        ];
        let mut got = attributes(s, &tags);
        got.sort_unstable();
        assert_eq!(
            got,
            vec![
                ("direction", "write"),
                ("disk_type", "virtual"),
                ("moid", "vm-1"),
                ("object", "scsi0:1"),
                ("vcenter.cluster.name", "C0"),
                ("vcenter.datacenter.name", "DC0"),
                ("vcenter.host.name", "esx1"),
                ("vcenter.vm.name", "web"),
            ]
        );
        let s = lookup("vsphere_host_net", "usage_average").unwrap();
        let got = attributes(s, &[("interface", "instance-total")]);
        assert_eq!(
            got,
            vec![("object", "")],
            "the aggregate is the empty instance"
        );
    }
}
