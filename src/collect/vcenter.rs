//! One vCenter's collector: its session, counters, inventory and per-entity progress, and
//! the cycle that turns them into a window of samples in the sink.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::alarms::AlarmPoints;
use super::assignment::{bucket_of, Assignment, Snapshot};
use super::calls::{self, CallLimits};
use super::configured_counters::{self, CounterNotes, Reported};
use super::cycle::{self, cadence, Cadence, Commit, Positions, Window};
use super::encode::Encoder;
use super::event_stream::{EventStream, StreamCycle};
use super::events::EVENTS_ID;
use super::limits::{LearnedFile, QueryLimits};
use super::metric_select;
use super::path_filter::PathFilter;
use super::pipeline::{self, PipelineOptions};
use super::reported_metrics;
use super::summary::CycleSummary;
use super::tags::ExtraTags;
use super::targets::TargetSet;
use super::vsphere_tags::VsphereTags;
use super::MoidMap;
use crate::config::{default_counters, CollectConfig, VcenterConfig};
use crate::sink::{Outcome, Sink};
use crate::vsphere::{
    Client, CounterCatalog, EntityKind, MetricId, PerfQuerySpec, MAX_QUERY_METRICS_OPTION,
};

/// Why a cycle could not run at all (as opposed to partial errors inside it).
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("{0}")]
    Vsphere(#[from] crate::vsphere::Error),
    #[error(
        "no counter of collect.{list} is in vCenter {vcenter}'s catalogue ({known} counters), \
         e.g. {counter:?} (close: {close}); names match exactly, case included: check them \
         with `govc metric.ls`"
    )]
    UnknownCounter {
        vcenter: String,
        list: &'static str,
        counter: String,
        known: usize,
        close: String,
    },
}

/// The counters to query, resolved against one session's catalogue (not to be confused with
/// [`configured_counters`], which resolves and logs the configured names).
struct ResolvedCounters {
    catalog: Arc<CounterCatalog>,
    /// Metric ids to query, per kind (by [`EntityKind::index`]; empty: not collected).
    metric_ids: [Arc<[MetricId]>; EntityKind::COUNT],
}

/// What a session has read and a cycle plans from: the counters and the collectable
/// entities of the last discovery. Replaced whole by the next discovery.
struct Discovered {
    counters: ResolvedCounters,
    inventory: TargetSet,
    /// The client's session generation when they were read.
    session: u64,
}

pub struct VcenterCollector {
    cfg: VcenterConfig,
    collect: Arc<CollectConfig>,
    client: Option<Client>,
    discovered: Option<Arc<Discovered>>,
    /// Rediscover before the next cycle (vCenter said a view or entity is gone).
    stale: bool,
    /// How far this node got, per entity and kind (see [`Positions`]).
    positions: Positions,
    /// Counter notes already logged in this session.
    notes: CounterNotes,
    /// Batch bounds for the sink (`output.batch_lines`, `output.batch_bytes`).
    batch_lines: usize,
    batch_bytes: usize,
    /// The configured custom attributes, properties, NIC addresses and tag categories.
    extras: ExtraTags,
    /// The vSphere tags of the last read (kept when a read fails).
    vsphere_tags: VsphereTags,
    /// The alarms written at the last discovery; `alarms_due`: a discovery since.
    alarms: AlarmPoints,
    alarms_due: bool,
    /// The vCenter's event stream (read while this node owns it).
    events: EventStream,
    /// The bound on a historical call's metrics (`maxQueryMetrics`), read at login.
    limits: QueryLimits,
    /// Where a bound a refusal taught is kept across restarts.
    learned: Arc<LearnedFile>,
    /// Performance calls this node may have in flight at this vCenter: `concurrency`, within
    /// its share of `max_concurrent_queries` (read from the assignment every cycle).
    in_flight: usize,
    /// vSAN's clusters and progress (`vsan_*` keys; idle when off).
    vsan: super::vsan::VsanCollector,
}

