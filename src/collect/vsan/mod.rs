//! vSAN collection (issue 22): Telegraf's `vsphere_vsan_performance_<type>` and
//! `vsphere_vsan_summary` series, gap-free and sharded like every other kind.
//!
//! A vSAN cluster is an entity of the shard map: its bucket is its moid's
//! ([`bucket_of`]), its progress a watermark of kind [`EntityKind::Vsan`]. Every
//! `vsan_interval` (on vCenter's clock), the owner of a cluster asks vSAN for each selected
//! entity type over (its progress, now] and writes every sample of the answer. Its progress
//! moves to the newest sample every type that answered reached. vSAN posts its samples
//! late, like vCenter's rollups: an entity (or a whole type) behind that progress is asked
//! again by UUID from its own newest sample, and the watermark committed is held back to
//! it, so that a handover loses none of its samples (`late.rs`; the window is capped at
//! [`MAX_WINDOW`]). The summaries (capacity, health, resync) are current values, written at
//! vCenter's time.
//!
//! Off (`vsan_metric_exclude` holding `*`, the default), nothing here runs: no discovery,
//! no call. See `select.rs` for which metrics, `encode.rs` for the points.

mod encode;
mod late;
mod select;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::assignment::{bucket_of, Assignment, Snapshot, WatermarkUpdate};
use super::path_filter::PathFilter;
use super::summary::CycleSummary;
use crate::config::{CollectConfig, VsanConfig};
use crate::sink::{Batch, Outcome, Sink};
use crate::vsphere::vsan::{Cmmds, VsanSpec};
use crate::vsphere::{Client, EntityKind, ExtraSpec};

pub use encode::{entity_tags, ClusterTags};
pub use select::{measurement, snake_case, Selection};

/// The longest window asked at once: a day of samples (2,880 at vSAN 8's 30 s). A cluster
/// whose watermark is older (a long outage) catches up from a day back.
pub const MAX_WINDOW: i64 = 86_400;

/// How many `vsan_interval`s a cluster with no watermark starts back (Telegraf's
/// `metric_lookback` default).
pub const FIRST_LOOKBACK: i64 = 3;

/// How long a cluster's CMMDS directory (host and disk names by UUID) is used before it is
/// read again, unless the cluster's hosts change first. Reading it was two calls per
/// cluster and discovery; a disk added in between is tagged by UUID only until then.
pub const CMMDS_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

/// One vSAN cluster of the last discovery.
#[derive(Debug)]
struct VsanCluster {
    tags: ClusterTags,
    bucket: u32,
    /// Whether vSAN is on, and its hosts: read for every cluster at each discovery, in one
    /// call.
    facts: (bool, Vec<String>),
}

/// A cluster's CMMDS directory, when and for which hosts it was read.
#[derive(Debug)]
struct CmmdsCache {
    read: Instant,
    hosts: Vec<String>,
    dir: Cmmds,
}

/// One vCenter's vSAN collector: its clusters, selection and progress.
#[derive(Debug, Default)]
pub struct VsanCollector {
    clusters: Vec<VsanCluster>,
    /// When and in which session the clusters were discovered.
    discovered: Option<(Instant, u64)>,
    /// The selection, and the session it was made in.
    selection: Option<(u64, Selection)>,
    /// Newest sample written per owned cluster (moid).
    last: HashMap<String, i64>,
    /// The CMMDS directories of this session, by cluster moid.
    cmmds: HashMap<String, CmmdsCache>,
    /// Per owned cluster (moid), every entity seen and its newest sample (`late.rs`).
    known: HashMap<String, Vec<late::Known>>,
    /// vCenter's time of the last query.
    queried: Option<i64>,
}

/// What one cycle needs from the vCenter collector.
pub struct VsanCycle<'a> {
    pub client: &'a Client,
    pub vcenter: &'a str,
    pub assignment: &'a dyn Assignment,
    /// The shard map as this cycle read it: owned buckets and committed watermarks.
    pub snapshot: &'a Snapshot,
    pub sink: &'a Sink,
    pub collect: &'a CollectConfig,
    /// vCenter's time.
    pub now: i64,
}

