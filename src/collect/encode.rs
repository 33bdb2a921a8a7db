//! Turns QueryPerf answers into Telegraf-compatible InfluxDB line protocol.
//!
//! The schema is Telegraf's vsphere input, so existing dashboards work unchanged:
//! measurement `vsphere_<kind>_<group>`, field `<name>_<rollup>` (dots become `_`), one line
//! per (group, instance, sample timestamp) holding every counter of that group, and percent
//! counters divided by 100. The instance tag follows Telegraf's `populateTags` exactly (see
//! [`InstanceTag`]): groups with their own key (`cpu`, `disk`, `interface` …) write
//! `instance-total` for the aggregate; every other group (mem, sys, power, rescpu …) writes
//! no instance tag on the aggregate and `instance=<value>` otherwise. VM lines also carry
//! Telegraf's string fields `memorySizeMB` and `memoryReservation` (docs/compatibility.md).
//!
//! This is the hot path: nothing here allocates per sample. Tag strings are escaped once
//! per entity (at discovery) and once per series run, then copied.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::configured_counters::Reported;
use super::tags::{self, ExtraTags};
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
    measurement: [Box<[u8]>; EntityKind::COUNT],
    /// How Telegraf tags the instance of this group's counters.
    tag: InstanceTag,
}

/// How Telegraf's `populateTags` writes a counter's instance, chosen by the counter's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceTag {
    /// Always written under this key; the aggregate (`""`) as `instance-total`.
    Key(&'static str),
    /// `disk.*`: key `disk`, with an enclosing `<>` stripped (Telegraf's `cleanDiskTag`).
    Disk,
    /// `datastore.*`: `lun=<instance>` plus `dsname`, the datastore whose `info.url` ends in
    /// the instance (the instance itself when none does).
    Datastore,
    /// Every other group: `instance=<value>` only when the instance is not empty.
    Optional,
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
    /// Counter id → index into `field_list`; looked up once per series, so foldhash, not
    /// SipHash (the keys are the catalogue's counter ids).
    fields: HashMap<i32, u32, foldhash::fast::RandomState>,
    field_list: Vec<FieldInfo>,
    groups: Vec<GroupInfo>,
    /// Datastore name by LUN id (Telegraf's `lun2ds`), for the `dsname` tag.
    datastores: Arc<HashMap<String, String>>,
    /// Marks each counter an answer held (see [`Encoder::reporting_to`]).
    reported: Option<Reported>,
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
    /// The instance's first 8 bytes, big-endian (zero-padded) and its length: ordering by
    /// them is ordering by the instance, with no string comparison for instances of at most
    /// 8 bytes (nearly all: "", "0", "vmnic1", "scsi0:0"). The encoder sorts every entity's
    /// series, so this is on the hot path.
    prefix: u64,
    len: u32,
}

impl Slot {
    fn new(group: u16, series: u32, field: u32, instance: &str) -> Slot {
        let b = instance.as_bytes();
        let mut head = [0u8; 8];
        let n = b.len().min(8);
        head[..n].copy_from_slice(&b[..n]);
        Slot {
            group,
            series,
            field,
            prefix: u64::from_be_bytes(head),
            len: b.len().min(u32::MAX as usize) as u32,
        }
    }

    /// Orders by group, then instance (lexicographically), then position in the answer.
    fn cmp(&self, other: &Slot, m: &EntityMetrics) -> std::cmp::Ordering {
        self.group
            .cmp(&other.group)
            .then(self.prefix.cmp(&other.prefix))
            .then_with(|| self.cmp_rest(other, m))
            .then(self.series.cmp(&other.series))
    }

    /// The instances past their first 8 bytes (equal prefixes).
    fn cmp_rest(&self, other: &Slot, m: &EntityMetrics) -> std::cmp::Ordering {
        if self.len <= 8 && other.len <= 8 {
            return self.len.cmp(&other.len);
        }
        let a = m.series_at(self.series as usize).instance;
        let b = m.series_at(other.series as usize).instance;
        a.cmp(b)
    }

