//! vSAN points in line protocol, tagged as Telegraf's `populateClusterTags` and
//! `populateCMMDSTags` tag them.
//!
//! Every point: `vcenter`, `dcname`, `clustername`, `moid` (the cluster's), `source` (the
//! cluster's name). Per entity type, from the UUID part of its `entityRefId` and the CMMDS
//! directory: disks (`-disk` or `disk-` in the type) `hostname` (the owner's),
//! `devicename`, and `ssduuid` for a capacity disk (`isSsd` 0; not for `-esa-` types);
//! `host-memory-*` `slabname` or `heapname` and `hostname`; other `host-*` types and
//! `system-mem` `hostname`; `*vnic-net` `stackname`, `vnic`, `hostname`; `*pnic-net`
//! `pnic`, `hostname`; `*world-cpu` `worldname`, `hostname`; any other type `uuid`. An
//! entity without a UUID (`*` or none) gets the cluster's tags only.

use std::collections::BTreeMap;

use super::select::{measurement, snake_case};
use crate::sink::line::{self, LineBuilder};
use crate::vsphere::vsan::{Cmmds, VsanEntityMetrics, VsanResync, VsanSpace};

/// The tags every point of a cluster carries.
#[derive(Clone, Debug, Default)]
pub struct ClusterTags {
    pub vcenter: String,
    pub dcname: String,
    pub clustername: String,
    pub moid: String,
}

impl ClusterTags {
    fn map(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("vcenter", self.vcenter.clone()),
            ("dcname", self.dcname.clone()),
            ("clustername", self.clustername.clone()),
            ("moid", self.moid.clone()),
            ("source", self.clustername.clone()),
        ])
    }
}

/// The tags of one entity, as Telegraf's `populateCMMDSTags` adds them.
pub fn entity_tags(
    cluster: &ClusterTags,
    entity_type: &str,
    uuid: &str,
    cmmds: &Cmmds,
) -> BTreeMap<&'static str, String> {
    let mut tags = Vec::new();
    tag_list(&mut tags, cluster, TypeTags::of(entity_type), uuid, cmmds);
    tags.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

/// [`entity_tags`] into `tags`, borrowed, in key order.
fn tag_list<'a>(
    tags: &mut Vec<(&'static str, &'a str)>,
    cluster: &'a ClusterTags,
    entity_type: TypeTags,
    uuid: &'a str,
    cmmds: &'a Cmmds,
) {
    tags.clear();
    tags.extend([
        ("vcenter", cluster.vcenter.as_str()),
        ("dcname", &cluster.dcname),
        ("clustername", &cluster.clustername),
        ("moid", &cluster.moid),
        ("source", &cluster.clustername),
    ]);
    if !(uuid.is_empty() || uuid == "*") {
        entity_type.tags(tags, uuid, cmmds);
    }
    tags.sort_unstable_by_key(|(k, _)| *k);
}

/// Which tags of `populateCMMDSTags` an entity type gets past the cluster's, told from its
/// name once per type (not per entity: an answer holds hundreds of each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TypeTags {
    /// `-disk` or `disk-`: the owner's `hostname`, `devicename`, and `ssduuid` for a
    /// capacity disk unless `esa`.
    Disk { esa: bool },
    /// `host-memory-*`: `slabname` or `heapname`, and `hostname`.
    HostMemory { slab: bool, heap: bool },
    /// Other `host-*` and `system-mem`: `hostname`.
    Host,
    /// `*vnic-net`: `stackname`, `vnic`, `hostname`.
    Vnic,
    /// `*pnic-net`: `pnic`, `hostname`.
    Pnic,
    /// `*world-cpu`: `worldname`, `hostname`.
    World,
    /// Any other: `uuid`.
    Uuid,
}

impl TypeTags {
    fn of(t: &str) -> Self {
        if t.contains("-disk") || t.contains("disk-") {
            TypeTags::Disk {
                esa: t.contains("-esa-"),
            }
        } else if t.contains("host-memory-") {
            TypeTags::HostMemory {
                slab: t.contains("-slab"),
                heap: t.contains("-heap"),
            }
        } else if t.contains("host-") || t.contains("system-mem") {
            TypeTags::Host
        } else if t.contains("vnic-net") {
            TypeTags::Vnic
        } else if t.contains("pnic-net") {
            TypeTags::Pnic
        } else if t.contains("world-cpu") {
            TypeTags::World
        } else {
            TypeTags::Uuid
        }
    }

