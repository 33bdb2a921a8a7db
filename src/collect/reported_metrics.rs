//! What a kind's entities report: `QueryAvailablePerfMetric` on a sample of them, for
//! counter patterns (`<kind>_metric_include = ["cpu.*"]`, see [`super::metric_select`]).
//! Asked once per discovery and only for kinds with patterns: exact counter lists and kinds
//! switched off cost no call.

use std::collections::HashSet;

use futures::stream::{self, StreamExt};

use super::metric_select::{sample, MAX_SAMPLES};
use crate::vsphere::{Client, EntityKind, Error, MetricId};

/// The union of what up to [`MAX_SAMPLES`] of `moids` report at `interval_id`, at most
/// `concurrency` calls at a time. An entity whose call fails is logged and skipped; only when
/// every call fails is it an error.
pub async fn reported(
    client: &Client,
    kind: EntityKind,
    moids: impl IntoIterator<Item = &str>,
    interval_id: i32,
    concurrency: usize,
) -> Result<HashSet<MetricId>, Error> {
    let asked = sample(moids, MAX_SAMPLES);
    // By index: a closure taking a `&str` (higher-ranked) would keep the collector's cycle
    // future from being `Send`.
    let asked = &asked;
    let answers: Vec<(&str, Result<Vec<MetricId>, Error>)> = stream::iter(0..asked.len())
        .map(|i| async move {
            let moid = asked[i];
            (
                moid,
                client.available_metrics(kind, moid, interval_id).await,
            )
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut union = HashSet::new();
    let mut first_error = None;
    let mut answered = 0usize;
    for (moid, r) in answers {
        match r {
            Ok(ids) => {
                answered += 1;
                union.extend(ids);
            }
            Err(e) => {
                tracing::warn!(vcenter = %client.name(), %kind, moid, error = %e, "QueryAvailablePerfMetric failed: entity left out of the sample");
                first_error.get_or_insert(e);
            }
        }
    }
    tracing::info!(vcenter = %client.name(), %kind, sampled = asked.len(), answered, metrics = union.len(), interval_id, "asked what entities report");
    match first_error {
        Some(e) if answered == 0 => Err(e),
        _ => Ok(union),
    }
}
