//! One cycle's pipeline for one vCenter: query → parse → encode → write, as three stages
//! joined by bounded channels, so memory stays flat whatever the inventory size.
//!
//! * **query**: at most `concurrency` QueryPerf calls in flight; each streams its answer
//!   through the parser, which sends one [`EntityMetrics`] per entity. A call vCenter
//!   refuses for its size is cut in two and asked again; a call failing on one entity (gone
//!   from vCenter) is asked again without it: both in the same cycle (see [`recover`]); a
//!   call vCenter's proxy turns away as busy (HTTP 503) is sent again after a backoff, with
//!   fewer calls at once for the rest of the cycle ([`busy`]);
//! * **encode**: turns them into line protocol, cut into batches of bounded lines and bytes;
//! * **write**: hands batches to the sink, in order, and reports which entities are durable.
//!
//! The stages are futures joined in one task: the channels give back-pressure, and no
//! unbounded spawning happens however many batches a cycle has.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::cycle::Window;
use super::encode::Encoder;
use super::{busy, calls, MoidMap, MoidSet};
use crate::sink::{Batch, Outcome, Sink};
use crate::vsphere::{Client, EntityKind, EntityMetrics, Error, PerfQuerySpec};

/// Entity results in flight between the parser and the encoder.
const METRICS_CHANNEL: usize = 64;
/// Encoded batches in flight between the encoder and the writer.
const BATCH_CHANNEL: usize = 2;

pub struct PipelineOptions {
    pub concurrency: usize,
    pub batch_lines: usize,
    pub batch_bytes: usize,
}

/// What a cycle's pipeline did.
#[derive(Debug, Default)]
pub struct PipelineResult {
    /// Entities whose samples the sink has, or holds in its spool: moid → newest sample.
    pub durable: MoidMap<String, i64>,
    /// Per kind (`EntityKind::index`): whether vCenter returned a sample for some entity.
    pub kinds_with_data: [bool; EntityKind::COUNT],
    pub samples: u64,
    pub lines: u64,
    pub bytes: u64,
    pub batches_dropped: u64,
    pub errors: Vec<String>,
    /// vCenter said an entity or view is gone: rediscover before the next cycle.
    pub stale: bool,
    /// The smallest historical call (in metrics) vCenter refused as too large.
    pub refused: Option<usize>,
    /// From the first call sent to the last answered: the time vCenter took (with any wait
    /// on the stages after it).
    pub query_span: std::time::Duration,
    /// Time spent handing batches to the sink (its retries included).
    pub sink_busy: std::time::Duration,
}

/// Marks carried with a batch: the entities whose last line is in it, with their newest
/// sample. An entity's samples arrive in one [`EntityMetrics`], so once its batch is
/// written, all of its window is.
struct Pending {
    batch: Batch,
    marks: Vec<(String, i64)>,
}

/// Runs the pipeline for `jobs` (each one QueryPerf call). `windows` has each asked
/// entity's target and window start, by moid.
pub async fn run(
    client: &Client,
    jobs: Vec<Vec<PerfQuerySpec>>,
    windows: &MoidMap<&str, Window<'_>>,
    encoder: Encoder,
    sink: &Sink,
    opts: &PipelineOptions,
) -> PipelineResult {
    let (metrics_tx, metrics_rx) = mpsc::channel::<EntityMetrics>(METRICS_CHANNEL);
    let (batch_tx, batch_rx) = mpsc::channel::<Pending>(BATCH_CHANNEL);
    let (queried, encoded, written) = tokio::join!(
        query(client, jobs, metrics_tx, opts.concurrency),
        encode(metrics_rx, windows, encoder, batch_tx, opts),
        write(client.name(), batch_rx, sink),
    );
    let mut errors = queried.errors;
    errors.extend(written.errors);
    // An entity asked in several parts is written only once every part was answered.
    let mut durable = written.durable;
    durable.retain(|moid, _| !queried.failed.contains(moid));
    PipelineResult {
        durable,
        kinds_with_data: encoded.kinds_with_data,
        samples: encoded.samples,
        lines: encoded.lines,
        bytes: written.bytes,
        batches_dropped: written.dropped,
        errors,
        stale: queried.stale,
        refused: queried.refused,
        query_span: queried.span,
        sink_busy: written.busy,
    }
}

