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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntityMetrics {
    pub kind: Option<EntityKind>,
    pub moid: String,
    /// Unix seconds of each sample, in the order vCenter sent them (any order).
    pub timestamps: Vec<i64>,
    pub series: Vec<Series>,
}

/// One counter/instance series; `values[i]` belongs to `timestamps[i]`; `-1` means no data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub counter_id: i32,
    pub instance: String,
    pub values: Vec<i64>,
}
