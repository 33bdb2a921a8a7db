//! One cycle's pipeline for one vCenter: query → parse → encode → write, as three stages
//! joined by bounded channels, so memory stays flat whatever the inventory size.
//!
//! * **query**: at most `concurrency` QueryPerf calls in flight; each streams its answer
//!   through the parser, which sends one [`EntityMetrics`] per entity;
//! * **encode**: turns them into line protocol, cut into batches of bounded lines and bytes;
//! * **write**: hands batches to the sink, in order, and reports which entities are durable.
//!
//! The stages are futures joined in one task: the channels give back-pressure, and no
//! unbounded spawning happens however many batches a cycle has.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::encode::Encoder;
use super::inventory::Target;
use crate::sink::{Batch, Outcome, Sink};
use crate::vsphere::{Client, EntityMetrics, PerfQuerySpec};

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
    pub durable: HashMap<String, i64>,
    /// Entities for which vCenter returned at least one sample.
    pub with_data: HashSet<String>,
    /// Entities whose QueryPerf call succeeded (with or without data).
    pub answered: HashSet<String>,
    pub samples: u64,
    pub lines: u64,
    pub bytes: u64,
    pub batches_dropped: u64,
    pub errors: Vec<String>,
    /// vCenter said an entity or view is gone: rediscover before the next cycle.
    pub stale: bool,
}

/// Marks carried with a batch: the entities whose last line is in it, with their newest
/// sample. An entity's samples arrive in one [`EntityMetrics`], so once its batch is
/// written, all of its window is.
struct Pending {
    batch: Batch,
    marks: Vec<(String, i64)>,
}

/// Runs the pipeline for `jobs` (each one QueryPerf call). `targets` maps moid → entity
/// with its window start.
pub async fn run(
    client: &Client,
    jobs: Vec<Vec<PerfQuerySpec>>,
    targets: &HashMap<String, (Target, i64)>,
    mut encoder: Encoder,
    sink: &Sink,
    opts: &PipelineOptions,
) -> PipelineResult {
    let (metrics_tx, mut metrics_rx) = mpsc::channel::<EntityMetrics>(METRICS_CHANNEL);
    let (batch_tx, mut batch_rx) = mpsc::channel::<Pending>(BATCH_CHANNEL);

    let metrics = crate::telemetry::metrics();

    // Stage 1: queries, a bounded number at a time.
    let query = async move {
        let mut errors = Vec::new();
        let mut answered = HashSet::new();
        let mut stale = false;
        {
            let mut calls = futures::stream::iter(jobs)
                .map(|specs| {
                    let tx = metrics_tx.clone();
                    async move {
                        let started = std::time::Instant::now();
                        let r = client.query_perf(&specs, &tx).await;
                        metrics.query_perf(client.name(), started.elapsed());
                        (specs, r)
                    }
                })
                .buffer_unordered(opts.concurrency.max(1));
            while let Some((specs, r)) = calls.next().await {
                match r {
                    Ok(_) => answered.extend(specs.into_iter().map(|s| s.moid)),
                    Err(e) => {
                        metrics.error(client.name(), e.cause());
                        stale |= e.is_stale_view();
                        errors.push(format!("QueryPerf of {} entities: {e}", specs.len()));
                    }
                }
            }
        }
        drop(metrics_tx);
        (answered, errors, stale)
    };

    // Stage 2: encoding into bounded batches.
    let encode = async move {
        let mut with_data = HashSet::new();
        let mut buf = Vec::with_capacity(opts.batch_bytes + 64 * 1024);
        let mut lines = 0usize;
        let mut marks = Vec::new();
        let (mut samples, mut total_lines) = (0u64, 0u64);
        while let Some(m) = metrics_rx.recv().await {
            let Some((target, start)) = targets.get(&m.moid) else {
                tracing::debug!(moid = %m.moid, "QueryPerf returned an entity that was not asked for");
                continue;
            };
            let r = encoder.encode(target.entity.kind, &target.line, &m, *start, &mut buf);
            samples += r.samples;
            total_lines += r.lines as u64;
            lines += r.lines;
            if let Some(newest) = r.newest {
                with_data.insert(m.moid.clone());
                marks.push((m.moid, newest));
            }
            if lines >= opts.batch_lines || buf.len() >= opts.batch_bytes {
                let batch = Batch {
                    body: std::mem::replace(&mut buf, Vec::with_capacity(opts.batch_bytes)),
                    lines,
                };
                lines = 0;
                let pending = Pending {
                    batch,
                    marks: std::mem::take(&mut marks),
                };
                if batch_tx.send(pending).await.is_err() {
                    break;
                }
            }
        }
        if lines > 0 || !marks.is_empty() {
            let _ = batch_tx
                .send(Pending {
                    batch: Batch { body: buf, lines },
                    marks,
                })
                .await;
        }
        (with_data, samples, total_lines)
    };

    // Stage 3: writing, in order.
    let write = async move {
        let mut durable = HashMap::new();
        let mut dropped = 0u64;
        let mut bytes = 0u64;
        let mut errors = Vec::new();
        while let Some(p) = batch_rx.recv().await {
            bytes += p.batch.body.len() as u64;
            let outcome = if p.batch.lines == 0 {
                Outcome::Written
            } else {
                sink.write(p.batch).await
            };
            match outcome {
                Outcome::Written | Outcome::Spooled if dropped == 0 => durable.extend(p.marks),
                Outcome::Written | Outcome::Spooled => {}
                // A closed stdout: not an error to report, and nothing is durable.
                Outcome::Closed => dropped += 1,
                Outcome::Dropped => {
                    if dropped == 0 {
                        metrics.error(client.name(), "sink");
                        errors.push(
                            "the sink refused a batch and the spool is full: those entities \
                             will be collected again next cycle"
                                .to_string(),
                        );
                    }
                    dropped += 1;
                }
            }
        }
        (durable, dropped, bytes, errors)
    };

    let (
        (answered, mut errors, stale),
        (with_data, samples, lines),
        (durable, dropped, bytes, werr),
    ) = tokio::join!(query, encode, write);
    errors.extend(werr);
    PipelineResult {
        durable,
        with_data,
        answered,
        samples,
        lines,
        bytes,
        batches_dropped: dropped,
        errors,
        stale,
    }
}
