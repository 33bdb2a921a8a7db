//! What the data plane and the control plane must agree on, and nothing else: the bucket an
//! entity falls in, how many buckets there are, the kinds of entity, a watermark update, and
//! how far a vCenter's event stream is written.
//!
//! Both planes import this module; it imports neither. Everything here is part of the wire
//! and on-disk formats (the Raft log, snapshots, the standalone watermark file), so a change
//! here is a compatibility change:
//! * [`bucket_of`] must give the same answer on every node, every platform and every version,
//!   otherwise two nodes running different builds would disagree on who collects an entity
//!   (gaps or doubles). It is FNV-1a 64, written out here so no dependency update can change
//!   it, and pinned by unit tests.
//! * [`EntityKind`] is stored by its short name (`vm`, `host`, `cluster` …).
//! * [`EventPosition`] is stored as `{"key": …, "time": …}`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name hashed with a vCenter's (as a moid, [`bucket_of`]) to place its event stream in
/// a bucket: the data plane reads the stream where it owns that bucket, the control plane
/// names its reader.
pub const EVENTS_ID: &str = "EventManager";

/// Number of buckets per vCenter. Fixed forever: changing it reshuffles every entity.
pub const BUCKETS: u32 = 1024;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The bucket of an entity: FNV-1a 64 over `vcenter`, a NUL byte and `moid`, modulo [`BUCKETS`].
///
/// The NUL separator keeps (`"ab"`, `"c"`) and (`"a"`, `"bc"`) apart.
pub fn bucket_of(vcenter: &str, moid: &str) -> u32 {
    let h = fnv1a(FNV_OFFSET, vcenter.as_bytes());
    let h = fnv1a(h, &[0]);
    let h = fnv1a(h, moid.as_bytes());
    (h % u64::from(BUCKETS)) as u32
}

/// The kinds of managed entity vcollect collects statistics for: VMs and hosts have realtime
/// (20 s) statistics, the others only historical ones ([`EntityKind::is_realtime`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Vm,
    Host,
    Cluster,
    Datastore,
    Datacenter,
    ResourcePool,
    /// A vSAN cluster (its `ClusterComputeResource` moid): the performance samples of
    /// vSAN's own service (`vsphere_vsan_*`, issue 22). Not in [`EntityKind::ALL`]: it has
    /// no PerformanceManager statistics, inventory kind or per-kind `[collect]` keys; it
    /// shares only the shard map and the watermarks with the others.
    Vsan,
}

impl EntityKind {
    /// Every kind with PerformanceManager statistics, in [`EntityKind::index`] order (the
    /// per-kind arrays of the collector and the configuration). [`EntityKind::Vsan`] comes
    /// after them and is in [`EntityKind::STORED`] only.
    pub const ALL: [EntityKind; 6] = [
        EntityKind::Vm,
        EntityKind::Host,
        EntityKind::Cluster,
        EntityKind::Datastore,
        EntityKind::Datacenter,
        EntityKind::ResourcePool,
    ];

    /// How many kinds there are (the length of per-kind arrays).
    pub const COUNT: usize = 6;

    /// Every kind a watermark may be stored under: [`EntityKind::ALL`] and vSAN.
    pub const STORED: [EntityKind; 7] = [
        EntityKind::Vm,
        EntityKind::Host,
        EntityKind::Cluster,
        EntityKind::Datastore,
        EntityKind::Datacenter,
        EntityKind::ResourcePool,
        EntityKind::Vsan,
    ];

    /// The short name used in measurements (`vsphere_vm_cpu`, `vsphere_resourcepool_cpu`, as
    /// Telegraf names them) and in state keys.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Vm => "vm",
            EntityKind::Host => "host",
            EntityKind::Cluster => "cluster",
            EntityKind::Datastore => "datastore",
            EntityKind::Datacenter => "datacenter",
            EntityKind::ResourcePool => "resourcepool",
            EntityKind::Vsan => "vsan",
        }
    }

    /// VMs and hosts have realtime (20 s) statistics; vCenter keeps only historical ones (the
    /// "past day" level, 300 s by default) for clusters, datastores, datacenters and pools.
    pub fn is_realtime(self) -> bool {
        matches!(self, EntityKind::Vm | EntityKind::Host)
    }

    /// The kind named by [`EntityKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        EntityKind::STORED.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the first release (0.1) knows this kind. Its nodes refuse an unknown kind name
    /// when they decode a log entry or a snapshot, so during a rolling upgrade the other
    /// kinds travel in fields those nodes ignore (`CommitWatermarks.updates_v2`,
    /// `VcenterShards.watermarks_v2` in the Raft state).
    pub fn known_to_v1(self) -> bool {
        matches!(self, EntityKind::Vm | EntityKind::Host)
    }

    /// A dense index (VM 0, host 1, … in [`EntityKind::ALL`] order) for per-kind arrays;
    /// [`EntityKind::Vsan`]'s (6) is past them: it has no per-kind array slot.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Stored by its stable short name (`vm`, `host`) in watermark files and the Raft state. An
