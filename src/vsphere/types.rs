//! Plain data shared by the vSphere client and the collector. Nothing here does I/O.

use std::collections::HashMap;
use std::sync::Arc;

pub use crate::contract::EntityKind;

/// The vSphere side of an entity kind: its managed-object type.
impl EntityKind {
    /// The vSphere managed-object type (`type` attribute of a MoRef).
    pub fn vim_type(self) -> &'static str {
        match self {
            EntityKind::Vm => "VirtualMachine",
            EntityKind::Host => "HostSystem",
            EntityKind::Cluster => "ClusterComputeResource",
            EntityKind::Datastore => "Datastore",
            EntityKind::Datacenter => "Datacenter",
            EntityKind::ResourcePool => "ResourcePool",
            EntityKind::Vsan => "ClusterComputeResource",
        }
    }

    pub fn from_vim_type(t: &str) -> Option<Self> {
        EntityKind::ALL.into_iter().find(|k| k.vim_type() == t)
    }
}

/// One entity from the inventory (VM, host, cluster, datastore …), with everything the
/// output tags need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    /// The managed object id, e.g. `vm-42` (the `moid` tag).
    pub moid: String,
    /// The entity's name (the `vmname` / `esxhostname` and `source` tags).
    pub name: String,
    pub dcname: Option<String>,
    pub clustername: Option<String>,
    /// For a VM, the name of the host it runs on; for a host, its own name.
    pub esxhostname: Option<String>,
    /// `config.uuid` of a VM.
    pub uuid: Option<String>,
    /// `guest.guestId`, else `config.guestId`, of a VM, without the `Guest` suffix
    /// (`unknown` when the VM has no config, as Telegraf writes it).
    pub guest: Option<String>,
    /// `guest.hostName` of a VM (the `guesthostname` tag).
    pub guesthostname: Option<String>,
    /// The name of a VM's resource pool (the `rpname` tag).
    pub rpname: Option<String>,
    /// `summary.config.memorySizeMB` of a VM (Telegraf's `memorySizeMB` field).
    pub memory_size_mb: Option<i64>,
    /// `summary.config.memoryReservation` of a VM, MB (Telegraf's `memoryReservation` field).
    pub memory_reservation: Option<i64>,
    /// A VM that is powered on, or a host that is connected: only those are queried.
    pub active: bool,
    /// Custom attributes, extra properties and NIC addresses, read only when asked for
    /// ([`ExtraSpec`]); empty otherwise.
    pub extras: Extras,
}

impl Entity {
    /// An active entity with only its kind, id and name: the parents' names, the VM fields
    /// and the extras empty, to be filled in by who knows them.
    pub fn new(kind: EntityKind, moid: impl Into<String>, name: impl Into<String>) -> Entity {
        Entity {
            kind,
            moid: moid.into(),
            name: name.into(),
            dcname: None,
            clustername: None,
            esxhostname: None,
            uuid: None,
            guest: None,
            guesthostname: None,
            rpname: None,
            memory_size_mb: None,
            memory_reservation: None,
            active: true,
            extras: Extras::default(),
        }
    }
}

/// What discovery reads beyond the fixed tags, in the same retrieval. The default reads
/// nothing more: each extra path costs vCenter work for every object of its type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraSpec {
    /// Read the custom attribute definitions (`CustomFieldsManager.field`) and every
    /// entity's `customValue`.
    pub custom_attributes: bool,
    /// Read every VM's `guest.net` (its NICs' addresses).
    pub guest_net: bool,
    /// Extra managed-object property paths per kind (`runtime.powerState`, …).
    pub properties: HashMap<EntityKind, Vec<String>>,
    /// Read every entity's `triggeredAlarmState`, and the names of the alarms in it.
    pub alarms: bool,
}

impl ExtraSpec {
    /// The extra property paths of `kind` (none when not configured).
    pub fn properties_of(&self, kind: EntityKind) -> &[String] {
        self.properties.get(&kind).map_or(&[], Vec::as_slice)
    }
}

/// An entity's extras, as vCenter holds them; the collector chooses what to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// (name, value) of every custom attribute set on the entity (empty values left out),
    /// in vCenter's order.
    pub attributes: Vec<(String, String)>,
    /// (path, value) of each configured property the entity has, in configuration order.
    /// Properties that are unset, or not a single value (a data object, an array), are left
    /// out.
    pub properties: Vec<(String, PropertyValue)>,
    /// A VM's guest NICs that are backed by a device, with their addresses.
    pub nics: Vec<NicAddresses>,
    /// (category, value) of the vSphere tags of the selected categories attached to the
    /// entity, several tags of one category joined in one value; filled in at discovery
    /// from the tagging service (`tag_categories_include`).
    pub vsphere_tags: Vec<(String, String)>,
    /// The alarms triggered on the entity (`triggeredAlarmState`), when asked for.
    pub alarms: Vec<TriggeredAlarm>,
}

