//! The collection cycle: which entities, which window, and the bounded pipeline
//! query → parse → encode → write.
//!
//! * [`assignment`]: the seam to the control plane (which buckets, from which watermark);
//! * [`targets`]: which discovered entities are collected, with their bucket and tags
//!   prepared (`vsphere::inventory` reads what vCenter has);
//! * [`configured_counters`]: the configured counter names against a vCenter's catalogue
//!   and answers, logged once per session (`vsphere::counters` reads the catalogue);
//! * [`path_filter`], [`metric_select`], [`wildcard`]: `<kind>_include` / `_exclude` and
//!   `<kind>_metric_include` / `_exclude`, with Telegraf's syntax and meaning;
//! * [`reported_metrics`]: what a sample of a kind's entities report, for counter patterns;
//! * [`cycle`]: the cycle's pure core: each entity's window, the calls to ask, and what
//!   their outcome moves (positions, watermarks);
//! * [`calls`]: QueryPerf calls within vCenter's limits, and cutting a refused one;
//! * [`busy`]: a call vCenter's proxy turned away (HTTP 503) sent again after a backoff;
//! * [`limits`]: one vCenter's query limit (`maxQueryMetrics`), as read and as learned;
//! * [`pipeline`]: the bounded stages of one cycle;
//! * [`encode`]: Telegraf-compatible line protocol;
//! * [`tags`]: the extra tags and fields configuration selects (custom attributes, properties,
//!   NIC addresses, vSphere tags); `vsphere_tags`: reading vSphere tags at discovery;
//! * [`alarms`]: triggered alarms as `vsphere_alarm` points; [`events`]: vCenter's events
//!   as `vsphere_event` points; [`event_stream`]: reading them gap-free across nodes;
//! * [`vsan`]: vSAN clusters as entities of the shard map: `vsphere_vsan_*` points;
//! * [`vcenter`]: one vCenter's session, counters, inventory and cycle;
//! * [`agent`]: once, or every interval until shutdown;
//! * [`last_cycle`]: a standalone node's last cycles, which its health is judged from.

pub mod agent;
pub mod alarms;
pub mod assignment;
mod busy;
pub mod calls;
pub mod configured_counters;
pub mod cycle;
pub mod encode;
pub mod event_stream;
pub mod events;
pub mod last_cycle;
pub mod limits;
pub mod metric_select;
pub mod path_filter;
pub mod pipeline;
pub mod reported_metrics;
pub mod summary;
pub mod tags;
pub mod targets;
pub mod vcenter;
pub mod vsan;
mod vsphere_tags;
pub mod wildcard;

/// A map keyed by moid in a cycle's bookkeeping (the windows, the positions, what the
/// pipeline wrote): a few lookups per entity and cycle, thousands a cycle, where SipHash and
/// its string compares were ~5 % of the agent's steady state. foldhash is seeded per process,
/// as the encoder's counter-id map already is.
pub type MoidMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A set of moids (see [`MoidMap`]).
pub type MoidSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

pub use agent::Collector;
pub use assignment::{bucket_of, Assignment, Peek, Snapshot, Standalone, WatermarkUpdate, BUCKETS};
pub use summary::CycleSummary;