/// Whether the cycle at `now` queries: once per `interval` of vCenter's clock.
fn due(queried: Option<i64>, now: i64, interval: i64) -> bool {
    queried.is_none_or(|q| now.div_euclid(interval) > q.div_euclid(interval))
}

/// Where a cluster's window starts: its progress, else its watermark, else
/// [`FIRST_LOOKBACK`] intervals back; never more than [`MAX_WINDOW`] back.
fn window_start(now: i64, reached: Option<i64>, interval: i64) -> i64 {
    let start = reached.unwrap_or(now - FIRST_LOOKBACK * interval);
    start.max(now - MAX_WINDOW)
}

impl VsanCollector {
    /// One cycle: nothing when vSAN is off or not due; else every owned vSAN cluster.
    pub async fn cycle(&mut self, c: VsanCycle<'_>, summary: &mut CycleSummary) {
        let cfg = &c.collect.vsan;
        let interval = cfg.interval.as_secs().max(1) as i64;
        if !cfg.enabled() || !due(self.queried, c.now, interval) {
            return;
        }
        if let Err(e) = self.prepare(&c, cfg).await {
            crate::telemetry::metrics().error(c.vcenter, e.cause());
            summary.errors.push(format!("vsan: {e}"));
            return;
        }
        self.queried = Some(c.now);
        let owned: Vec<usize> = (0..self.clusters.len())
            .filter(|&i| c.snapshot.owns(self.clusters[i].bucket))
            .collect();
        let moids: Vec<&str> = owned
            .iter()
            .map(|&i| self.clusters[i].tags.moid.as_str())
            .collect();
        self.last.retain(|m, _| moids.contains(&m.as_str()));
        self.known.retain(|m, _| moids.contains(&m.as_str()));
        let mut buckets: BTreeMap<u32, i64> = BTreeMap::new();
        for i in owned {
            if let Some(reached) = self.collect_cluster(&c, i, interval, summary).await {
                let slot = buckets.entry(self.clusters[i].bucket).or_insert(reached);
                *slot = (*slot).min(reached);
            }
        }
        commit(&c, buckets, summary).await;
    }

    /// Discovers the clusters (every `discovery_interval`, and in a new session) and
    /// selects the metrics (once per session).
    async fn prepare(
        &mut self,
        c: &VsanCycle<'_>,
        cfg: &VsanConfig,
    ) -> Result<(), crate::vsphere::Error> {
        let session = c.client.session_generation();
        let every = c.collect.discovery_interval;
        let stale = self
            .discovered
            .is_none_or(|(at, s)| s != session || at.elapsed() >= every);
        if stale {
            self.discover(c, cfg, session).await?;
        }
        if self.selection.as_ref().is_none_or(|(s, _)| *s != session) {
            let selection = if cfg.skip_verify {
                Selection::unverified(cfg)
            } else {
                let supported = c.client.vsan_supported_entity_types().await?;
                Selection::verified(cfg, &supported)
            };
            tracing::info!(vcenter = %c.vcenter, entity_types = selection.entity_types.len(),
                summary = selection.summary(), "vSAN metrics selected");
            self.selection = Some((session, selection));
        }
        Ok(())
    }