/// One `AlarmState` of an entity's `triggeredAlarmState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggeredAlarm {
    /// The alarm's moid (`alarm-12`).
    pub alarm: String,
    /// Its `info.name`; the moid when the alarm could not be read.
    pub name: String,
    /// `overallStatus`: `gray`, `green`, `yellow` or `red`.
    pub status: String,
    pub acknowledged: bool,
}

/// A property's value, typed by the `xsi:type` vCenter sent.
#[derive(Clone, Debug)]
pub enum PropertyValue {
    /// Strings, enumerations (`poweredOn`), dates, object references: anything else.
    Text(String),
    /// `xsd:boolean`.
    Bool(bool),
    /// `xsd:int`, `xsd:long`, `xsd:short`, `xsd:byte`.
    Int(i64),
    /// `xsd:double`, `xsd:float`.
    Float(f64),
}

/// Bitwise for floats, so that a value equals itself (NaN included) and `Eq` holds.
impl PartialEq for PropertyValue {
    fn eq(&self, other: &Self) -> bool {
        use PropertyValue::*;
        match (self, other) {
            (Text(a), Text(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for PropertyValue {}

/// The addresses of one guest NIC, classified and ordered as Telegraf does: the
/// `preferred` ones first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NicAddresses {
    /// The NIC's device key (`deviceConfigId`, e.g. `4000`): the instance of the VM's
    /// `net.*` series.
    pub instance: String,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
}

/// What one inventory pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub entities: Vec<Entity>,
    /// Datastore name by the last path segment of its `info.url`
    /// (`ds:///vmfs/volumes/5f1b…/` → `5f1b…`): the instance of `datastore.*` counters.
    /// Telegraf writes this name as the `dsname` tag next to `lun`.
    pub datastores: HashMap<String, String>,
    /// Every inventory path of every entity (`/DC0/vm/web`; a VM has several), by moid:
    /// what `<kind>_include` / `<kind>_exclude` match.
    pub paths: HashMap<String, Vec<String>>,
}

/// One entry of vCenter's perfCounter catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// The counter id; it differs between vCenters, so it is resolved per session.
    pub key: i32,
    pub group: String,
    pub name: String,
    pub rollup: String,
    /// `unitInfo.key`, e.g. `percent`, `kiloBytes`, `millisecond`.
    pub unit: String,
}

impl Counter {
    pub fn new(key: i32, group: &str, name: &str, rollup: &str, unit: &str) -> Counter {
        Counter {
            key,
            group: group.into(),
            name: name.into(),
            rollup: rollup.into(),
            unit: unit.into(),
        }
    }

    /// The common `group.name.rollup` name, e.g. `cpu.usage.average`.
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.group, self.name, self.rollup)
    }
}

/// The counter catalogue of one vCenter session, by key and by `group.name.rollup`.
#[derive(Clone, Debug, Default)]
pub struct CounterCatalog {
    by_key: HashMap<i32, Arc<Counter>>,
    by_name: HashMap<String, i32>,
    /// `PerfCounterInfo.level` (1–4) by key, where the server sent it.
    levels: HashMap<i32, u8>,
    /// The statistics level of vCenter's first enabled historical interval (Past day, 300 s):
    /// counters above it are not kept by vCenter, and often come back empty.
    server_level: Option<u8>,
    /// The sampling period (s) of that interval: clusters, datastores, datacenters and
    /// resource pools have statistics at this period only.
    historical_interval: Option<i64>,
}

impl CounterCatalog {
    pub fn new(counters: impl IntoIterator<Item = Counter>) -> Self {
        let mut cat = CounterCatalog::default();
        for c in counters {
            cat.by_name.insert(c.full_name(), c.key);
            cat.by_key.insert(c.key, Arc::new(c));
        }
        cat
    }

    pub fn by_key(&self, key: i32) -> Option<&Arc<Counter>> {
        self.by_key.get(&key)
    }

