//! Turns QueryPerf answers into Telegraf-compatible InfluxDB line protocol.
//!
//! The schema is Telegraf's vsphere input, so existing dashboards work unchanged:
//! measurement `vsphere_<kind>_<group>`, field `<name>_<rollup>` (dots become `_`), one line
//! per (group, instance, sample timestamp) holding every counter of that group, the
//! instance under Telegraf's per-group tag key (`cpu`, `disk`, `interface` …) with
//! `instance-total` for the aggregate, and percent counters divided by 100.
//!
//! This is the hot path: nothing here allocates per sample. Tag strings are escaped once
//! per entity (at discovery) and once per series run, then copied.

use std::collections::HashMap;

use crate::sink::line;
use crate::vsphere::{CounterCatalog, Entity, EntityKind, EntityMetrics};

/// How one counter is written.
#[derive(Debug, Clone)]
struct FieldInfo {
    /// Index into `Encoder::groups` (the counter group decides measurement and tag key).
    group: u16,
    /// The escaped field key, e.g. `usage_average`.
    field: Box<[u8]>,
    /// `percent` counters are hundredths of a percent on the wire; Telegraf divides by 100.
    percent: bool,
}

#[derive(Debug, Clone)]
struct GroupInfo {
    /// Escaped measurement per kind: `vsphere_vm_cpu`, `vsphere_host_cpu`.
    measurement: [Box<[u8]>; 2],
    /// Telegraf's instance tag key for this group.
    tag_key: &'static str,
}

/// What one call to [`Encoder::encode`] produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    pub lines: usize,
    /// Values written (one per field).
    pub samples: u64,
    /// The newest sample timestamp written, if any.
    pub newest: Option<i64>,
}

/// Encodes the samples of one vCenter with its counter catalogue.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// Counter id → index into `field_list`.
    fields: HashMap<i32, u32>,
    field_list: Vec<FieldInfo>,
    groups: Vec<GroupInfo>,
    /// Scratch: the series with a known counter, sorted by (group, instance), each with its
    /// field resolved once per call (not once per value); reused across calls.
    order: Vec<Slot>,
    /// Scratch: the escaped instance tag of the current run.
    instance: Vec<u8>,
}

/// One series of the entity being encoded, with its counter's field.
#[derive(Debug, Clone, Copy)]
struct Slot {
    group: u16,
    series: u32,
    field: u32,
}

/// Telegraf's tag key for the instance of a counter group (`instance-total` when empty).
pub fn instance_tag_key(group: &str, name: &str) -> &'static str {
    match group {
        "cpu" => "cpu",
        "datastore" => "lun",
        "disk" | "virtualDisk" => "disk",
        "net" => "interface",
        "storageAdapter" => "adapter",
        "storagePath" => "path",
        "sys" if name.starts_with("resource") => "resource",
        "vflashModule" => "module",
        _ => "instance",
    }
}

impl Encoder {
    /// Prepares the field and measurement names of every counter in the catalogue.
    pub fn new(catalog: &CounterCatalog, counter_ids: impl IntoIterator<Item = i32>) -> Encoder {
        let mut enc = Encoder {
            fields: HashMap::new(),
            field_list: Vec::new(),
            groups: Vec::new(),
            order: Vec::new(),
            instance: Vec::new(),
        };
        let mut group_index: HashMap<String, u16> = HashMap::new();
        for id in counter_ids {
            let Some(c) = catalog.by_key(id) else {
                continue;
            };
            let next = enc.groups.len() as u16;
            let group = *group_index.entry(c.group.clone()).or_insert_with(|| {
                let m = |kind: EntityKind| {
                    let mut b = Vec::new();
                    line::escape_measurement(
                        &format!("vsphere_{}_{}", kind.as_str(), c.group),
                        &mut b,
                    );
                    b.into_boxed_slice()
                };
                enc.groups.push(GroupInfo {
                    measurement: EntityKind::ALL.map(m),
                    tag_key: instance_tag_key(&c.group, &c.name),
                });
                next
            });
            let mut field = Vec::new();
            line::escape_key(
                &format!("{}_{}", c.name.replace('.', "_"), c.rollup),
                &mut field,
            );
            let info = FieldInfo {
                group,
                field: field.into_boxed_slice(),
                percent: c.unit == "percent",
            };
            match enc.fields.get(&id) {
                Some(&i) => enc.field_list[i as usize] = info,
                None => {
                    enc.fields.insert(id, enc.field_list.len() as u32);
                    enc.field_list.push(info);
                }
            }
        }
        enc
    }