    /// The tags of an entity of this type with `uuid` (the part after the type).
    fn tags<'a>(self, tags: &mut Vec<(&'static str, &'a str)>, uuid: &'a str, cmmds: &'a Cmmds) {
        let mut parts = [""; 3];
        let mut n = 0;
        for (i, p) in uuid.split('|').enumerate() {
            if i < parts.len() {
                parts[i] = p;
            }
            n = i + 1;
        }
        let hostname = |u: &str| cmmds.get(u).map(|e| e.hostname.as_str());
        let mut put = |k: &'static str, v: Option<&'a str>| {
            if let Some(v) = v {
                tags.push((k, v));
            }
        };
        match self {
            TypeTags::Disk { esa } => {
                if let Some(disk) = cmmds.get(uuid) {
                    put("hostname", hostname(&disk.owner));
                    put("devicename", Some(&disk.dev_name));
                    if !esa && disk.is_ssd == 0.0 {
                        put("ssduuid", Some(&disk.ssd_uuid));
                    }
                }
            }
            TypeTags::HostMemory { slab, heap } => {
                if slab && n > 1 {
                    put("slabname", Some(parts[1]));
                }
                if heap && n > 1 {
                    put("heapname", Some(parts[1]));
                }
                put("hostname", hostname(parts[0]));
            }
            TypeTags::Host => put("hostname", hostname(uuid)),
            TypeTags::Vnic => {
                if n > 2 {
                    put("stackname", Some(parts[1]));
                    put("vnic", Some(parts[2]));
                }
                put("hostname", hostname(parts[0]));
            }
            TypeTags::Pnic => {
                if n > 1 {
                    put("pnic", Some(parts[1]));
                }
                put("hostname", hostname(parts[0]));
            }
            TypeTags::World => {
                if n > 1 {
                    put("worldname", Some(parts[1]));
                }
                put("hostname", hostname(parts[0]));
            }
            TypeTags::Uuid => put("uuid", Some(uuid)),
        }
    }
}

/// Writes one answer's entities as points, keeping what the entities
/// of a type share: the measurement and the field names (an answer comes type after type,
/// every entity of a type with the same labels), and each entity's measurement and tags
/// written once for all its samples. Made anew per answer, it was a tenth of vSAN's cost
/// per entity (docs/benchmarks.md, "vSAN at its defaults").
pub struct PerfEncoder<'c> {
    cluster: &'c ClusterTags,
    cmmds: &'c Cmmds,
    /// The entity type of `measurement`, `type_tags` and `fields`.
    entity_type: String,
    measurement: String,
    type_tags: TypeTags,
    /// Per series of the last entity: its label and field name, escaped as a key.
    fields: Vec<(String, Vec<u8>)>,
    /// The measurement and tags of the entity being written, escaped.
    prefix: Vec<u8>,
}

impl<'c> PerfEncoder<'c> {
    pub fn new(cluster: &'c ClusterTags, cmmds: &'c Cmmds) -> Self {
        PerfEncoder {
            cluster,
            cmmds,
            entity_type: String::new(),
            measurement: String::new(),
            type_tags: TypeTags::Uuid,
            fields: Vec::new(),
            prefix: Vec::new(),
        }
    }