    /// Same group and instance.
    fn same_line(&self, other: &Slot, m: &EntityMetrics) -> bool {
        self.group == other.group && self.prefix == other.prefix && self.cmp_rest(other, m).is_eq()
    }
}

/// How Telegraf tags the instance of counter `group.name.*` (its `populateTags` prefixes).
pub fn instance_tag(group: &str, name: &str) -> InstanceTag {
    match group {
        "cpu" => InstanceTag::Key("cpu"),
        "datastore" => InstanceTag::Datastore,
        "disk" => InstanceTag::Disk,
        "virtualDisk" => InstanceTag::Key("disk"),
        "net" => InstanceTag::Key("interface"),
        "storageAdapter" => InstanceTag::Key("adapter"),
        "storagePath" => InstanceTag::Key("path"),
        "sys" if name.starts_with("resource") => InstanceTag::Key("resource"),
        "vflashModule" => InstanceTag::Key("module"),
        _ => InstanceTag::Optional,
    }
}

/// Telegraf's tag key for the instance of a counter group; `instance` for the groups whose
/// aggregate has no instance tag at all.
pub fn instance_tag_key(group: &str, name: &str) -> &'static str {
    match instance_tag(group, name) {
        InstanceTag::Key(k) => k,
        InstanceTag::Disk => "disk",
        InstanceTag::Datastore => "lun",
        InstanceTag::Optional => "instance",
    }
}

/// Writes the instance tag(s) of one run, starting with a comma (or nothing).
fn write_instance(
    tag: InstanceTag,
    instance: &str,
    datastores: &HashMap<String, String>,
    out: &mut Vec<u8>,
) {
    let value = if instance.is_empty() {
        "instance-total"
    } else {
        instance
    };
    let put = |key: &str, v: &str, out: &mut Vec<u8>| {
        out.push(b',');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        line::escape_tag_value(v, out);
    };
    match tag {
        InstanceTag::Key(k) => put(k, value, out),
        InstanceTag::Disk => {
            let v = value.strip_prefix('<').unwrap_or(value);
            put("disk", v.strip_suffix('>').unwrap_or(v), out);
        }
        InstanceTag::Datastore => {
            let ds = datastores.get(value).map_or(value, String::as_str);
            put("dsname", ds, out);
            put("lun", value, out);
        }
        InstanceTag::Optional if instance.is_empty() => {}
        InstanceTag::Optional => put("instance", instance, out),
    }
}