impl VcenterCollector {
    pub fn new(
        cfg: VcenterConfig,
        collect: Arc<CollectConfig>,
        batch_lines: usize,
        batch_bytes: usize,
        learned: Arc<LearnedFile>,
    ) -> VcenterCollector {
        let extras = ExtraTags::from_config(&collect);
        let limits = QueryLimits::new(collect.max_query_metrics, learned.get(&cfg.name));
        let events = EventStream::new(&collect);
        VcenterCollector {
            limits,
            learned,
            in_flight: 1,
            batch_lines,
            batch_bytes,
            cfg,
            collect,
            client: None,
            discovered: None,
            stale: false,
            positions: Positions::default(),
            extras,
            vsphere_tags: VsphereTags::default(),
            alarms: AlarmPoints::default(),
            alarms_due: false,
            events,
            notes: CounterNotes::default(),
            vsan: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Logs out, if logged in (on shutdown).
    pub async fn close(&mut self) {
        if let Some(c) = self.client.take() {
            c.logout().await;
        }
    }

    /// The logged-in client, connecting first if there is none (a new client comes with a
    /// new discovery).
    async fn client(&mut self) -> Result<Client, CycleError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let client = Client::connect(self.cfg.client_options()).await?;
        self.discovered = None;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Resolves each enabled kind's counters: an exact list against the catalogue, patterns
    /// against what a sample of the kind's entities in `inv` report (see
    /// [`metric_select::Plan`]). Counters this vCenter lacks are logged once per session and
    /// skipped. Only a list the admin wrote none of whose counters exist is an error (a
    /// default list this vCenter lacks entirely is logged and its kind skipped).
    async fn resolve(
        &mut self,
        client: &Client,
        catalog: CounterCatalog,
        session: u64,
        inv: &TargetSet,
    ) -> Result<ResolvedCounters, CycleError> {
        self.notes.session(session);
        let collect = self.collect.clone();
        let mut metric_ids: [Arc<[MetricId]>; EntityKind::COUNT] = Default::default();
        for kind in collect.kinds.enabled() {
            let k = collect.kind(kind);
            let ids =
                match metric_select::Plan::new(&k.counters, &k.metric_include, &k.metric_exclude) {
                    metric_select::Plan::Names(names) => {
                        self.resolve_names(&catalog, kind, &names)?
                    }
                    metric_select::Plan::Sample(filter) => {
                        let moids = inv
                            .targets
                            .iter()
                            .filter(|t| t.entity.kind == kind)
                            .map(|t| t.entity.moid.as_str());
                        let interval = self.interval_id(kind, &catalog);
                        let reported = reported_metrics::reported(
                            client,
                            kind,
                            moids,
                            interval,
                            self.in_flight,
                        )
                        .await?;
                        metric_select::from_available(&catalog, &reported, &filter, k.instances)
                    }
                };
            metric_ids[kind.index()] = ids.into();
        }
        Ok(ResolvedCounters {
            catalog: Arc::new(catalog),
            metric_ids,
        })
    }

    /// An exact counter list of `kind` resolved against the catalogue.
    fn resolve_names(
        &mut self,
        catalog: &CounterCatalog,
        kind: EntityKind,
        names: &[String],
    ) -> Result<Vec<MetricId>, CycleError> {
        let k = self.collect.kind(kind);
        let list = configured_counters::list_key(kind);
        let r = configured_counters::resolve(catalog, names, k.instances);
        self.notes.unknown(&self.cfg.name, list, &r);
        if let Some((counter, close)) = r.unknown.first() {
            let default = k.counters.iter().eq(default_counters(kind));
            if r.ids.is_empty() && !default {
                return Err(CycleError::UnknownCounter {
                    vcenter: self.cfg.name.clone(),
                    list,
                    counter: counter.clone(),
                    known: catalog.len(),
                    close: close.join(", "),
                });
            }
        }
        Ok(r.ids)
    }

    /// The statistics interval a kind is asked what it reports at: realtime (20 s) for VMs
    /// and hosts, the historical interval for the others (as [`Self::cadences`]).
    fn interval_id(&self, kind: EntityKind, catalog: &CounterCatalog) -> i32 {
        if kind.is_realtime() {
            return cadence::REALTIME.interval as i32;
        }
        let secs = match self.collect.historical_interval {
            Some(d) => d.as_secs() as i64,
            None => catalog.historical_interval().unwrap_or(300),
        };
        secs as i32
    }

    /// Makes sure the session, counters and inventory are ready; returns them with the
    /// client and vCenter's time.
    async fn prepare(&mut self) -> Result<(Client, Arc<Discovered>, i64), CycleError> {
        let client = self.client().await?;
        let now = client.current_time().await?;
        // A new session (vCenter restarted) may come with a new counter catalogue.
        let session = client.session_generation();
        let discovery = self.collect.discovery_interval;
        match &self.discovered {
            Some(d)
                if !self.stale
                    && d.session == session
                    && d.inventory.discovered_at.elapsed() < discovery =>
            {
                Ok((client, d.clone(), now))
            }
            _ => {
                let d = Arc::new(self.discover(&client, session).await?);
                self.discovered = Some(d.clone());
                self.alarms_due = self.extras.alarms;
                self.stale = false;
                Ok((client, d, now))
            }
        }
    }

    /// Reads the query limit (on a new session), the counter catalogue and the inventory.
    async fn discover(&mut self, client: &Client, session: u64) -> Result<Discovered, CycleError> {
        let started = Instant::now();
        if self
            .discovered
            .as_ref()
            .is_none_or(|d| d.session != session)
        {
            let read = client.option_int(MAX_QUERY_METRICS_OPTION).await;
            if self.limits.read(&self.cfg.name, read) {
                self.learned.set(&self.cfg.name, None);
            }
        }
        let catalog = client.counters().await?;
        // Only the enabled kinds are listed, and only their included paths kept: a kind
        // switched off or filtered out is never asked anything.
        let kinds: Vec<EntityKind> = self.collect.kinds.enabled().collect();
        let mut found = client.discover_kinds(&kinds, &self.extras.spec()).await?;
        let filters = path_filters(&self.collect);
        let opts = self.cfg.client_options();
        (self.vsphere_tags)
            .attach(&opts, &mut found, &filters, &self.extras)
            .await;
        let mut inv = TargetSet::new(&self.cfg.name, found, &filters, &self.extras);
        let counters = self.resolve(client, catalog, session, &inv).await?;
        // A kind left without a counter (none exists here, or none matched) costs nothing.
        inv.targets
            .retain(|t| !counters.metric_ids[t.entity.kind.index()].is_empty());
        let objects = inv.seen.values().sum::<usize>();
        crate::telemetry::metrics().discovery(&self.cfg.name, started.elapsed(), objects);
        tracing::info!(
            vcenter = %self.cfg.name,
            vms = inv.seen.get(&EntityKind::Vm).copied().unwrap_or(0),
            hosts = inv.seen.get(&EntityKind::Host).copied().unwrap_or(0),
            active = inv.targets.len(),
            filtered_out = inv.filtered,
            counters = counters.catalog.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "discovered inventory"
        );
        Ok(Discovered {
            counters,
            inventory: inv,
            session,
        })
    }

    /// What this cycle is planned with: each kind's cadence (realtime for VMs and hosts;
    /// for the others `historical_interval` if set, else vCenter's first historical interval,
    /// 300 s if the server did not say), its counters, the lookback and the format.
    fn settings(&self, counters: &ResolvedCounters) -> cycle::Settings {
        let historical = match self.collect.historical_interval {
            Some(d) => d.as_secs() as i64,
            None => counters.catalog.historical_interval().unwrap_or(300),
        };
        cycle::Settings {
            cadences: EntityKind::ALL.map(|k| {
                if k.is_realtime() {
                    cadence::REALTIME
                } else {
                    Cadence::historical(historical)
                }
            }),
            metric_ids: counters.metric_ids.clone(),
            lookback: self.collect.lookback.as_secs() as i64,
            format: self.collect.format,
        }
    }

    /// Runs one cycle: the window (watermark, now] of every owned, active entity. The
    /// assignment is read once (a [`Snapshot`]) and committed to once.
    pub async fn cycle(&mut self, assignment: &dyn Assignment, sink: &Sink) -> CycleSummary {
        let started = Instant::now();
        let mut spent = None;
        let mut summary = CycleSummary::new(&self.cfg.name);
        self.in_flight = self.share(assignment);
        match self.prepare().await {
            Err(e) => self.not_prepared(e, &mut summary),
            Ok(_) if !assignment.collecting() => {
                summary.note = Some("not collecting: this node has no assignment now".into());
            }
            Ok((client, d, now)) => {
                let snapshot = assignment.snapshot(&self.cfg.name);
                let settings = self.settings(&d.counters);
                let mut plan = cycle::plan(
                    &d.inventory.targets,
                    &snapshot,
                    &self.positions,
                    &settings,
                    now,
                );
                self.positions.planned(&plan);
                summary.window_end = Some(plan.ends[EntityKind::Vm.index()]);
                summary.entities = plan.windows.len();
                summary.queried = plan.specs.len();
                let specs = std::mem::take(&mut plan.specs);
                let res = self.query(&client, &d, specs, &plan.windows, sink).await;
                spent = Some((res.query_span, res.sink_busy));
                let updates = self.positions.advance(&plan, &res.durable, &snapshot);
                drop(plan);
                self.commit(assignment, updates, sink, &mut summary).await;
                summary.samples = res.samples;
                summary.lines = res.lines;
                summary.bytes = res.bytes;
                summary.errors.extend(res.errors);
                self.write_alarms(&d, &snapshot, now, sink, &mut summary)
                    .await;
                self.write_events(&client, assignment, &snapshot, now, sink, &mut summary)
                    .await;
                let c = super::vsan::VsanCycle {
                    client: &client,
                    vcenter: &self.cfg.name,
                    assignment,
                    snapshot: &snapshot,
                    sink,
                    collect: &self.collect,
                    now,
                };
                self.vsan.cycle(c, &mut summary).await;
            }
        }
        summary.duration = started.elapsed();
        if let Some((vcenter, sink)) = spent {
            self.note_overrun(summary.duration, vcenter, sink);
        }
        summary
    }

    /// After a discovery, the triggered alarms of the owned targets as `vsphere_alarm`
    /// points (see [`super::alarms`]); nothing when `alarms` is off.
    async fn write_alarms(
        &mut self,
        d: &Discovered,
        snapshot: &Snapshot,
        now: i64,
        sink: &Sink,
        summary: &mut CycleSummary,
    ) {
        if !self.alarms_due {
            return;
        }
        self.alarms_due = false;
        let vc = self.cfg.name.as_str();
        let owned = d
            .inventory
            .targets
            .iter()
            .filter(|t| snapshot.owns(t.bucket));
        let batch = self.alarms.lines(owned, now);
        let (lines, bytes) = (batch.lines, batch.body.len());
        if lines == 0 {
            return;
        }
        match sink.write(batch).await {
            Outcome::Written | Outcome::Spooled => {
                summary.lines += lines as u64;
                summary.bytes += bytes as u64;
            }
            Outcome::Closed => {}
            Outcome::Dropped => summary.errors.push(format!(
                "vCenter {vc}: {lines} vsphere_alarm points dropped by the sink"
            )),
        }
    }

    /// vCenter's events as `vsphere_event` points, when `events` is on and this node owns
    /// the vCenter's event stream (see [`super::event_stream`]).
    async fn write_events(
        &mut self,
        client: &Client,
        assignment: &dyn Assignment,
        snapshot: &Snapshot,
        now: i64,
        sink: &Sink,
        summary: &mut CycleSummary,
    ) {
        let c = StreamCycle {
            client,
            assignment,
            vcenter: &self.cfg.name,
            now,
            sink,
            owns: snapshot.owns(bucket_of(&self.cfg.name, EVENTS_ID)),
        };
        self.events.cycle(c, summary).await;
    }

    /// A cycle longer than `collect.interval` delays the next one: logged with its likely
    /// cause, from where the time went. The sink first (a slow sink also holds the calls
    /// back through the bounded channels), then vCenter (its answers, from the first call
    /// to the last), else this node's CPU (parsing and encoding) or the inventory.
    fn note_overrun(&self, took: Duration, vcenter: Duration, sink: Duration) {
        let interval = self.collect.interval;
        let Some(cause) = overrun_cause(took, interval, vcenter, sink) else {
            return;
        };
        crate::telemetry::metrics().overrun(&self.cfg.name, cause);
        tracing::warn!(vcenter = %self.cfg.name, took_ms = took.as_millis() as u64,
            interval_ms = interval.as_millis() as u64, cause,
            vcenter_ms = vcenter.as_millis() as u64, sink_ms = sink.as_millis() as u64,
            in_flight = self.in_flight, "cycle overran its interval");
    }

    /// This cycle's bound on calls in flight: `concurrency`, within this node's share of the
    /// cluster's `max_concurrent_queries` for this vCenter (logged when it changes).
    fn share(&self, assignment: &dyn Assignment) -> usize {
        let total = self.cfg.max_concurrent_queries;
        let share = assignment.query_share(&self.cfg.name, total);
        let n = in_flight(self.collect.concurrency, share);
        if n != self.in_flight {
            tracing::info!(vcenter = %self.cfg.name, in_flight = n, share, total,
                concurrency = self.collect.concurrency, "calls in flight at this vCenter");
        }
        n
    }

    /// A cycle that could not start: the error in the summary and the metrics, and a
    /// rediscovery next time if vCenter said a view or entity is gone.
    fn not_prepared(&mut self, e: CycleError, summary: &mut CycleSummary) {
        if matches!(&e, CycleError::Vsphere(v) if v.is_stale_view()) {
            self.stale = true;
        }
        let cause = match &e {
            CycleError::Vsphere(v) => v.cause(),
            CycleError::UnknownCounter { .. } => "counter",
        };
        crate::telemetry::metrics().error(&self.cfg.name, cause);
        summary.errors.push(e.to_string());
    }

    /// Asks vCenter for the plan's specs in calls within its limits and writes the answers
    /// to the sink through the bounded pipeline; then logs (once per session) the counters
    /// no answer held.
    async fn query(
        &mut self,
        client: &Client,
        d: &Discovered,
        specs: Vec<PerfQuerySpec>,
        windows: &MoidMap<&str, Window<'_>>,
        sink: &Sink,
    ) -> pipeline::PipelineResult {
        let counters = &d.counters;
        let limits = CallLimits {
            max_entities: self.collect.max_query_entities,
            historical_metrics: self.limits.historical(),
        };
        let jobs = calls::plan(specs, limits);
        // Collected, not a lazy iterator: one (a closure over references) held across the
        // pipeline's await would keep the cycle's future from being `Send`.
        let all_ids: Vec<i32> = counters
            .metric_ids
            .iter()
            .flat_map(|ids| ids.iter().map(|m| m.counter_id))
            .collect();
        let reported = Reported::new(all_ids.iter().copied());
        let encoder = Encoder::new(&counters.catalog, all_ids)
            .with_datastores(d.inventory.datastores.clone())
            .reporting_to(reported.clone());
        let opts = PipelineOptions {
            concurrency: self.in_flight,
            batch_lines: self.batch_lines,
            batch_bytes: self.batch_bytes,
        };
        let res = pipeline::run(client, jobs, windows, encoder, sink, &opts).await;
        self.stale |= res.stale;
        let vc = self.cfg.name.as_str();
        if let Some(cost) = res.refused {
            if self.limits.refused(vc, cost) {
                self.learned.set(vc, self.limits.learned());
            }
        }
        note_unreported(
            &mut self.notes,
            vc,
            counters,
            &res.kinds_with_data,
            &reported,
        );
        res
    }

    /// Commits the cycle's watermarks, once, unless the output is not the configured sink or
    /// a spooled batch is not delivered yet where the spool does not count as durable (see
    /// [`Commit::decide`]).
    async fn commit(
        &self,
        assignment: &dyn Assignment,
        updates: Vec<super::assignment::WatermarkUpdate>,
        sink: &Sink,
        summary: &mut CycleSummary,
    ) {
        let vc = self.cfg.name.as_str();
        let spooled = sink.stats().spool_depth_batches > 0;
        let decision = Commit::decide(
            assignment.records_progress(),
            spooled,
            assignment.spool_is_durable(),
        );
        if let Some(note) = decision.note() {
            summary.note = Some(note.into());
            return;
        }
        summary.watermarks = updates.len();
        if let Err(e) = assignment.commit(vc, updates).await {
            crate::telemetry::metrics().error(vc, "watermark");
            summary.errors.push(e.to_string());
        }
    }
}

/// Why a cycle that took `took` overran `interval` (`None`: it did not), from where the
/// time went: the sink first (a slow sink also holds the calls back through the bounded
/// channels), then vCenter (its answers, from the first call to the last), else this node's
/// CPU (parsing and encoding) or the inventory. The label of `vcollect_cycle_overruns_total`.
fn overrun_cause(
    took: Duration,
    interval: Duration,
    vcenter: Duration,
    sink: Duration,
) -> Option<&'static str> {
    if took <= interval {
        None
    } else if sink * 2 >= took {
        Some("sink")
    } else if vcenter * 2 >= took {
        Some("vcenter_latency")
    } else {
        Some("cpu_or_discovery")
    }
}

/// Calls in flight at a vCenter: `concurrency`, within this node's `share` of the cluster's
/// `max_concurrent_queries`, and at least one (a node with a share of 0 still collects its
/// buckets, one call at a time).
fn in_flight(concurrency: usize, share: usize) -> usize {
    concurrency.min(share).max(1)
}

/// The include/exclude paths of every enabled kind (a kind without one is not collected).
fn path_filters(collect: &CollectConfig) -> HashMap<EntityKind, PathFilter> {
    collect
        .kinds
        .enabled()
        .map(|kind| {
            let k = collect.kind(kind);
            (kind, PathFilter::new(&k.include, &k.exclude))
        })
        .collect()
}

/// Logs, once per session, the asked counters no answer held, for the kinds some entity
/// answered with data for (otherwise nothing was expected).
fn note_unreported(
    notes: &mut CounterNotes,
    vcenter: &str,
    counters: &ResolvedCounters,
    answered: &[bool; EntityKind::COUNT],
    reported: &Reported,
) {
    for kind in EntityKind::ALL {
        if answered[kind.index()] {
            let ids = &counters.metric_ids[kind.index()];
            notes.unreported(vcenter, &counters.catalog, ids, reported);
        }
    }
}

/// Sleeps until the next multiple of `interval` since the Unix epoch, so cycles of all nodes
/// and vCenters line up with wall-clock boundaries.
pub fn until_next_tick(interval: Duration) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    tick_after(now, interval)
}