    /// Appends one point per sample timestamp of `e` (every sample, fields the series with
    /// a number at that time) to `out`. Returns the points written and the newest timestamp.
    pub fn entity(&mut self, out: &mut Vec<u8>, e: &VsanEntityMetrics) -> (usize, Option<i64>) {
        let (entity_type, uuid) = e.type_and_uuid();
        if self.measurement.is_empty() || entity_type != self.entity_type {
            self.entity_type.clear();
            self.entity_type.push_str(entity_type);
            self.measurement = measurement(entity_type);
            self.type_tags = TypeTags::of(entity_type);
        }
        let field = |label: &str| {
            let mut key = Vec::new();
            line::escape_key(&snake_case(label), &mut key);
            (label.to_string(), key)
        };
        self.fields.truncate(e.series.len());
        for (i, s) in e.series.iter().enumerate() {
            match self.fields.get_mut(i) {
                Some((label, _)) if *label == s.label => {}
                Some(slot) => *slot = field(&s.label),
                None => self.fields.push(field(&s.label)),
            }
        }
        self.prefix.clear();
        line::escape_measurement(&self.measurement, &mut self.prefix);
        let mut tags = Vec::with_capacity(8);
        tag_list(&mut tags, self.cluster, self.type_tags, uuid, self.cmmds);
        for (k, v) in tags {
            if !v.is_empty() {
                self.prefix.push(b',');
                line::escape_key(k, &mut self.prefix);
                self.prefix.push(b'=');
                line::escape_tag_value(v, &mut self.prefix);
            }
        }
        let (mut lines, mut newest) = (0, None);
        for (i, ts) in e.timestamps.iter().enumerate() {
            let Some(ts) = *ts else { continue };
            let start = out.len();
            out.extend_from_slice(&self.prefix);
            let mut sep = b' ';
            for (s, (_, f)) in e.series.iter().zip(&self.fields) {
                let Some(v) = s.values.get(i).copied().flatten().filter(|v| v.is_finite()) else {
                    continue;
                };
                out.push(sep);
                out.extend_from_slice(f);
                out.push(b'=');
                line::write_f64(v, out);
                sep = b',';
            }
            if sep == b' ' {
                out.truncate(start); // no field: no point
                continue;
            }
            out.push(b' ');
            line::write_timestamp(ts, out);
            out.push(b'\n');
            lines += 1;
            newest = newest.max(Some(ts));
        }
        (lines, newest)
    }
}

/// The summary of one cluster: what was asked and answered.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub space: Option<VsanSpace>,
    pub health: Option<String>,
    pub resync: Option<VsanResync>,
}