    /// Exact match: `mem.swapIn.average` and `mem.swapin.average` are different counters.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Counter>> {
        self.by_name.get(name).and_then(|k| self.by_key.get(k))
    }

    /// Every `group.name.rollup` name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Adds the counters' statistics levels and the server's configured level.
    pub fn with_levels(mut self, levels: HashMap<i32, u8>, server_level: Option<u8>) -> Self {
        self.levels = levels;
        self.server_level = server_level;
        self
    }

    /// Adds the sampling period of vCenter's first historical interval.
    pub fn with_historical_interval(mut self, secs: Option<i64>) -> Self {
        self.historical_interval = secs;
        self
    }

    pub fn historical_interval(&self) -> Option<i64> {
        self.historical_interval
    }

    pub fn level(&self, key: i32) -> Option<u8> {
        self.levels.get(&key).copied()
    }

    pub fn server_level(&self) -> Option<u8> {
        self.server_level
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// `PerfMetricId`: a counter and an instance (`"*"` for all instances, `""` for the aggregate).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetricId {
    pub counter_id: i32,
    pub instance: String,
}

/// The two result formats QueryPerf can return. `csv` is the default: the same calls and
/// series, a third fewer answer bytes for vCenter to encode and send in the agent's steady
/// state and nearly half at three samples a series (docs/benchmarks.md); the parser reads
/// either, whichever was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PerfFormat {
    Normal,
    #[default]
    Csv,
}

impl PerfFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PerfFormat::Normal => "normal",
            PerfFormat::Csv => "csv",
        }
    }
}

/// One `PerfQuerySpec`: the window `(start, end]` of one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfQuerySpec {
    pub kind: EntityKind,
    pub moid: String,
    /// Unix seconds, exclusive (vCenter does not return the sample at `startTime`).
    pub start: Option<i64>,
    /// Unix seconds, inclusive.
    pub end: Option<i64>,
    /// Always set: without it vCenter (and the simulator) return only the newest sample.
    pub max_sample: u32,
    pub metric_ids: Arc<[MetricId]>,
    /// 20 for realtime statistics.
    pub interval_id: i32,
    pub format: PerfFormat,
}

/// The samples of one entity from one QueryPerf answer, whatever the wire format was.
///
/// Flat: the values of every series sit in one buffer and the instances in one string, each
/// series a range of them, so an entity costs a handful of allocations however many series
/// it has (a steady-state answer holds one sample per series, and one `Vec` plus one
/// `String` per series was most of the parser's allocations). Series are read with
/// [`EntityMetrics::series`] and added with [`EntityMetrics::push_series`]; the parser builds
/// them in place.
#[derive(Clone, Debug, Default)]
pub struct EntityMetrics {
    pub kind: Option<EntityKind>,
    pub moid: String,
    /// Unix seconds of each sample, in the order vCenter sent them (any order).
    pub timestamps: Vec<i64>,
    /// The values of every series, series after series.
    values: Vec<i64>,
    /// The instances of every series, one after the other.
    instances: String,
    /// Per series: its counter and where its instance and values end (each starts where the
    /// previous series' ends).
    heads: Vec<SeriesHead>,
}

/// Where one series of an [`EntityMetrics`] lies in its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeriesHead {
    counter_id: i32,
    instance_end: u32,
    values_end: u32,
}

/// One counter/instance series of an [`EntityMetrics`]; `values[i]` belongs to
/// `timestamps[i]`; `-1` means no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series<'a> {
    pub counter_id: i32,
    pub instance: &'a str,
    pub values: &'a [i64],
}

/// A series being built in place by the parser: its counter and where its instance and values
/// start in the entity's buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OpenSeries {
    pub counter_id: i32,
    instance_start: usize,
    values_start: usize,
}

impl EntityMetrics {
    /// An entity with room for `series` series, `values` values and `instance_bytes` bytes of
    /// instances.
    pub fn with_capacity(series: usize, values: usize, instance_bytes: usize) -> Self {
        EntityMetrics {
            values: Vec::with_capacity(values),
            instances: String::with_capacity(instance_bytes),
            heads: Vec::with_capacity(series),
            ..EntityMetrics::default()
        }
    }