/// What the query stage did.
#[derive(Default)]
struct Queried {
    /// Entities with a part of a call that failed for good (or that vanished).
    failed: MoidSet<String>,
    errors: Vec<String>,
    /// vCenter said an entity or view is gone.
    stale: bool,
    /// The smallest historical call vCenter refused as too large.
    refused: Option<usize>,
    /// From the first call to the last answer.
    span: std::time::Duration,
}

/// Stage 1: the QueryPerf calls, at most `concurrency` in flight, each streaming its
/// entities into `tx`; in rounds, as long as [`recover`] turns failed calls into smaller
/// ones (each round's calls are smaller than the last's, so this ends). Once vCenter has
/// refused a call as too large, a call not sent yet that asks as much is cut in two before
/// it is sent rather than refused too. The channel closes when the last call is done (`tx`
/// is dropped here).
async fn query(
    client: &Client,
    jobs: Vec<Vec<PerfQuerySpec>>,
    tx: mpsc::Sender<EntityMetrics>,
    concurrency: usize,
) -> Queried {
    let metrics = crate::telemetry::metrics();
    let mut q = Queried::default();
    let started = std::time::Instant::now();
    // The smallest refused call's size so far (usize::MAX: none).
    let refused = AtomicUsize::new(usize::MAX);
    // Fewer calls at once after vCenter turned some away as busy (busy.rs).
    let gate = busy::Gate::new(concurrency);
    let mut round = jobs;
    while !round.is_empty() {
        let mut again = Vec::new();
        let mut calls = futures::stream::iter(round)
            .map(|specs| {
                let (tx, refused, gate) = (tx.clone(), &refused, &gate);
                async move {
                    if too_large(&specs, refused.load(Ordering::Relaxed)) {
                        return (specs, None);
                    }
                    let started = std::time::Instant::now();
                    let r = busy::query_perf(client, &specs, &tx, gate).await;
                    metrics.query_perf(client.name(), started.elapsed());
                    (specs, Some(r))
                }
            })
            .buffer_unordered(concurrency.max(1));
        while let Some((specs, r)) = calls.next().await {
            let Some(r) = r else {
                again.extend(calls::halve(specs).map_or_else(Vec::new, Vec::from));
                continue;
            };
            let e = match r {
                Ok(stats) => {
                    metrics.received(client.name(), stats.bytes);
                    continue;
                }
                Err(e) => e,
            };
            metrics.query_fault(client.name(), &e.fault_kind());
            let outcome = recover(client.name(), specs, &e, &mut q);
            refused.store(q.refused.unwrap_or(usize::MAX), Ordering::Relaxed);
            match outcome {
                Ok(parts) => again.extend(parts),
                Err(specs) => {
                    metrics.error(client.name(), e.cause());
                    q.stale |= e.is_stale_view();
                    q.errors
                        .push(format!("QueryPerf of {} entities: {e}", specs.len()));
                    q.failed.extend(specs.into_iter().map(|s| s.moid));
                }
            }
        }
        round = again;
    }
    q.span = started.elapsed();
    q
}

/// Whether a call not sent yet asks at least as many historical metrics as one vCenter
/// refused (`refused`), and can be cut in two.
fn too_large(specs: &[PerfQuerySpec], refused: usize) -> bool {
    let splittable = specs.len() > 1 || specs.first().is_some_and(|s| s.metric_ids.len() > 1);
    splittable && calls::historical_cost(specs) >= refused
}