    /// Appends the lines for `m`, skipping samples at or before `after` (vCenter's window
    /// excludes its start; the simulator does not) and values below 0 (no data).
    /// `tags` is the entity's escaped tag set from [`entity_tags`], starting with a comma.
    pub fn encode(
        &mut self,
        kind: EntityKind,
        tags: &[u8],
        m: &EntityMetrics,
        after: i64,
        out: &mut Vec<u8>,
    ) -> Encoded {
        let mut res = Encoded::default();
        let kind_idx = kind.index();
        self.order.clear();
        for (i, s) in m.series.iter().enumerate() {
            if let Some(&f) = self.fields.get(&s.counter_id) {
                self.order.push(Slot {
                    group: self.field_list[f as usize].group,
                    series: i as u32,
                    field: f,
                });
            }
        }
        let fields = &self.field_list;
        let series = &m.series;
        // Ties (the same counter twice) keep the order of the answer.
        self.order.sort_unstable_by(|a, b| {
            a.group
                .cmp(&b.group)
                .then_with(|| {
                    series[a.series as usize]
                        .instance
                        .cmp(&series[b.series as usize].instance)
                })
                .then(a.series.cmp(&b.series))
        });

        let mut run_start = 0;
        while run_start < self.order.len() {
            let first = &series[self.order[run_start].series as usize];
            let group = self.order[run_start].group;
            let mut run_end = run_start + 1;
            while run_end < self.order.len() {
                let o = self.order[run_end];
                if o.group != group || series[o.series as usize].instance != first.instance {
                    break;
                }
                run_end += 1;
            }
            let g = &self.groups[group as usize];
            self.instance.clear();
            self.instance.push(b',');
            self.instance.extend_from_slice(g.tag_key.as_bytes());
            self.instance.push(b'=');
            if first.instance.is_empty() {
                self.instance.extend_from_slice(b"instance-total");
            } else {
                line::escape_tag_value(&first.instance, &mut self.instance);
            }

            for (t, &ts) in m.timestamps.iter().enumerate() {
                if ts <= after {
                    continue;
                }
                let line_start = out.len();
                out.extend_from_slice(&g.measurement[kind_idx]);
                out.extend_from_slice(tags);
                out.extend_from_slice(&self.instance);
                let mut sep = b' ';
                let mut written = 0u64;
                for o in &self.order[run_start..run_end] {
                    let Some(&v) = series[o.series as usize].values.get(t) else {
                        continue;
                    };
                    if v < 0 {
                        continue;
                    }
                    let f = &fields[o.field as usize];
                    out.push(sep);
                    sep = b',';
                    out.extend_from_slice(&f.field);
                    out.push(b'=');
                    if f.percent {
                        line::write_f64(v as f64 / 100.0, out);
                    } else {
                        line::write_i64(v, out);
                    }
                    written += 1;
                }
                if written == 0 {
                    out.truncate(line_start);
                    continue;
                }
                out.push(b' ');
                line::write_timestamp(ts, out);
                out.push(b'\n');
                res.lines += 1;
                res.samples += written;
                res.newest = Some(res.newest.map_or(ts, |n| n.max(ts)));
            }
            run_start = run_end;
        }
        res
    }
}

/// The escaped tag set of one entity, in key order, starting with a comma:
/// `,clustername=…,dcname=…,esxhostname=…,guest=…,moid=…,source=…,uuid=…,vcenter=…,vmname=…`.
/// Missing values are left out (InfluxDB refuses empty tag values).
pub fn entity_tags(vcenter: &str, e: &Entity) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let name_key = match e.kind {
        EntityKind::Vm => "vmname",
        EntityKind::Host => "esxhostname",
    };
    let esxhostname = match e.kind {
        EntityKind::Vm => e.esxhostname.as_deref(),
        EntityKind::Host => Some(e.name.as_str()),
    };
    let vm = e.kind == EntityKind::Vm;
    let mut tags: Vec<(&str, Option<&str>)> = vec![
        ("clustername", e.clustername.as_deref()),
        ("dcname", e.dcname.as_deref()),
        ("esxhostname", esxhostname),
        ("guest", e.guest.as_deref().filter(|_| vm)),
        ("moid", Some(e.moid.as_str())),
        ("source", Some(e.name.as_str())),
        ("uuid", e.uuid.as_deref().filter(|_| vm)),
        ("vcenter", Some(vcenter)),
    ];
    if name_key == "vmname" {
        tags.push(("vmname", Some(e.name.as_str())));
    }
    for (k, v) in tags {
        let Some(v) = v.filter(|v| !v.is_empty()) else {
            continue;
        };
        out.push(b',');
        line::escape_key(k, &mut out);
        out.push(b'=');
        line::escape_tag_value(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests;