    async fn discover(
        &mut self,
        c: &VsanCycle<'_>,
        cfg: &VsanConfig,
        session: u64,
    ) -> Result<(), crate::vsphere::Error> {
        let found = c
            .client
            .discover_kinds(&[EntityKind::Cluster], &ExtraSpec::default())
            .await?;
        let filter = PathFilter::new(&cfg.cluster_include, &[] as &[String]);
        let none = Vec::new();
        let admitted: Vec<String> = found
            .entities
            .iter()
            .filter(|e| filter.admits(found.paths.get(&e.moid).unwrap_or(&none)))
            .map(|e| e.moid.clone())
            .collect();
        let mut facts = c.client.vsan_clusters_facts(&admitted).await?;
        if self.discovered.is_none_or(|(_, s)| s != session) {
            self.cmmds.clear(); // UUIDs and moids are the new session's
        }
        self.clusters = found
            .entities
            .into_iter()
            .filter(|e| filter.admits(found.paths.get(&e.moid).unwrap_or(&none)))
            .map(|e| VsanCluster {
                bucket: bucket_of(c.vcenter, &e.moid),
                facts: facts
                    .remove(&e.moid)
                    .map(|f| (f.enabled, f.hosts))
                    .unwrap_or_default(),
                tags: ClusterTags {
                    vcenter: c.vcenter.to_string(),
                    dcname: e.dcname.unwrap_or_default(),
                    clustername: e.name,
                    moid: e.moid,
                },
            })
            .collect();
        self.discovered = Some((Instant::now(), session));
        tracing::info!(vcenter = %c.vcenter, clusters = self.clusters.len(), "vSAN clusters discovered");
        Ok(())
    }

    /// One owned cluster: its summary and every selected entity type's samples. Returns the
    /// watermark its bucket may take (its progress held back to its late entities), `None`
    /// when something failed.
    async fn collect_cluster(
        &mut self,
        c: &VsanCycle<'_>,
        i: usize,
        interval: i64,
        summary: &mut CycleSummary,
    ) -> Option<i64> {
        let (_, selection) = self.selection.clone()?;
        let (enabled, hosts) = self.clusters[i].facts.clone();
        if !enabled {
            return None; // not a vSAN cluster: nothing to collect, nothing to hold back
        }
        self.refresh_cmmds(c, i).await;
        let cluster = &self.clusters[i];
        let moid = cluster.tags.moid.clone();
        if selection.summary() {
            let s = fetch_summary(c, &moid, &hosts, &selection, summary).await;
            let mut batch = Batch::default();
            if encode::summary_line(&mut batch.body, &cluster.tags, &s, c.now) {
                batch.lines = 1;
                write(c, batch, summary).await;
            }
        }
        let reached = self
            .last
            .get(&moid)
            .copied()
            .or_else(|| c.snapshot.watermark(EntityKind::Vsan, cluster.bucket));
        let start = window_start(c.now, reached, interval);
        let mut entities = HashMap::new();
        let newest = self
            .query_types(c, i, &selection, start, &mut entities, summary)
            .await?;
        let reached = newest.unwrap_or(start).max(start);
        let held = self
            .query_late(c, i, &selection, (start, reached), &mut entities, summary)
            .await;
        let slot = self.last.entry(moid).or_insert(reached);
        *slot = (*slot).max(reached);
        Some(held)
    }

    /// Asks cluster `i`'s entities behind the window's start again (over their newest to
    /// `start`, see `late.rs`), tracks every entity with its newest sample and returns the
    /// watermark held back to the late ones. A failed call is an error of the cycle; they
    /// stay late.
    async fn query_late(
        &mut self,
        c: &VsanCycle<'_>,
        i: usize,
        selection: &Selection,
        (start, reached): (i64, i64),
        entities: &mut HashMap<String, i64>,
        summary: &mut CycleSummary,
    ) -> i64 {
        let moid = self.clusters[i].tags.moid.clone();
        let mut previous = self.known.remove(&moid).unwrap_or_default();
        previous.retain(|e| selection.entity_types.iter().any(|t| t == e.entity_type()));
        let specs = late::specs(&previous, start, c.client.vsan_multi_uuid());
        if !specs.is_empty() {
            if let Err(e) = self.query_group(c, i, &specs, entities, summary).await {
                crate::telemetry::metrics().error(c.vcenter, e.cause());
                let name = &self.clusters[i].tags.clustername;
                summary
                    .errors
                    .push(format!("vsan {name}: late entities: {e}"));
            }
        }
        let known = late::track(entities, previous, reached, c.now - MAX_WINDOW);
        let behind = late::behind(&known, reached);
        if behind > 0 {
            tracing::debug!(vcenter = %c.vcenter, cluster = %moid, late = behind,
                "vSAN entities behind the cluster: asked again next time");
        }
        let held = late::held(&known, reached);
        self.known.insert(moid, known);
        held
    }