/// From `now` (since the epoch) to the next multiple of `interval`; a whole interval when
/// `now` is on one (a cycle that ended exactly on a tick waits for the next).
fn tick_after(now: Duration, interval: Duration) -> Duration {
    let i = interval.as_millis().max(1);
    let rem = now.as_millis() % i;
    Duration::from_millis((i - rem) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn an_overrun_is_blamed_on_what_took_half_the_cycle() {
        assert_eq!(overrun_cause(S(20), S(20), S(0), S(0)), None);
        assert_eq!(overrun_cause(S(30), S(20), S(25), S(15)), Some("sink"));
        assert_eq!(
            overrun_cause(S(30), S(20), S(25), S(5)),
            Some("vcenter_latency")
        );
        assert_eq!(
            overrun_cause(S(30), S(20), S(10), S(5)),
            Some("cpu_or_discovery")
        );
    }

    #[test]
    fn calls_in_flight_stay_within_the_share_and_above_zero() {
        assert_eq!(in_flight(4, 10), 4);
        assert_eq!(in_flight(4, 2), 2);
        assert_eq!(in_flight(4, 0), 1);
    }

    #[test]
    fn cycles_start_on_wall_clock_multiples_of_the_interval() {
        let ms = Duration::from_millis;
        assert_eq!(tick_after(ms(1_000_005_000), S(20)), ms(15_000));
        assert_eq!(tick_after(ms(1_000_000_000), S(20)), S(20));
        assert_eq!(tick_after(ms(7), Duration::ZERO), ms(1));
    }
}