/// `vsphere_vsan_summary` at `ts`, with the fields that were answered (all integers, as
/// Telegraf writes them). Returns whether a line was written.
pub fn summary_line(out: &mut Vec<u8>, cluster: &ClusterTags, s: &Summary, ts: i64) -> bool {
    let mut b = LineBuilder::new(out, "vsphere_vsan_summary");
    for (k, v) in &cluster.map() {
        b = b.tag(k, v);
    }
    let health = s.health.as_deref().and_then(|h| match h {
        "green" => Some(0),
        "yellow" => Some(1),
        "red" => Some(2),
        _ => None,
    });
    let mut fields: Vec<(&str, i64)> = Vec::new();
    if let Some(sp) = s.space {
        fields.push(("free_capacity_byte", sp.free_capacity));
        fields.push(("total_capacity_byte", sp.total_capacity));
    }
    if let Some(h) = health {
        fields.push(("overall_health", h));
    }
    if let Some(r) = s.resync {
        fields.push(("total_bytes_to_sync", r.total_bytes_to_sync));
        fields.push(("total_objects_to_sync", r.total_objects_to_sync));
        fields.push(("total_recovery_eta", r.total_recovery_eta));
    }
    let mut it = fields.into_iter();
    let Some((k, v)) = it.next() else {
        return false;
    };
    let mut fl = b.field_i64(k, v);
    for (k, v) in it {
        fl = fl.field_i64(k, v);
    }
    fl.finish(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::vsan::{CmmdsEntry, VsanSeries};

    fn cluster() -> ClusterTags {
        ClusterTags {
            vcenter: "vc1".into(),
            dcname: "DC0".into(),
            clustername: "C 0".into(),
            moid: "domain-c7".into(),
        }
    }

    fn cmmds() -> Cmmds {
        let h = CmmdsEntry {
            owner: "h1".into(),
            hostname: "esx1".into(),
            ..Default::default()
        };
        let d = CmmdsEntry {
            owner: "h1".into(),
            dev_name: "naa.1".into(),
            is_ssd: 0.0,
            ssd_uuid: "d0".into(),
            ..Default::default()
        };
        Cmmds::from([("h1".to_string(), h), ("d1".to_string(), d)])
    }

    #[test]
    fn tags_follow_telegrafs_rules() {
        let t = |ty, u| entity_tags(&cluster(), ty, u, &cmmds());
        let disk = t("capacity-disk", "d1");
        assert_eq!(
            (
                disk["hostname"].as_str(),
                disk["devicename"].as_str(),
                disk["ssduuid"].as_str()
            ),
            ("esx1", "naa.1", "d0")
        );
        assert!(!t("vsan-esa-disk-layer", "d1").contains_key("ssduuid"));
        assert_eq!(t("host-memory-slab", "h1|LSOM")["slabname"], "LSOM");
        assert_eq!(t("vsan-host-net", "h1")["hostname"], "esx1");
        let vnic = t("vsan-vnic-net", "h1|defaultTcpipStack|vmk1");
        assert_eq!(
            (vnic["stackname"].as_str(), vnic["vnic"].as_str()),
            ("defaultTcpipStack", "vmk1")
        );
        assert_eq!(t("lsom-world-cpu", "h1|w")["worldname"], "w");
        assert_eq!(t("virtual-machine", "vm-u")["uuid"], "vm-u");
        assert_eq!(t("cluster-domclient", "*").len(), 5);
        assert_eq!(t("host-domclient", "h1")["source"], "C 0");
    }

    #[test]
    fn one_point_per_sample_with_its_fields() {
        let e = VsanEntityMetrics {
            entity_ref_id: "host-domclient:h1".into(),
            timestamps: vec![Some(100), None, Some(400)],
            series: vec![
                VsanSeries {
                    label: "iopsRead".into(),
                    values: vec![Some(1.0), Some(2.0), None],
                },
                VsanSeries {
                    label: "latencyAvgRead".into(),
                    values: vec![Some(0.5), Some(1.0), Some(3.0)],
                },
            ],
        };
        let mut out = Vec::new();
        let (c, d) = (cluster(), cmmds());
        assert_eq!(
            PerfEncoder::new(&c, &d).entity(&mut out, &e),
            (2, Some(400))
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "vsphere_vsan_performance_hostdomclient,clustername=C\\ 0,dcname=DC0,hostname=esx1,moid=domain-c7,source=C\\ 0,vcenter=vc1 iops_read=1.0,latency_avg_read=0.5 100\n\
             vsphere_vsan_performance_hostdomclient,clustername=C\\ 0,dcname=DC0,hostname=esx1,moid=domain-c7,source=C\\ 0,vcenter=vc1 latency_avg_read=3.0 400\n"
        );
        let mut out = Vec::new();
        let s = Summary {
            health: Some("red".into()),
            ..Default::default()
        };
        assert!(summary_line(&mut out, &cluster(), &s, 5));
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with(" overall_health=2i 5\n"));
    }

    #[test]
    fn one_encoder_for_an_answer_writes_what_one_per_entity_writes() {
        let entity = |id: &str, labels: &[&str]| VsanEntityMetrics {
            entity_ref_id: id.into(),
            timestamps: vec![Some(100), Some(400)],
            series: labels
                .iter()
                .map(|l| VsanSeries {
                    label: l.to_string(),
                    values: vec![Some(1.5), None],
                })
                .collect(),
        };
        let answer = [
            entity("host-domclient:h1", &["iopsRead", "latencyAvgRead"]),
            entity("host-domclient:h2", &["iopsRead", "latencyAvgRead"]),
            entity("host-domclient:h3", &["latencyAvgRead"]),
            entity("capacity-disk:d1", &["capacityUsed", "iopsRead", "x y"]),
            entity("virtual-machine:vm-u", &["iopsRead"]),
            entity("cluster-domclient:*", &["iopsRead", "latencyAvgRead"]),
        ];
        let (c, d) = (cluster(), cmmds());
        let mut one = PerfEncoder::new(&c, &d);
        let (mut shared, mut fresh) = (Vec::new(), Vec::new());
        for e in &answer {
            let a = one.entity(&mut shared, e);
            let b = PerfEncoder::new(&c, &d).entity(&mut fresh, e);
            assert_eq!(a, b, "{}", e.entity_ref_id);
        }
        assert_eq!(String::from_utf8(shared), String::from_utf8(fresh));
    }
}