impl Encoder {
    /// Prepares the field and measurement names of every counter in the catalogue.
    pub fn new(catalog: &CounterCatalog, counter_ids: impl IntoIterator<Item = i32>) -> Encoder {
        let mut enc = Encoder {
            fields: HashMap::default(),
            field_list: Vec::new(),
            groups: Vec::new(),
            datastores: Arc::default(),
            reported: None,
            order: Vec::new(),
            instance: Vec::new(),
        };
        // sys.resource* and the other sys counters share a measurement but not the instance
        // rule, so a group here is (counter group, rule).
        let mut group_index: HashMap<(String, InstanceTag), u16> = HashMap::new();
        for id in counter_ids {
            let Some(c) = catalog.by_key(id) else {
                continue;
            };
            let next = enc.groups.len() as u16;
            let tag = instance_tag(&c.group, &c.name);
            let key = (c.group.clone(), tag);
            let group = *group_index.entry(key).or_insert_with(|| {
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
                    tag,
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

    /// The datastore names `datastore.*` instances map to (from the inventory).
    pub fn with_datastores(mut self, datastores: Arc<HashMap<String, String>>) -> Encoder {
        self.datastores = datastores;
        self
    }

    /// Fills `order` with the series of `m` that have a known counter (unsorted), and marks
    /// the counters that hold a value as reported.
    fn slots(&mut self, m: &EntityMetrics) {
        self.order.clear();
        for (i, s) in m.series().enumerate() {
            // An empty series (only -1: no data) is what a counter above vCenter's
            // statistics level gives: not reported.
            if let Some(r) = self.reported.as_ref() {
                if s.values.iter().any(|v| *v >= 0) {
                    r.mark(s.counter_id);
                }
            }
            if let Some(&f) = self.fields.get(&s.counter_id) {
                let group = self.field_list[f as usize].group;
                self.order.push(Slot::new(group, i as u32, f, s.instance));
            }
        }
    }

    /// Marks in `reported` every counter the encoded answers hold, so that the collector can
    /// say which asked counters no entity reported.
    pub fn reporting_to(mut self, reported: Reported) -> Encoder {
        self.reported = Some(reported);
        self
    }

    /// Appends the lines for `m`, skipping samples at or before `after` (vCenter's window
    /// excludes its start; the simulator does not) and values below 0 (no data).
    /// `entity` holds the entity's escaped tags and extra fields ([`EntityLine::new`]).
    pub fn encode(
        &mut self,
        kind: EntityKind,
        entity: &EntityLine,
        m: &EntityMetrics,
        after: i64,
        out: &mut Vec<u8>,
    ) -> Encoded {
        let mut res = Encoded::default();
        let extra = &entity.fields[..];
        let kind_idx = kind.index();
        self.slots(m);
        let fields = &self.field_list;
        // Ties (the same counter twice) keep the order of the answer.
        self.order.sort_unstable_by(|a, b| a.cmp(b, m));

        let mut run_start = 0;
        while run_start < self.order.len() {
            let head = self.order[run_start];
            let first = m.series_at(head.series as usize);
            let group = head.group;
            let mut run_end = run_start + 1;
            while run_end < self.order.len() && self.order[run_end].same_line(&head, m) {
                run_end += 1;
            }
            let g = &self.groups[group as usize];
            let tags = entity.tags_for(g.tag);
            self.instance.clear();
            write_instance(g.tag, first.instance, &self.datastores, &mut self.instance);
            if g.tag == InstanceTag::Key("interface") {
                if let Some((_, t)) = entity.nics.iter().find(|(i, _)| *i == first.instance) {
                    self.instance.extend_from_slice(t);
                }
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
                    let Some(&v) = m.series_at(o.series as usize).values.get(t) else {
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
                out.extend_from_slice(extra);
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

/// The part of every line that belongs to one entity, escaped once at discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityLine {
    /// [`entity_tags`]: starts with a comma.
    pub tags: Vec<u8>,
    /// [`entity_fields`]: empty, or starts with a comma.
    pub fields: Vec<u8>,
    /// A datastore's tags without `dsname` (see [`EntityLine::tags_for`]); empty otherwise.
    pub tags_without_dsname: Vec<u8>,
    /// A VM's NIC address tags by `net` instance ([`tags::nic_tags`]), written after the
    /// `interface` tag.
    pub nics: Vec<(String, Vec<u8>)>,
}

impl EntityLine {
    /// Telegraf's default tags and fields, without any configured extra.
    pub fn new(vcenter: &str, e: &Entity) -> EntityLine {
        EntityLine::with_extras(vcenter, e, &ExtraTags::default())
    }

    /// With the extra tags and fields `x` selects from the entity's extras.
    pub fn with_extras(vcenter: &str, e: &Entity, x: &ExtraTags) -> EntityLine {
        let extra = tags::extra_tags(e, x);
        let mut fields = entity_fields(e);
        tags::extra_fields(e, &mut fields);
        EntityLine {
            tags: tags_except(vcenter, e, "", &extra),
            fields,
            tags_without_dsname: match e.kind {
                EntityKind::Datastore => tags_except(vcenter, e, "dsname", &extra),
                _ => Vec::new(),
            },
            nics: tags::nic_tags(e, x),
        }
    }

    /// The entity's tags for a series whose instance is tagged `tag`. A datastore's
    /// `datastore.*` series get `dsname` from their instance (Telegraf's populateTags sets
    /// it after the datastore's own name, which it replaces): the entity's `dsname` is left
    /// out there, or InfluxDB would refuse the line for a duplicate tag.
    fn tags_for(&self, tag: InstanceTag) -> &[u8] {
        match tag {
            InstanceTag::Datastore if !self.tags_without_dsname.is_empty() => {
                &self.tags_without_dsname
            }
            _ => &self.tags,
        }
    }
}

pub use super::tags::RESERVED_TAGS;

/// Telegraf's VM "global fields" (≥ 1.33), added to every line of a VM: `memorySizeMB` and
/// `memoryReservation`, **string**-typed as Telegraf writes them (`strconv.Itoa`), each only
/// when not zero. Starts with a comma; empty for hosts.
pub fn entity_fields(e: &Entity) -> Vec<u8> {
    let mut out = Vec::new();
    if e.kind != EntityKind::Vm {
        return out;
    }
    for (key, v) in [
        ("memorySizeMB", e.memory_size_mb),
        ("memoryReservation", e.memory_reservation),
    ] {
        if let Some(v) = v.filter(|v| *v != 0) {
            out.extend_from_slice(format!(",{key}=\"{v}\"").as_bytes());
        }
    }
    out
}

/// The tag that carries an entity's own name (Telegraf's `pKey` of the kind).
pub fn name_tag(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Vm => "vmname",
        EntityKind::Host => "esxhostname",
        EntityKind::Cluster => "clustername",
        EntityKind::Datastore => "dsname",
        EntityKind::Datacenter => "dcname",
        EntityKind::ResourcePool => "rpname",
        EntityKind::Vsan => "clustername",
    }
}

/// The escaped tag set of one entity, in key order, starting with a comma:
/// `,clustername=…,dcname=…,esxhostname=…,guest=…,guesthostname=…,moid=…,rpname=…,source=…,
/// uuid=…,vcenter=…,vmname=…` (Telegraf's populateTags). The entity's own name goes under its
/// kind's [`name_tag`]; the parents' names as Telegraf sets them: a VM's host and cluster, a
/// host's or a resource pool's cluster, everyone's datacenter. `guest*` and `uuid` are VM
/// tags. Missing values are left out (InfluxDB refuses empty tag values).
pub fn entity_tags(vcenter: &str, e: &Entity) -> Vec<u8> {
    tags_except(vcenter, e, "", &[])
}

/// [`entity_tags`] with `extra` (key, value) tags merged in key order. An extra tag whose
/// key is [reserved](RESERVED_TAGS) or already taken by an earlier extra is left out.
pub fn entity_tags_with(vcenter: &str, e: &Entity, extra: &[(&str, Cow<'_, str>)]) -> Vec<u8> {
    tags_except(vcenter, e, "", extra)
}

/// [`entity_tags_with`] without the tag `skip`.
fn tags_except(vcenter: &str, e: &Entity, skip: &str, extra: &[(&str, Cow<'_, str>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let vm = e.kind == EntityKind::Vm;
    let mut tags: Vec<(&str, Option<&str>)> = vec![
        ("clustername", e.clustername.as_deref()),
        ("dcname", e.dcname.as_deref()),
        ("esxhostname", e.esxhostname.as_deref().filter(|_| vm)),
        ("guest", e.guest.as_deref().filter(|_| vm)),
        ("guesthostname", e.guesthostname.as_deref().filter(|_| vm)),
        ("moid", Some(e.moid.as_str())),
        ("rpname", e.rpname.as_deref().filter(|_| vm)),
        ("source", Some(e.name.as_str())),
        ("uuid", e.uuid.as_deref().filter(|_| vm)),
        ("vcenter", Some(vcenter)),
    ];
    let own = name_tag(e.kind);
    match tags.iter_mut().find(|(k, _)| *k == own) {
        Some(slot) => slot.1 = Some(e.name.as_str()),
        None => tags.push((own, Some(e.name.as_str()))),
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in extra {
        if !RESERVED_TAGS.contains(k) && seen.insert(*k) {
            tags.push((k, Some(v.as_ref())));
        }
    }
    tags.sort_by_key(|(k, _)| *k);
    for (k, v) in tags.into_iter().filter(|(k, _)| *k != skip) {
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