/// What can still be asked of a call that failed with `e`, in this cycle: its halves when
/// vCenter refused it as too large (`RestrictedByAdministrator`, noting its size, or its
/// request-size limit); the rest
/// of it when the fault names one of its entities (gone from vCenter: dropped, rediscovery
/// follows); its halves when the fault is about an entity it does not name, to find it
/// (the one found is dropped). `Err`: nothing, the call failed.
fn recover(
    vcenter: &str,
    specs: Vec<PerfQuerySpec>,
    e: &Error,
    q: &mut Queried,
) -> Result<Vec<Vec<PerfQuerySpec>>, Vec<PerfQuerySpec>> {
    if e.is_request_too_large() {
        // vCenter's request-size limit (500,000 XML elements): planned calls stay below it
        // (calls::MAX_REQUEST_ELEMENTS), so this is a vCenter configured lower.
        tracing::debug!(
            vcenter,
            entities = specs.len(),
            "request over vCenter's size limit: halving it"
        );
        return calls::halve(specs.clone()).map(Vec::from).ok_or(specs);
    }
    if e.is_restricted() {
        let cost = calls::historical_cost(&specs);
        if cost > 0 {
            q.refused = Some(q.refused.map_or(cost, |r| r.min(cost)));
        }
        tracing::debug!(
            vcenter,
            entities = specs.len(),
            cost,
            "call refused as too large: halving it"
        );
        return calls::halve(specs.clone()).map(Vec::from).ok_or(specs);
    }
    if let Some(gone) = e
        .blamed_object()
        .filter(|o| specs.iter().any(|s| s.moid == *o))
    {
        tracing::info!(
            vcenter,
            moid = gone,
            fault = e.fault_name().unwrap_or_default(),
            "an entity of a QueryPerf call is gone: asking the rest again, rediscovering"
        );
        q.stale = true;
        q.failed.insert(gone.to_string());
        let rest: Vec<_> = specs.into_iter().filter(|s| s.moid != gone).collect();
        return Ok(if rest.is_empty() { vec![] } else { vec![rest] });
    }
    if e.concerns_one_entity() && e.blamed_object().is_none() {
        // The fault is about one entity of the call but does not say which (a host that
        // vCenter lost, a VM on it): the halves are asked again until one entity is left;
        // that one is dropped and rediscovery follows (the inventory then says it is
        // disconnected and leaves it out).
        q.stale = true;
        if specs.len() > 1 {
            let mut first = specs;
            let second = first.split_off(first.len() / 2);
            return Ok(vec![first, second]);
        }
        if let Some(one) = specs.first() {
            tracing::info!(
                vcenter,
                moid = %one.moid,
                fault = e.fault_name().unwrap_or_default(),
                "vCenter cannot answer for one entity (gone or its host not connected): \
                 left out of this cycle, rediscovering"
            );
            q.failed.insert(one.moid.clone());
        }
        return Ok(vec![]);
    }
    Err(specs)
}

/// What the encode stage did.
struct EncodeTally {
    /// Per kind: whether vCenter returned a sample for some entity.
    kinds_with_data: [bool; EntityKind::COUNT],
    samples: u64,
    lines: u64,
}

/// Stage 2: line protocol from every entity of `rx`, cut into batches of at most
/// `batch_lines` lines or about `batch_bytes` bytes, each carrying the marks of the entities
/// whose last line it holds.
async fn encode(
    mut rx: mpsc::Receiver<EntityMetrics>,
    windows: &MoidMap<&str, Window<'_>>,
    mut encoder: Encoder,
    tx: mpsc::Sender<Pending>,
    opts: &PipelineOptions,
) -> EncodeTally {
    let mut e = EncodeTally {
        kinds_with_data: [false; EntityKind::COUNT],
        samples: 0,
        lines: 0,
    };
    let mut buf = Vec::with_capacity(opts.batch_bytes + 64 * 1024);
    let mut lines = 0usize;
    let mut marks = Vec::new();
    while let Some(m) = rx.recv().await {
        let Some(w) = windows.get(m.moid.as_str()) else {
            tracing::debug!(moid = %m.moid, "QueryPerf returned an entity that was not asked for");
            continue;
        };
        // The encoder is the one place that drops samples outside the window and counts.
        let r = encoder.encode(w.target.entity.kind, &w.target.line, &m, w.start, &mut buf);
        e.samples += r.samples;
        e.lines += r.lines as u64;
        lines += r.lines;
        if let Some(newest) = r.newest {
            e.kinds_with_data[w.target.entity.kind.index()] = true;
            marks.push((m.moid, newest));
        }
        if lines >= opts.batch_lines || buf.len() >= opts.batch_bytes {
            // The next buffer as large as this one: a batch is cut after the entity that
            // crosses `batch_bytes`, so it holds more than that, and a buffer of exactly
            // `batch_bytes` was grown (a copy of the whole batch) once per batch. Pages not
            // written are not resident.
            let capacity = buf.capacity();
            let pending = Pending {
                batch: Batch {
                    body: std::mem::replace(&mut buf, Vec::with_capacity(capacity)),
                    lines: std::mem::take(&mut lines),
                },
                marks: std::mem::take(&mut marks),
            };
            if tx.send(pending).await.is_err() {
                break;
            }
        }
    }
    if lines > 0 || !marks.is_empty() {
        let _ = tx
            .send(Pending {
                batch: Batch { body: buf, lines },
                marks,
            })
            .await;
    }
    e
}

