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
use crate::sink::line::LineBuilder;
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
    let mut tags = cluster.map();
    if uuid.is_empty() || uuid == "*" {
        return tags;
    }
    let parts: Vec<&str> = uuid.split('|').collect();
    let hostname = |u: &str| cmmds.get(u).map(|e| e.hostname.clone());
    let put = |tags: &mut BTreeMap<&'static str, String>, k, v: Option<String>| {
        if let Some(v) = v {
            tags.insert(k, v);
        }
    };
    let part = |i: usize| parts.get(i).map(|s| s.to_string());
    if entity_type.contains("-disk") || entity_type.contains("disk-") {
        if let Some(disk) = cmmds.get(uuid) {
            put(&mut tags, "hostname", hostname(&disk.owner));
            tags.insert("devicename", disk.dev_name.clone());
            if !entity_type.contains("-esa-") && disk.is_ssd == 0.0 {
                tags.insert("ssduuid", disk.ssd_uuid.clone());
            }
        }
    } else if entity_type.contains("host-memory-") {
        if entity_type.contains("-slab") && parts.len() > 1 {
            put(&mut tags, "slabname", part(1));
        }
        if entity_type.contains("-heap") && parts.len() > 1 {
            put(&mut tags, "heapname", part(1));
        }
        put(&mut tags, "hostname", hostname(parts[0]));
    } else if entity_type.contains("host-") || entity_type.contains("system-mem") {
        put(&mut tags, "hostname", hostname(uuid));
    } else if entity_type.contains("vnic-net") {
        if parts.len() > 2 {
            put(&mut tags, "stackname", part(1));
            put(&mut tags, "vnic", part(2));
        }
        put(&mut tags, "hostname", hostname(parts[0]));
    } else if entity_type.contains("pnic-net") {
        if parts.len() > 1 {
            put(&mut tags, "pnic", part(1));
        }
        put(&mut tags, "hostname", hostname(parts[0]));
    } else if entity_type.contains("world-cpu") {
        if parts.len() > 1 {
            put(&mut tags, "worldname", part(1));
        }
        put(&mut tags, "hostname", hostname(parts[0]));
    } else {
        tags.insert("uuid", uuid.to_string());
    }
    tags
}

/// Appends one point per sample timestamp of `e` (every sample, fields the series with a
/// number at that time) to `out`. Returns the points written and the newest timestamp.
pub fn perf_lines(
    out: &mut Vec<u8>,
    cluster: &ClusterTags,
    e: &VsanEntityMetrics,
    cmmds: &Cmmds,
) -> (usize, Option<i64>) {
    let (entity_type, uuid) = e.type_and_uuid();
    let m = measurement(entity_type);
    let tags = entity_tags(cluster, entity_type, uuid, cmmds);
    let fields: Vec<String> = e.series.iter().map(|s| snake_case(&s.label)).collect();
    let (mut lines, mut newest) = (0, None);
    for (i, ts) in e.timestamps.iter().enumerate() {
        let Some(ts) = *ts else { continue };
        let mut b = LineBuilder::new(out, &m);
        for (k, v) in &tags {
            b = b.tag(k, v);
        }
        let mut values = e
            .series
            .iter()
            .zip(&fields)
            .filter_map(|(s, f)| Some((f, s.values.get(i).copied().flatten()?)));
        let Some((f, v)) = values.next() else {
            continue;
        };
        let mut fl = b.field_f64(f, v);
        for (f, v) in values {
            fl = fl.field_f64(f, v);
        }
        if fl.finish(ts) {
            lines += 1;
            newest = newest.max(Some(ts));
        }
    }
    (lines, newest)
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
        assert_eq!(
            perf_lines(&mut out, &cluster(), &e, &cmmds()),
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
}