    /// Reads cluster `i`'s CMMDS directory when this session has none, it is older than
    /// [`CMMDS_REFRESH`] or the cluster's hosts changed. When no host answers, the points
    /// carry UUIDs (as Telegraf goes on without it).
    async fn refresh_cmmds(&mut self, c: &VsanCycle<'_>, i: usize) {
        let cluster = &self.clusters[i];
        let hosts = &cluster.facts.1;
        let fresh = self
            .cmmds
            .get(&cluster.tags.moid)
            .is_some_and(|d| d.read.elapsed() < CMMDS_REFRESH && d.hosts == *hosts);
        if fresh {
            return;
        }
        let dir = match c.client.vsan_cmmds(hosts).await {
            Ok(dir) => dir,
            Err(e) => {
                // Not kept: asked again next time.
                tracing::warn!(vcenter = %c.vcenter, cluster = %cluster.tags.clustername, error = %e,
                    "vSAN: CMMDS not read: hosts and disks are tagged by uuid only");
                self.cmmds.remove(&cluster.tags.moid);
                return;
            }
        };
        let read = Instant::now();
        let hosts = hosts.clone();
        self.cmmds
            .insert(cluster.tags.moid.clone(), CmmdsCache { read, hosts, dir });
    }

    /// Every selected entity type of cluster `i` over (`start`, now]: all in one call (the
    /// API takes a list of specs), or one call per type when vSAN refuses the list (a type
    /// it cannot answer). Returns the newest sample every type with samples reached (`None`
    /// inside: no type had one), or `None` when a call or a write failed; each entity's
    /// newest sample into `entities` (by `entityRefId`).
    async fn query_types(
        &self,
        c: &VsanCycle<'_>,
        i: usize,
        selection: &Selection,
        start: i64,
        entities: &mut HashMap<String, i64>,
        summary: &mut CycleSummary,
    ) -> Option<Option<i64>> {
        let name = &self.clusters[i].tags.clustername;
        let mut ok = true;
        let mut pending = vec![selection.entity_types.clone()];
        while let Some(types) = pending.pop() {
            let specs: Vec<VsanSpec> = types
                .iter()
                .map(|t| VsanSpec {
                    entity_ref_id: format!("{t}:*"),
                    start,
                    end: c.now,
                })
                .collect();
            match self.query_group(c, i, &specs, entities, summary).await {
                Ok(written) => ok &= written,
                Err(e) if types.len() > 1 && e.fault_name().is_some() => {
                    tracing::debug!(vcenter = %c.vcenter, cluster = %name, error = %e,
                        "vSAN refused the entity types in one call: one call per type");
                    pending.extend(types.into_iter().map(|t| vec![t]));
                }
                Err(e) => {
                    crate::telemetry::metrics().error(c.vcenter, e.cause());
                    summary
                        .errors
                        .push(format!("vsan {name}: {}: {e}", types.join(",")));
                    ok = false;
                }
            }
        }
        let mut by_type: HashMap<&str, i64> = HashMap::new();
        for (id, ts) in entities.iter() {
            let t = id.split_once(':').map_or(id.as_str(), |(t, _)| t);
            let slot = by_type.entry(t).or_insert(*ts);
            *slot = (*slot).max(*ts);
        }
        ok.then(|| by_type.values().min().copied())
    }

    /// One `VsanPerfQueryPerf` call of `specs`, its points written; the newest sample of
    /// each entity into `newest` (by `entityRefId`). `Ok(false)`: the sink did not take them.
    async fn query_group(
        &self,
        c: &VsanCycle<'_>,
        i: usize,
        specs: &[VsanSpec],
        newest: &mut HashMap<String, i64>,
        summary: &mut CycleSummary,
    ) -> Result<bool, crate::vsphere::Error> {
        let cluster = &self.clusters[i];
        let empty = Cmmds::new();
        let cmmds = self
            .cmmds
            .get(&cluster.tags.moid)
            .map_or(&empty, |d| &d.dir);
        let mut batch = Batch::default();
        let mut encoder = encode::PerfEncoder::new(&cluster.tags, cmmds);
        c.client
            .vsan_query_specs(&cluster.tags.moid, specs, |e| {
                let (n, ts) = encoder.entity(&mut batch.body, e);
                batch.lines += n;
                if let Some(ts) = ts {
                    match newest.get_mut(&e.entity_ref_id) {
                        Some(slot) => *slot = (*slot).max(ts),
                        None => {
                            newest.insert(e.entity_ref_id.clone(), ts);
                        }
                    }
                }
            })
            .await?;
        summary.samples += batch.lines as u64;
        Ok(batch.lines == 0 || write(c, batch, summary).await)
    }
}

