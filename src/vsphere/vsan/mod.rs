//! vSAN's performance and health service (issue 22): the calls Telegraf's `vsan.go` makes,
//! on vCenter's `/vsanHealth` endpoint (namespace `urn:vsan`) with the vim25 session, TLS
//! policy and connection pool of [`super::Client`], and `QueryCmmds` (vim25) to name the
//! UUIDs vSAN reports by.
//!
//! * `calls.rs`: the requests, on [`super::Client`];
//! * `parse.rs`: answers to values, bounded, with [`VsanParseError`] for what cannot be read.
//!
//! `VsanPerfQueryPerf` answers are parsed as they arrive, one `returnval` (one entity) at a
//! time, within the client's answer bounds (time, bytes, elements).

mod calls;
mod parse;

pub use calls::{api_version_at_least, entity_ref_ids, VsanClusterFacts, VsanSpec, MAX_SPEC_UUIDS};
pub use parse::{parse_cmmds, parse_timestamp, VsanParseError, MAX_LABELS, MAX_SAMPLES};
pub(crate) use parse::{parse_perf_entity, resync, scan_agrees, space, EntityReader};

use std::collections::HashMap;

/// The vSAN performance manager (`VsanPerformanceManager`), a singleton of vCenter's
/// `/vsanHealth` service.
pub const PERF_MANAGER: &str = "vsan-performance-manager";

/// One entity of a `VsanPerfQueryPerf` answer (`VsanPerfEntityMetricCSV`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VsanEntityMetrics {
    /// `<entity type>:<uuid>`, e.g. `host-domclient:5f1e…`.
    pub entity_ref_id: String,
    /// `sampleInfo`'s timestamps (unix seconds, UTC), oldest first; `None` for one that does
    /// not parse (its values are skipped, as Telegraf does).
    pub timestamps: Vec<Option<i64>>,
    /// One series per metric (`VsanPerfMetricSeriesCSV`).
    pub series: Vec<VsanSeries>,
}

impl VsanEntityMetrics {
    /// The entity type and the UUID part of `entity_ref_id` (empty when there is none).
    pub fn type_and_uuid(&self) -> (&str, &str) {
        match self.entity_ref_id.split_once(':') {
            Some((t, u)) => (t, u),
            None => (&self.entity_ref_id, ""),
        }
    }
}

/// One metric of an entity: its label (`iopsRead`) and one value per timestamp, `None` where
/// the CSV value is not a number.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VsanSeries {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// `VsanQuerySpaceUsage`'s capacity figures, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VsanSpace {
    pub total_capacity: i64,
    pub free_capacity: i64,
}

/// `VsanQuerySyncingVsanObjects`'s summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VsanResync {
    pub total_bytes_to_sync: i64,
    pub total_objects_to_sync: i64,
    pub total_recovery_eta: i64,
}

/// One CMMDS directory entry (`HOSTNAME`, `DISK`, `DISK_CAPACITY_TIER`), as far as naming
/// UUIDs needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmmdsEntry {
    /// The ESXi node UUID that owns the entry.
    pub owner: String,
    pub hostname: String,
    pub dev_name: String,
    /// `isSsd`: 0 for a capacity disk of a hybrid or all-flash disk group.
    pub is_ssd: f64,
    pub ssd_uuid: String,
}

/// The CMMDS directory by UUID.
pub type Cmmds = HashMap<String, CmmdsEntry>;