/// What the write stage did.
struct WriteTally {
    /// moid → newest sample, for the entities whose batch the sink has or spooled.
    durable: MoidMap<String, i64>,
    /// Batches refused (or not written after a closed output).
    dropped: u64,
    bytes: u64,
    errors: Vec<String>,
    /// Time spent in `sink.write`.
    busy: std::time::Duration,
}

/// Stage 3: every batch of `rx` to the sink, in order. Marks become durable only while no
/// batch before them was dropped (an entity's progress never passes a lost batch).
async fn write(vcenter: &str, mut rx: mpsc::Receiver<Pending>, sink: &Sink) -> WriteTally {
    let mut w = WriteTally {
        durable: MoidMap::default(),
        dropped: 0,
        bytes: 0,
        errors: Vec::new(),
        busy: std::time::Duration::ZERO,
    };
    while let Some(p) = rx.recv().await {
        w.bytes += p.batch.body.len() as u64;
        let outcome = if p.batch.lines == 0 {
            Outcome::Written
        } else {
            let started = std::time::Instant::now();
            let o = sink.write(p.batch).await;
            w.busy += started.elapsed();
            o
        };
        match outcome {
            Outcome::Written | Outcome::Spooled if w.dropped == 0 => {
                // An entity asked in parts has a mark per part: keep the oldest.
                for (moid, newest) in p.marks {
                    let slot = w.durable.entry(moid).or_insert(newest);
                    *slot = (*slot).min(newest);
                }
            }
            Outcome::Written | Outcome::Spooled => {}
            // A closed stdout: not an error to report, and nothing is durable.
            Outcome::Closed => w.dropped += 1,
            Outcome::Dropped => {
                if w.dropped == 0 {
                    crate::telemetry::metrics().error(vcenter, "sink");
                    w.errors.push(
                        "the sink refused a batch and the spool is full: those entities \
                         will be collected again next cycle"
                            .to_string(),
                    );
                }
                w.dropped += 1;
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::{EntityKind, MetricId, PerfFormat};

    fn spec(kind: EntityKind, moid: &str, ids: usize) -> PerfQuerySpec {
        PerfQuerySpec {
            kind,
            moid: moid.into(),
            start: Some(0),
            end: Some(300),
            max_sample: 2,
            metric_ids: (0..ids)
                .map(|c| MetricId {
                    counter_id: c as i32,
                    instance: String::new(),
                })
                .collect::<Vec<_>>()
                .into(),
            interval_id: 300,
            format: PerfFormat::Normal,
        }
    }

    fn fault(fault: &str, object: Option<&str>) -> Error {
        Error::Fault {
            vcenter: "vc".into(),
            method: "QueryPerf",
            fault: fault.into(),
            message: String::new(),
            object: object.map(str::to_string),
        }
    }

    fn moids(calls: &[Vec<PerfQuerySpec>]) -> Vec<Vec<&str>> {
        calls
            .iter()
            .map(|c| c.iter().map(|s| s.moid.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_refused_call_is_asked_again_in_halves_and_its_size_noted() {
        let mut q = Queried::default();
        let specs = vec![
            spec(EntityKind::Datastore, "ds-1", 7),
            spec(EntityKind::Datastore, "ds-2", 7),
        ];
        let e = fault("RestrictedByAdministrator", None);
        let again = recover("vc", specs, &e, &mut q).unwrap();
        assert_eq!(moids(&again), vec![vec!["ds-1"], vec!["ds-2"]]);
        assert_eq!(q.refused, Some(14));
        // One metric id of one entity: nothing smaller to ask.
        let one = vec![spec(EntityKind::Datastore, "ds-1", 1)];
        assert!(recover("vc", one, &e, &mut q).is_err());
        assert_eq!(q.refused, Some(1));
    }

    #[test]
    fn after_a_refusal_calls_as_large_are_cut_before_they_are_sent() {
        let two = vec![spec(EntityKind::Cluster, "c-1", 2)];
        assert!(!too_large(&two, usize::MAX));
        assert!(too_large(&two, 50));
        assert!(!too_large(&two, 51));
        // Nothing smaller to ask, or realtime (not counted): sent as planned.
        assert!(!too_large(&[spec(EntityKind::Cluster, "c-1", 1)], 1));
        assert!(!too_large(&[spec(EntityKind::Vm, "vm-1", 9)], 1));
    }

    #[test]
    fn a_vanished_entity_is_dropped_and_the_rest_asked_again() {
        let mut q = Queried::default();
        let specs = vec![
            spec(EntityKind::Vm, "vm-1", 3),
            spec(EntityKind::Vm, "vm-2", 3),
            spec(EntityKind::Vm, "vm-3", 3),
        ];
        let e = fault("ManagedObjectNotFound", Some("vm-2"));
        let again = recover("vc", specs.clone(), &e, &mut q).unwrap();
        assert_eq!(moids(&again), vec![vec!["vm-1", "vm-3"]]);
        assert!(q.stale && q.failed.contains("vm-2"));
        // A fault naming an entity of another call does not drop anything here.
        let other = fault("ManagedObjectNotFound", Some("vm-9"));
        assert!(recover("vc", specs.clone(), &other, &mut q).is_err());
        // An object gone but not named: halves, to find it.
        let unnamed = fault("ManagedObjectNotFound", None);
        let again = recover("vc", specs, &unnamed, &mut q).unwrap();
        assert_eq!(moids(&again), vec![vec!["vm-1"], vec!["vm-2", "vm-3"]]);
        // The last one left is the one: dropped, nothing more to ask.
        let mut q = Queried::default();
        let one = vec![spec(EntityKind::Vm, "vm-2", 3)];
        assert!(recover("vc", one, &unnamed, &mut q).unwrap().is_empty());
        assert!(q.stale && q.failed.contains("vm-2"));
        // Any other fault: the call failed.
        let e = fault("SystemError", None);
        assert!(recover("vc", vec![spec(EntityKind::Vm, "vm-1", 3)], &e, &mut q).is_err());
    }

    #[test]
    fn an_entity_on_a_disconnected_host_is_found_by_halves_and_dropped() {
        let e = fault("HostNotConnected", None);
        let mut q = Queried::default();
        let specs: Vec<_> = (1..=4)
            .map(|i| spec(EntityKind::Vm, &format!("vm-{i}"), 3))
            .collect();
        let again = recover("vc", specs, &e, &mut q).unwrap();
        assert_eq!(
            moids(&again),
            vec![vec!["vm-1", "vm-2"], vec!["vm-3", "vm-4"]]
        );
        assert!(q.failed.is_empty(), "nothing dropped before it is found");
        let last = vec![spec(EntityKind::Vm, "vm-3", 3)];
        assert!(recover("vc", last, &e, &mut q).unwrap().is_empty());
        assert_eq!(q.failed.iter().collect::<Vec<_>>(), vec!["vm-3"]);
        assert!(q.stale, "rediscovery follows");
    }
}