/// The summary calls the selection asks for; a failed one is an error of the cycle and
/// leaves its fields out.
async fn fetch_summary(
    c: &VsanCycle<'_>,
    moid: &str,
    hosts: &[String],
    selection: &Selection,
    summary: &mut CycleSummary,
) -> encode::Summary {
    let mut s = encode::Summary::default();
    let mut note = |what: &str, e: crate::vsphere::Error| {
        summary.errors.push(format!("vsan {what} of {moid}: {e}"));
    };
    if selection.disk_usage {
        match c.client.vsan_space_usage(moid).await {
            Ok(v) => s.space = Some(v),
            Err(e) => note("space usage", e),
        }
    }
    if selection.health {
        match c.client.vsan_overall_health(moid).await {
            Ok(v) => s.health = v,
            Err(e) => note("health", e),
        }
    }
    if let (true, Some(host)) = (selection.resync, hosts.first()) {
        match c.client.vsan_resync(host).await {
            Ok(v) => s.resync = v,
            Err(e) => note("resync", e),
        }
    }
    s
}

/// Writes a batch; false when the sink did not take it.
async fn write(c: &VsanCycle<'_>, batch: Batch, summary: &mut CycleSummary) -> bool {
    let (lines, bytes) = (batch.lines, batch.body.len());
    match c.sink.write(batch).await {
        Outcome::Written | Outcome::Spooled => {
            summary.lines += lines as u64;
            summary.bytes += bytes as u64;
            true
        }
        Outcome::Closed => false,
        Outcome::Dropped => {
            summary.errors.push(format!(
                "vCenter {}: {lines} vSAN points dropped by the sink",
                c.vcenter
            ));
            false
        }
    }
}

/// Commits the buckets' watermarks that moved, under the same rules as the other kinds:
/// not for a peek, not while a cluster's spool holds undelivered batches.
async fn commit(c: &VsanCycle<'_>, buckets: BTreeMap<u32, i64>, summary: &mut CycleSummary) {
    let updates: Vec<WatermarkUpdate> = buckets
        .into_iter()
        .filter(|(b, ts)| {
            c.snapshot
                .watermark(EntityKind::Vsan, *b)
                .is_none_or(|old| *ts > old)
        })
        .map(|(bucket, ts)| WatermarkUpdate {
            kind: EntityKind::Vsan,
            bucket,
            ts,
        })
        .collect();
    let spooled = c.sink.stats().spool_depth_batches > 0;
    if updates.is_empty()
        || !c.assignment.records_progress()
        || (spooled && !c.assignment.spool_is_durable())
    {
        return;
    }
    summary.watermarks += updates.len();
    if let Err(e) = c.assignment.commit(c.vcenter, updates).await {
        crate::telemetry::metrics().error(c.vcenter, "watermark");
        summary.errors.push(e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_per_interval_of_vcenters_clock() {
        assert!(due(None, 1000, 300));
        assert!(!due(Some(1000), 1100, 300));
        assert!(due(Some(1000), 1200, 300));
    }

    #[test]
    fn windows_start_at_progress_capped_at_a_day() {
        assert_eq!(window_start(10_000, None, 300), 10_000 - 900);
        assert_eq!(window_start(100_000, Some(99_000), 300), 99_000);
        assert_eq!(window_start(200_000, Some(1), 300), 200_000 - MAX_WINDOW);
    }
}