/// unknown name is an error, not skipped: it means a newer version wrote the data, and
/// dropping its watermarks silently would make a node collect that data again.
impl serde::Serialize for EntityKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for EntityKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EntityKind::from_name(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown entity kind {s:?}")))
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A watermark to commit: samples of `kind` entities in `bucket` are in the sink up to `ts`
/// (unix seconds). The collector produces them; the control plane stores them (grouped per
/// window in the Raft log: `cluster::state::WatermarkWindow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkUpdate {
    pub kind: EntityKind,
    pub bucket: u32,
    pub ts: i64,
}

/// What one collector cycle did for one vCenter, as the control plane keeps it: `vcollect
/// status` shows it and `drain --wait` reads from it whether a drained node's cycle in
/// flight is over. Produced by the collector (`CycleSummary::report`); the cluster stores it
/// as it is and turns it into protobuf only on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub vcenter: String,
    /// Entities the cycle covered (0: this node collects nothing of the vCenter now).
    pub entities: u64,
    pub samples: u64,
    /// Wall clock when the cycle ended (unix milliseconds).
    pub ended_unix_ms: i64,
    pub duration_ms: u64,
    pub errors: u32,
    pub first_error: Option<String>,
    /// The end of the window collected (vCenter time, unix seconds).
    pub window_end: Option<i64>,
}

/// How far one vCenter's event stream is in the sink: the key and creation time (unix
/// seconds) of the newest event read (the greatest key), every event of a written type up to
/// it being in the sink. vCenter gives every event a key
/// one above the last, so a reader resumes after it (`collect::events`); the time bounds
/// where it asks vCenter from. Replicated per vCenter like the watermarks (in
/// `CommitWatermarks.events` and `VcenterShards.events` in the Raft state; a standalone node
/// keeps it in `events.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPosition {
    pub key: i64,
    pub time: i64,
}

impl EventPosition {
    /// Whether `self` replaces `old` as the committed position: a greater key (the normal
    /// case), or a later time with a smaller key (vCenter's keys started again, e.g. after
    /// a restore of its database: the new events must not look written). A late commit of
    /// an older position (a node that lost the stream) is ahead in neither and is ignored.
    /// A start marker (key 0: where a reader began, no event read yet) replaces nothing: it
    /// stands only where no position was committed.
    pub fn advances(&self, old: &EventPosition) -> bool {
        self.key != 0 && (self.key > old.key || self.time > old.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference() {
        // Reference value of FNV-1a 64("a") from the FNV specification.
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn bucket_of_is_pinned() {
        // Computed independently (Python); these must never change.
        assert_eq!(bucket_of("vc1", "vm-42"), 675);
        assert_eq!(bucket_of("vcenter.example.com", "host-10"), 991);
        assert_eq!(bucket_of("", ""), 991);
        assert_ne!(bucket_of("ab", "c"), bucket_of("a", "bc"));
    }

    #[test]
    fn kinds_keep_their_names() {
        assert_eq!(
            serde_json::to_string(&EntityKind::Host).unwrap(),
            "\"host\""
        );
        let k: EntityKind = serde_json::from_str("\"vm\"").unwrap();
        assert_eq!((k, k.index()), (EntityKind::Vm, 0));
        assert!(serde_json::from_str::<EntityKind>("\"storagepod\"").is_err());
        for (i, k) in EntityKind::STORED.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(EntityKind::from_name(k.as_str()), Some(k));
        }
        assert!(!EntityKind::ALL.contains(&EntityKind::Vsan));
        assert!(!EntityKind::Vsan.known_to_v1());
    }

    #[test]
    fn an_event_position_moves_on_with_a_key_or_a_time() {
        let p = EventPosition { key: 120, time: 55 };
        let at = |key, time| EventPosition { key, time };
        assert!(at(121, 54).advances(&p), "a greater key");
        assert!(at(5, 1000).advances(&p), "vCenter's keys started again");
        assert!(!at(100, 50).advances(&p), "a stale commit");
        assert!(!p.advances(&p));
        let marker = at(0, 2000);
        assert!(!marker.advances(&p), "a start marker is no event");
        assert!(at(1, 10).advances(&marker));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"key":120,"time":55}"#);
    }
}
