//! The self-metrics and the narrow API that records them.
//!
//! Names follow the Prometheus conventions: the `vcollect_` prefix, base units in the name
//! (`_seconds`, `_bytes`), counters ending in `_total` (added by the encoder), histograms
//! for durations. Each series is documented in docs/operations.md; names are a contract.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// A label set: a few `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;

/// The labels of one output's series.
fn out(output: &str) -> Labels {
    vec![("output", output.to_string())]
}
type Hist = Family<Labels, Histogram, fn() -> Histogram>;
type FGauge = Gauge<f64, AtomicU64>;

/// Durations from 5 ms to ~80 s: QueryPerf calls, sink writes, cycles and discovery.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every self-metric of this process.
pub struct Metrics {
    pub(super) registry: Registry,
    cycle_duration: Hist,
    cycles: Family<Labels, Counter>,
    samples: Family<Labels, Counter>,
    lines: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    query_faults: Family<Labels, Counter>,
    overruns: Family<Labels, Counter>,
    received: Family<Labels, Counter>,
    query_perf: Hist,
    entities: Family<Labels, Gauge>,
    last_cycle: Family<Labels, FGauge>,
    watermark_lag: Family<Labels, FGauge>,
    discovery_duration: Hist,
    discovery_objects: Family<Labels, Gauge>,
    interval: FGauge,
    sink_write: Hist,
    sink_retries: Counter,
    sink_dropped: Counter,
    sink_refused_for_order: Counter,
    output_written: Family<Labels, Counter>,
    output_dropped: Family<Labels, Counter>,
    output_spool_batches: Family<Labels, Gauge>,
    output_spool_bytes: Family<Labels, Gauge>,
    /// Each output's spool depth (batches, bytes): the unlabelled gauges are their sums.
    spool_by_output: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
    spool_batches: Gauge,
    spool_bytes: Gauge,
    /// term, leader_id, last_log_index, commit_index, applied_index (see [`RAFT`]).
    raft: [Gauge; 5],
    raft_state: Family<Labels, Gauge>,
    node_state: Family<Labels, Gauge>,
    buckets: Family<Labels, Gauge>,
    peer_contact: Family<Labels, FGauge>,
    events: EventSeries,
}

/// The event stream's series (`vcollect_events_*`), exported by the node that reads a
/// vCenter's stream.
#[derive(Default)]
struct EventSeries {
    written: Family<Labels, Counter>,
    last_key: Family<Labels, Gauge>,
    last_time: Family<Labels, FGauge>,
    lag: Family<Labels, FGauge>,
}

/// Where one vCenter's event stream is on this node (see [`Metrics::events`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventStreamFigures {
    /// Events written this cycle.
    pub written: u64,
    /// The key and creation time (unix seconds) of the newest event written, once one is.
    pub last: Option<(i64, i64)>,
    /// Seconds of vCenter's clock that the stream is behind: 0 when every event created
    /// before this cycle's read is written.
    pub lag: f64,
}

/// The figures of the control plane at one moment (see [`Metrics::raft`]).
#[derive(Debug, Clone, Default)]
pub struct RaftFigures {
    pub term: u64,
    /// 0 when no leader is known.
    pub leader_id: u64,
    pub last_log_index: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub server_state: &'static str,
    /// This node's member state (`active`, `draining`, `down`, `left`), once registered.
    pub node_state: Option<String>,
    /// Buckets this node owns, per vCenter.
    pub buckets: Vec<(String, u64)>,
    /// Per peer (its name): seconds since it last acknowledged this leader.
    pub peer_contact: Vec<(String, f64)>,
}

/// The Raft gauges: `vcollect_raft_<name>`.
const RAFT: [(&str, &str); 5] = [
    ("term", "This node's current Raft term"),
    (
        "leader_id",
        "The leader's node id as this node knows it (0: none)",
    ),
    ("last_log_index", "This node's last Raft log index"),
    (
        "commit_index",
        "The Raft log index this node knows committed",
    ),
    ("applied_index", "The Raft log index this node has applied"),
];

const SERVER_STATES: [&str; 5] = ["leader", "follower", "candidate", "learner", "shutdown"];
const NODE_STATES: [&str; 4] = ["active", "draining", "down", "left"];

