//! QueryPerf calls: which specs go together in one call, within vCenter's limits, and how a
//! refused call is cut so that its parts pass.
//!
//! vCenter enforces two limits on one call:
//! * an XML request of at most 500,000 elements (Telegraf issues #5041, #8169), whatever
//!   the statistics asked;
//! * `config.vpxd.stats.maxQueryMetrics` (256 by default since vCenter 6.5, 64 before, -1
//!   for none) on the metrics (entity x metric id) a call asks of **historical** statistics:
//!   above it, the whole call is refused with `RestrictedByAdministrator`. Realtime (20 s)
//!   statistics are not counted (Telegraf sends up to 50,000 realtime metric ids per call).
//!
//! So realtime (VM, host) and historical (cluster, datastore, resource pool, datacenter)
//! specs never share a call: a refused historical part would cost the realtime samples too.
//!
//! Clusters: vCenter counts a cluster's metrics more than once (prydin in Telegraf #5037: it
//! "over-counts the number of objects queried"; govmomi #2438: about 15 cluster metrics
//! refused under the default 256), while Telegraf's cap of 10 metric ids per cluster call
//! passes at 256 in the field. One cluster metric id therefore counts as
//! [`CLUSTER_METRIC_WEIGHT`] here: between 256/15 (refused) and 256/10 (passes), at the safe
//! end, which gives Telegraf's 10 ids at 256 and 2 at 64. A cluster's ids are cut over as
//! many specs (and calls) as that takes; an entity's samples may then arrive in several
//! parts, which the pipeline only counts as written once every part was answered.

use std::sync::Arc;

use crate::vsphere::{EntityKind, MetricId, PerfQuerySpec};

/// vCenter refuses requests of more than 500,000 XML elements; stay well below.
pub const MAX_REQUEST_ELEMENTS: usize = 400_000;

/// Metric ids per call when maxQueryMetrics does not apply (realtime statistics, or a
/// vCenter set to -1): Telegraf's `maxRealtimeMetrics` (PR #8357, after requests over
/// 100,000 hit the 500,000-element limit).
pub const MAX_CALL_METRICS: usize = 50_000;

/// What one cluster metric id counts toward maxQueryMetrics (see the module notes).
pub const CLUSTER_METRIC_WEIGHT: usize = 25;

/// The limits calls are planned within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// `collect.max_query_entities`: specs per call.
    pub max_entities: usize,
    /// maxQueryMetrics for historical statistics (`None`: no limit).
    pub historical_metrics: Option<usize>,
}

/// What a spec counts toward maxQueryMetrics: its metric ids, a cluster's weighted.
pub fn cost(spec: &PerfQuerySpec) -> usize {
    let weight = match spec.kind {
        EntityKind::Cluster => CLUSTER_METRIC_WEIGHT,
        _ => 1,
    };
    spec.metric_ids.len() * weight
}

/// The historical metrics a call asks for (0 for a realtime call, which is not counted).
pub fn historical_cost(specs: &[PerfQuerySpec]) -> usize {
    specs
        .iter()
        .filter(|s| !s.kind.is_realtime())
        .map(cost)
        .sum()
}

/// XML elements one spec adds to a request: entity, times, maxSample, intervalId, format,
/// and three per metric id (metricId, counterId, instance).
fn elements(spec: &PerfQuerySpec) -> usize {
    8 + 3 * spec.metric_ids.len()
}

/// The calls for `specs`: realtime specs in calls of at most `max_entities` specs and
/// [`MAX_CALL_METRICS`] metric ids; historical specs in their own calls, each asking at most
/// the historical limit (a spec above it on its own is cut into parts by metric id first).
/// Every call stays under [`MAX_REQUEST_ELEMENTS`].
pub fn plan(specs: Vec<PerfQuerySpec>, limits: CallLimits) -> Vec<Vec<PerfQuerySpec>> {
    let (realtime, historical): (Vec<_>, Vec<_>) =
        specs.into_iter().partition(|s| s.kind.is_realtime());
    let budget = limits.historical_metrics.unwrap_or(MAX_CALL_METRICS).max(1);
    let parts = historical
        .into_iter()
        .flat_map(|s| split_to_fit(s, budget))
        .collect::<Vec<_>>();
    let mut out = batches(
        realtime,
        limits.max_entities,
        MAX_CALL_METRICS,
        |s: &PerfQuerySpec| s.metric_ids.len(),
    );
    out.extend(batches(parts, limits.max_entities, budget, cost));
    out
}

/// `spec` cut by metric id into parts that each cost at most `budget` (one id at least).
fn split_to_fit(spec: PerfQuerySpec, budget: usize) -> Vec<PerfQuerySpec> {
    if cost(&spec) <= budget || spec.metric_ids.len() <= 1 {
        return vec![spec];
    }
    let per_id = cost(&spec) / spec.metric_ids.len();
    let ids_per_part = (budget / per_id.max(1)).max(1);
    spec.metric_ids
        .chunks(ids_per_part)
        .map(|ids| with_ids(&spec, ids))
        .collect()
}

fn with_ids(spec: &PerfQuerySpec, ids: &[MetricId]) -> PerfQuerySpec {
    PerfQuerySpec {
        metric_ids: Arc::from(ids),
        ..spec.clone()
    }
}

/// Groups specs, in order, into calls of at most `max_entities` specs, `max_cost` by `cost`
/// and [`MAX_REQUEST_ELEMENTS`] elements. A spec larger than a limit on its own still goes
/// alone in a call.
pub fn batches(
    specs: impl IntoIterator<Item = PerfQuerySpec>,
    max_entities: usize,
    max_cost: usize,
    cost: impl Fn(&PerfQuerySpec) -> usize,
) -> Vec<Vec<PerfQuerySpec>> {
    let mut out = Vec::new();
    let mut cur: Vec<PerfQuerySpec> = Vec::new();
    let (mut total, mut elems) = (0usize, 0usize);
    for spec in specs {
        let (c, e) = (cost(&spec), elements(&spec));
        if !cur.is_empty()
            && (cur.len() >= max_entities
                || total + c > max_cost
                || elems + e > MAX_REQUEST_ELEMENTS)
        {
            out.push(std::mem::take(&mut cur));
            total = 0;
            elems = 0;
        }
        total += c;
        elems += e;
        cur.push(spec);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A call vCenter refused for its size, cut in two: its specs in halves, or a lone spec's
/// metric ids in halves. `None` when it is one spec of one metric id (nothing smaller to
/// ask).
pub fn halve(mut specs: Vec<PerfQuerySpec>) -> Option<[Vec<PerfQuerySpec>; 2]> {
    if specs.len() > 1 {
        let rest = specs.split_off(specs.len() / 2);
        return Some([specs, rest]);
    }
    let spec = specs.pop()?;
    let n = spec.metric_ids.len();
    if n <= 1 {
        return None;
    }
    let (a, b) = spec.metric_ids.split_at(n / 2);
    Some([vec![with_ids(&spec, a)], vec![with_ids(&spec, b)]])
}

#[cfg(test)]
mod tests;