    /// An entity with these series (tests, benchmarks, and whoever builds answers by hand).
    pub fn new<'a>(
        kind: Option<EntityKind>,
        moid: impl Into<String>,
        timestamps: Vec<i64>,
        series: impl IntoIterator<Item = Series<'a>>,
    ) -> Self {
        let mut m = EntityMetrics {
            kind,
            moid: moid.into(),
            timestamps,
            ..EntityMetrics::default()
        };
        for s in series {
            m.push_series(s.counter_id, s.instance, s.values);
        }
        m
    }

    /// The number of series.
    pub fn series_len(&self) -> usize {
        self.heads.len()
    }

    /// Series `i` (panics when out of range, like an index).
    #[inline]
    pub fn series_at(&self, i: usize) -> Series<'_> {
        let h = self.heads[i];
        let (instance_start, values_start) = match i.checked_sub(1) {
            Some(p) => (
                self.heads[p].instance_end as usize,
                self.heads[p].values_end as usize,
            ),
            None => (0, 0),
        };
        Series {
            counter_id: h.counter_id,
            instance: &self.instances[instance_start..h.instance_end as usize],
            values: &self.values[values_start..h.values_end as usize],
        }
    }

    /// Every series, in the order vCenter sent them.
    pub fn series(&self) -> impl ExactSizeIterator<Item = Series<'_>> + '_ {
        (0..self.heads.len()).map(|i| self.series_at(i))
    }

    /// Every value of every series (series after series).
    pub fn all_values(&self) -> &[i64] {
        &self.values
    }

    /// Appends a series (tests, benchmarks, and whoever builds answers by hand).
    pub fn push_series(&mut self, counter_id: i32, instance: &str, values: &[i64]) {
        let open = self.open_series();
        self.instances.push_str(instance);
        self.values.extend_from_slice(values);
        self.close_series(OpenSeries { counter_id, ..open });
    }

    /// Keeps only the samples at the positions `keep` (ascending) of the timestamps and of
    /// every series (a series too short for a position loses it).
    pub fn retain_samples(&mut self, keep: &[usize]) {
        let mut old = std::mem::take(self);
        self.kind = old.kind;
        self.moid = std::mem::take(&mut old.moid);
        self.timestamps = keep
            .iter()
            .filter_map(|&i| old.timestamps.get(i).copied())
            .collect();
        for s in old.series() {
            let v: Vec<i64> = keep
                .iter()
                .filter_map(|&i| s.values.get(i).copied())
                .collect();
            self.push_series(s.counter_id, s.instance, &v);
        }
    }

    /// Bytes held by the value buffer (tests: an answer's series are not padded).
    pub fn values_capacity(&self) -> usize {
        self.values.capacity()
    }

    /// Starts a series: the instance bytes and values pushed until [`Self::close_series`]
    /// or [`Self::drop_series`] are its own.
    pub(crate) fn open_series(&self) -> OpenSeries {
        OpenSeries {
            counter_id: 0,
            instance_start: self.instances.len(),
            values_start: self.values.len(),
        }
    }

    /// The values pushed since `s` opened.
    pub(crate) fn open_values(&self, s: &OpenSeries) -> &[i64] {
        &self.values[s.values_start..]
    }

    /// The instance pushed since `s` opened.
    pub(crate) fn open_instance(&self, s: &OpenSeries) -> &str {
        &self.instances[s.instance_start..]
    }

    #[inline]
    pub(crate) fn push_value(&mut self, v: i64) {
        self.values.push(v);
    }

    pub(crate) fn push_instance(&mut self, s: &str) {
        self.instances.push_str(s);
    }

    /// Ends the open series `s` as it stands.
    pub(crate) fn close_series(&mut self, s: OpenSeries) {
        debug_assert!(s.instance_start <= self.instances.len());
        self.heads.push(SeriesHead {
            counter_id: s.counter_id,
            instance_end: u32::try_from(self.instances.len()).unwrap_or(u32::MAX),
            values_end: u32::try_from(self.values.len()).unwrap_or(u32::MAX),
        });
    }

    /// Forgets the open series `s`: what was pushed since it opened is dropped.
    pub(crate) fn drop_series(&mut self, s: OpenSeries) {
        self.instances.truncate(s.instance_start);
        self.values.truncate(s.values_start);
    }

    /// Gives back spare capacity beyond twice what is held (an entity sized for a larger one).
    pub(crate) fn shrink_spare(&mut self) {
        if self.values.capacity() > 2 * self.values.len() + 64 {
            self.values.shrink_to_fit();
        }
        if self.instances.capacity() > 2 * self.instances.len() + 256 {
            self.instances.shrink_to_fit();
        }
        if self.heads.capacity() > 2 * self.heads.len() + 16 {
            self.heads.shrink_to_fit();
        }
    }

    /// Instance bytes held (for sizing the next entity of an answer).
    pub(crate) fn instance_bytes(&self) -> usize {
        self.instances.len()
    }
}

/// Equal when the kind, moid, timestamps and every series (counter, instance, values) are.
impl PartialEq for EntityMetrics {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.moid == other.moid
            && self.timestamps == other.timestamps
            && self.series_len() == other.series_len()
            && self.series().eq(other.series())
    }
}