fn vc(vcenter: &str) -> Labels {
    vec![("vcenter", vcenter.to_string())]
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let hist = || Hist::new_with_constructor(seconds as fn() -> Histogram);
        let m = Metrics {
            registry: Registry::with_prefix("vcollect"),
            cycle_duration: hist(),
            cycles: Family::default(),
            samples: Family::default(),
            lines: Family::default(),
            bytes: Family::default(),
            errors: Family::default(),
            query_faults: Family::default(),
            overruns: Family::default(),
            received: Family::default(),
            query_perf: hist(),
            entities: Family::default(),
            last_cycle: Family::default(),
            watermark_lag: Family::default(),
            discovery_duration: hist(),
            discovery_objects: Family::default(),
            interval: FGauge::default(),
            sink_write: hist(),
            sink_retries: Counter::default(),
            sink_dropped: Counter::default(),
            sink_refused_for_order: Counter::default(),
            output_written: Family::default(),
            output_dropped: Family::default(),
            output_spool_batches: Family::default(),
            output_spool_bytes: Family::default(),
            spool_by_output: Default::default(),
            spool_batches: Gauge::default(),
            spool_bytes: Gauge::default(),
            raft: Default::default(),
            raft_state: Family::default(),
            node_state: Family::default(),
            buckets: Family::default(),
            peer_contact: Family::default(),
            events: EventSeries::default(),
        };
        m.register()
    }

    fn register(mut self) -> Metrics {
        let r = &mut self.registry;
        let s = Unit::Seconds;
        let b = Unit::Bytes;
        r.register_with_unit(
            "cycle_duration",
            "Duration of a collection cycle, per vCenter",
            s.clone(),
            self.cycle_duration.clone(),
        );
        r.register("cycles", "Collection cycles run", self.cycles.clone());
        r.register("samples", "Samples collected", self.samples.clone());
        r.register("lines", "Line-protocol lines written", self.lines.clone());
        r.register_with_unit(
            "written",
            "Line-protocol bytes produced",
            b.clone(),
            self.bytes.clone(),
        );
        r.register(
            "errors",
            "Cycle errors, by vCenter and cause",
            self.errors.clone(),
        );
        r.register_with_unit(
            "queryperf_received",
            "Bytes of QueryPerf answers received, per vCenter",
            b.clone(),
            self.received.clone(),
        );
        r.register(
            "cycle_overruns",
            "Cycles longer than the interval, by vCenter and likely cause",
            self.overruns.clone(),
        );
        r.register(
            "queryperf_faults",
            "QueryPerf calls vCenter failed, by vCenter and fault (also those recovered within the cycle)",
            self.query_faults.clone(),
        );
        r.register_with_unit(
            "queryperf_duration",
            "Latency of one QueryPerf call",
            s.clone(),
            self.query_perf.clone(),
        );
        r.register(
            "entities_owned",
            "Active entities this node collects, per vCenter",
            self.entities.clone(),
        );
        r.register_with_unit(
            "last_cycle_timestamp",
            "When the last cycle of a vCenter ended (unix time)",
            s.clone(),
            self.last_cycle.clone(),
        );
        r.register_with_unit(
            "watermark_lag",
            "How far the end of the last collected window is behind now",
            s.clone(),
            self.watermark_lag.clone(),
        );
        r.register_with_unit(
            "discovery_duration",
            "Duration of an inventory and counter discovery",
            s.clone(),
            self.discovery_duration.clone(),
        );
        r.register(
            "discovery_objects",
            "Objects (VMs and hosts) the last discovery found",
            self.discovery_objects.clone(),
        );
        r.register_with_unit(
            "collect_interval",
            "The configured collect.interval",
            s.clone(),
            self.interval.clone(),
        );
        self.register_sink();
        self.register_events();
        self.register_cluster();
        self.register_build();
        self
    }

    fn register_sink(&mut self) {
        let r = &mut self.registry;
        let (s, b) = (Unit::Seconds, Unit::Bytes);
        r.register_with_unit(
            "sink_write_duration",
            "Latency of one write to the sink, retries included",
            s.clone(),
            self.sink_write.clone(),
        );
        r.register(
            "sink_retries",
            "Writes to the sink retried",
            self.sink_retries.clone(),
        );
        r.register(
            "sink_dropped_batches",
            "Batches lost to the sink (spool full, spool error, refused)",
            self.sink_dropped.clone(),
        );
        r.register(
            "sink_refused_for_order_lines",
            "Lines whose samples a remote-write receiver refused as out of order, too old or \
             duplicate, left out (the rest of their batch was sent)",
            self.sink_refused_for_order.clone(),
        );
        r.register(
            "output_written_batches",
            "Batches one output's endpoint acknowledged (directly or replayed from its spool)",
            self.output_written.clone(),
        );
        r.register(
            "output_dropped_batches",
            "Batches lost to one output (its spool full, a spool error, refused)",
            self.output_dropped.clone(),
        );
        r.register(
            "output_spool_batches",
            "Batches waiting in one output's on-disk spool",
            self.output_spool_batches.clone(),
        );
        r.register_with_unit(
            "output_spool",
            "Compressed size of one output's on-disk spool",
            Unit::Bytes,
            self.output_spool_bytes.clone(),
        );
        r.register(
            "sink_spool_batches",
            "Batches waiting in the on-disk spools of every output",
            self.spool_batches.clone(),
        );
        r.register_with_unit(
            "sink_spool",
            "Bytes waiting in the on-disk spools of every output",
            b,
            self.spool_bytes.clone(),
        );
    }

    fn register_events(&mut self) {
        let (r, e) = (&mut self.registry, &self.events);
        r.register(
            "events_written",
            "vCenter events this node wrote as vsphere_event points, per vCenter",
            e.written.clone(),
        );
        r.register(
            "events_last_key",
            "Key of the newest event written, on the node that reads the vCenter's stream",
            e.last_key.clone(),
        );
        r.register_with_unit(
            "events_last_timestamp",
            "Creation time of the newest event written (vCenter's clock, unix time)",
            Unit::Seconds,
            e.last_time.clone(),
        );
        r.register_with_unit(
            "events_lag",
            "How far the event stream written is behind vCenter's clock (0: caught up)",
            Unit::Seconds,
            e.lag.clone(),
        );
    }

    fn register_build(&mut self) {
        // A gauge at 1, not an OpenMetrics `info`: the Prometheus text format (and promtool)
        // know no `info` type.
        let build: Family<Labels, Gauge> = Family::default();
        build
            .get_or_create(&vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("arch", std::env::consts::ARCH.to_string()),
            ])
            .set(1);
        self.registry
            .register("build_info", "The running build (always 1)", build);
    }

    fn register_cluster(&mut self) {
        let r = &mut self.registry;
        for ((name, help), g) in RAFT.iter().zip(&self.raft) {
            r.register(format!("raft_{name}"), *help, g.clone());
        }
        r.register(
            "raft_state",
            "1 for this node's Raft server state (label `state`), 0 for the others",
            self.raft_state.clone(),
        );
        r.register(
            "node_state",
            "1 for this node's member state (label `state`), 0 for the others",
            self.node_state.clone(),
        );
        r.register(
            "buckets_owned",
            "Buckets this node owns, per vCenter",
            self.buckets.clone(),
        );
        r.register_with_unit(
            "peer_last_contact",
            "Seconds since a peer last acknowledged this leader",
            Unit::Seconds,
            self.peer_contact.clone(),
        );
    }

    /// One cycle of `vcenter` ended: what it did (see `CycleSummary`).
    #[allow(clippy::too_many_arguments)]
    pub fn cycle(
        &self,
        vcenter: &str,
        duration: Duration,
        samples: u64,
        lines: u64,
        bytes: u64,
        entities: usize,
        window_end: Option<i64>,
    ) {
        let l = vc(vcenter);
        self.cycle_duration
            .get_or_create(&l)
            .observe(duration.as_secs_f64());
        self.cycles.get_or_create(&l).inc();
        self.samples.get_or_create(&l).inc_by(samples);
        self.lines.get_or_create(&l).inc_by(lines);
        self.bytes.get_or_create(&l).inc_by(bytes);
        self.entities.get_or_create(&l).set(entities as i64);
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        self.last_cycle.get_or_create(&l).set(now);
        if let Some(end) = window_end {
            self.watermark_lag
                .get_or_create(&l)
                .set((now - end as f64).max(0.0));
        }
    }

    /// This node read `vcenter`'s event stream in a cycle: where it is now.
    pub fn events(&self, vcenter: &str, f: EventStreamFigures) {
        let (l, e) = (vc(vcenter), &self.events);
        e.written.get_or_create(&l).inc_by(f.written);
        if let Some((key, time)) = f.last {
            e.last_key.get_or_create(&l).set(key);
            e.last_time.get_or_create(&l).set(time as f64);
        }
        e.lag.get_or_create(&l).set(f.lag.max(0.0));
    }

    /// This node stopped reading `vcenter`'s event stream: its position gauges go, so that
    /// only the reader's are scraped (the written counter stays, as counters do).
    pub fn events_stopped(&self, vcenter: &str) {
        let (l, e) = (vc(vcenter), &self.events);
        e.last_key.remove(&l);
        e.last_time.remove(&l);
        e.lag.remove(&l);
    }

    /// A cycle error of `vcenter`; `cause` is a short word (`login`, `timeout`, `sink`...).
    pub fn error(&self, vcenter: &str, cause: &str) {
        let mut l = vc(vcenter);
        l.push(("cause", cause.to_string()));
        self.errors.get_or_create(&l).inc();
    }

    /// vCenter failed a QueryPerf call with `fault` (the vim25 fault type, else the
    /// error's cause word), whether or not the call was recovered within the cycle.
    pub fn query_fault(&self, vcenter: &str, fault: &str) {
        let mut l = vc(vcenter);
        l.push(("fault", fault.to_string()));
        self.query_faults.get_or_create(&l).inc();
    }

    /// A cycle of `vcenter` took longer than the interval; `cause`: `sink`,
    /// `vcenter_latency` or `cpu_or_discovery`.
    pub fn overrun(&self, vcenter: &str, cause: &str) {
        let mut l = vc(vcenter);
        l.push(("cause", cause.to_string()));
        self.overruns.get_or_create(&l).inc();
    }

    /// A QueryPerf answer of `bytes` bytes came from `vcenter`.
    pub fn received(&self, vcenter: &str, bytes: u64) {
        self.received.get_or_create(&vc(vcenter)).inc_by(bytes);
    }

    /// One QueryPerf call took `d`.
    pub fn query_perf(&self, vcenter: &str, d: Duration) {
        self.query_perf
            .get_or_create(&vc(vcenter))
            .observe(d.as_secs_f64());
    }

    /// A discovery took `d` and found `objects` VMs and hosts.
    pub fn discovery(&self, vcenter: &str, d: Duration, objects: usize) {
        let l = vc(vcenter);
        self.discovery_duration
            .get_or_create(&l)
            .observe(d.as_secs_f64());
        self.discovery_objects.get_or_create(&l).set(objects as i64);
    }

    /// The configured collection interval.
    pub fn interval(&self, d: Duration) {
        self.interval.set(d.as_secs_f64());
    }

    /// One write to the sink took `d` (retries included).
    pub fn sink_write(&self, d: Duration) {
        self.sink_write
            .get_or_create(&Vec::new())
            .observe(d.as_secs_f64());
    }

    pub fn sink_retry(&self) {
        self.sink_retries.inc();
    }

    pub fn sink_dropped(&self, output: &str) {
        self.sink_dropped.inc();
        self.output_dropped.get_or_create(&out(output)).inc();
    }

    pub fn output_written(&self, output: &str) {
        self.output_written.get_or_create(&out(output)).inc();
    }

    pub fn sink_refused_for_order(&self) {
        self.sink_refused_for_order.inc();
    }

    /// `output`'s spool holds `batches` batches of `bytes` bytes now.
    pub fn spool(&self, output: &str, batches: u64, bytes: u64) {
        let l = out(output);
        self.output_spool_batches
            .get_or_create(&l)
            .set(batches as i64);
        self.output_spool_bytes.get_or_create(&l).set(bytes as i64);
        let mut by = self
            .spool_by_output
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        by.insert(output.to_string(), (batches, bytes));
        let (b, n) = by.values().fold((0, 0), |(b, n), (x, y)| (b + x, n + y));
        self.spool_batches.set(b as i64);
        self.spool_bytes.set(n as i64);
    }

    /// The control plane's figures now (sampled by the cluster node).
    pub fn raft(&self, f: &RaftFigures) {
        let figures = [
            f.term,
            f.leader_id,
            f.last_log_index,
            f.commit_index,
            f.applied_index,
        ];
        for (g, v) in self.raft.iter().zip(figures) {
            g.set(v as i64);
        }
        for s in SERVER_STATES {
            let on = s == f.server_state;
            self.raft_state
                .get_or_create(&vec![("state", s.to_string())])
                .set(on as i64);
        }
        if let Some(state) = &f.node_state {
            for s in NODE_STATES {
                self.node_state
                    .get_or_create(&vec![("state", s.to_string())])
                    .set((s == state) as i64);
            }
        }
        self.buckets.clear();
        for (vcenter, n) in &f.buckets {
            self.buckets.get_or_create(&vc(vcenter)).set(*n as i64);
        }
        self.peer_contact.clear();
        for (peer, age) in &f.peer_contact {
            self.peer_contact
                .get_or_create(&vec![("peer", peer.clone())])
                .set(*age);
        }
    }
}
