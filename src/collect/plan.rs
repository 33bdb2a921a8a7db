//! Windows and QueryPerf batches: what to ask vCenter for in one cycle.
//!
//! vCenter has hard limits on one QueryPerf call: an XML request of at most 500,000
//! elements (Telegraf issues #5041, #8169) and, on some setups, a cap on the metrics per
//! call. A batch here respects the configured entity and metric-id caps and a conservative
//! element estimate, whichever comes first.

use crate::vsphere::PerfQuerySpec;

/// Realtime statistics are sampled every 20 seconds.
pub const REALTIME_INTERVAL: i64 = 20;

/// vCenter keeps realtime samples for one hour.
pub const REALTIME_RETENTION: i64 = 3600;

/// vCenter keeps its first historical level ("past day") for a day.
pub const HISTORICAL_RETENTION: i64 = 86_400;

/// vCenter refuses requests of more than 500,000 XML elements; stay well below.
pub const MAX_REQUEST_ELEMENTS: usize = 400_000;

/// How often a kind's samples are taken and how long vCenter keeps them: realtime (20 s for
/// an hour) for VMs and hosts, the first historical interval (300 s for a day by default) for
/// clusters, datastores, datacenters and resource pools. Samples sit on the interval's grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Seconds between samples; also the QueryPerf `intervalId`.
    pub interval: i64,
    /// Seconds vCenter keeps samples of this interval.
    pub retention: i64,
}

/// VMs and hosts.
pub const REALTIME: Cadence = Cadence {
    interval: REALTIME_INTERVAL,
    retention: REALTIME_RETENTION,
};

impl Cadence {
    /// The historical kinds' cadence for vCenter's first historical interval.
    pub fn historical(interval_secs: i64) -> Cadence {
        Cadence {
            interval: interval_secs.max(1),
            retention: HISTORICAL_RETENTION,
        }
    }

    /// The end of this cycle's window: vCenter's clock rounded down to the grid.
    pub fn window_end(self, server_now: i64) -> i64 {
        server_now - server_now.rem_euclid(self.interval)
    }

    /// The start (exclusive) of an entity's window: its last collected sample, else its
    /// bucket's watermark, else `end - lookback` (at least one interval back); never older
    /// than what vCenter keeps.
    pub fn window_start(self, end: i64, last: Option<i64>, lookback_secs: i64) -> i64 {
        let start = last.unwrap_or(end - lookback_secs.max(self.interval));
        start.max(end - self.retention)
    }

    /// `maxSample` for a window: the number of samples in `(start, end]`, plus one because
    /// vCenter also returns the sample at `start` (the client drops it); vCenter keeps the
    /// newest `maxSample` samples, so asking one fewer would lose the oldest one wanted.
    pub fn max_samples(self, start: i64, end: i64) -> u32 {
        let n = (end - start).max(0) / self.interval + 1;
        n.clamp(1, self.retention / self.interval + 1) as u32
    }

    /// Whether a kind of this cadence is due in a cycle whose window ends at `end`, when its
    /// last query was for a window ending at `queried_end`: at most once per interval. A
    /// realtime kind is due every cycle (its windows are as long as the cycle interval).
    pub fn due(self, end: i64, queried_end: Option<i64>) -> bool {
        queried_end.is_none_or(|q| end > q)
    }
}

/// How far an entity's collection got in a cycle, for its bucket's watermark: the newest of
/// its samples now in the sink (`written`), else where its window started. An entity that
/// vCenter answered nothing for does not advance: its samples may still come, late (vCenter
/// posts realtime samples 20-40 s behind its clock, minutes behind a busy or reconnecting
/// host, and historical ones sometimes more than 30 minutes late). `start` is never older
/// than what vCenter keeps ([`Cadence::window_start`]), so an entity silent for longer than
/// that stops holding its bucket back.
pub fn entity_reached(start: i64, written: Option<i64>) -> i64 {
    written.map_or(start, |w| w.max(start))
}

/// XML elements one spec adds to a request: entity, times, maxSample, intervalId, format,
/// and three per metric id (metricId, counterId, instance).
fn elements(spec: &PerfQuerySpec) -> usize {
    8 + 3 * spec.metric_ids.len()
}

/// Groups specs into QueryPerf calls of at most `max_entities` entities, `max_metrics`
/// metric ids and [`MAX_REQUEST_ELEMENTS`] elements. A spec larger than a limit on its own
/// still goes alone in a call.
pub fn batches(
    specs: impl IntoIterator<Item = PerfQuerySpec>,
    max_entities: usize,
    max_metrics: usize,
) -> Vec<Vec<PerfQuerySpec>> {
    let mut out = Vec::new();
    let mut cur: Vec<PerfQuerySpec> = Vec::new();
    let (mut metrics, mut elems) = (0usize, 0usize);
    for spec in specs {
        let (m, e) = (spec.metric_ids.len(), elements(&spec));
        if !cur.is_empty()
            && (cur.len() >= max_entities
                || metrics + m > max_metrics
                || elems + e > MAX_REQUEST_ELEMENTS)
        {
            out.push(std::mem::take(&mut cur));
            metrics = 0;
            elems = 0;
        }
        metrics += m;
        elems += e;
        cur.push(spec);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::vsphere::{EntityKind, MetricId, PerfFormat};

    fn spec(i: usize, metrics: usize) -> PerfQuerySpec {
        PerfQuerySpec {
            kind: EntityKind::Vm,
            moid: format!("vm-{i}"),
            start: Some(0),
            end: Some(60),
            max_sample: 4,
            metric_ids: (0..metrics)
                .map(|c| MetricId {
                    counter_id: c as i32,
                    instance: "*".into(),
                })
                .collect::<Vec<_>>()
                .into(),
            interval_id: 20,
            format: PerfFormat::Normal,
        }
    }

    #[test]
    fn windows_are_aligned_and_capped() {
        let r = REALTIME;
        assert_eq!(r.window_end(1_000_019), 1_000_000);
        assert_eq!(r.window_end(1_000_000), 1_000_000);
        assert_eq!(r.window_start(10_000, None, 300), 9_700);
        assert_eq!(r.window_start(10_000, Some(9_980), 300), 9_980);
        assert_eq!(r.window_start(10_000, Some(1_000), 300), 10_000 - 3600);
        assert_eq!(r.max_samples(9_700, 10_000), 16);
        assert_eq!(r.max_samples(0, 100_000), 181);
    }

    #[test]
    fn historical_windows_follow_the_servers_interval() {
        let h = Cadence::historical(300);
        assert_eq!(h.window_end(1_000_299), 1_000_200);
        // The first window is at least one interval long, whatever the lookback.
        assert_eq!(h.window_start(1_000_200, None, 60), 999_900);
        // A day back at most, a day's samples (+1 for the one at start) at most.
        assert_eq!(h.window_start(1_000_200, Some(0), 60), 1_000_200 - 86_400);
        assert_eq!(h.max_samples(999_900, 1_000_200), 2);
        assert_eq!(h.max_samples(0, 10_000_000), 289);
        // Due once per interval: the same window end is not asked twice.
        assert!(h.due(1_000_200, None));
        assert!(!h.due(1_000_200, Some(1_000_200)));
        assert!(h.due(1_000_500, Some(1_000_200)));
    }

    #[test]
    fn an_entity_without_new_samples_does_not_advance() {
        assert_eq!(entity_reached(9_980, None), 9_980);
        assert_eq!(entity_reached(9_980, Some(10_040)), 10_040);
        // Silent for longer than retention: its start, hence the bucket, follows vCenter's
        // clock minus one hour.
        let end = 100_000;
        assert_eq!(
            entity_reached(REALTIME.window_start(end, Some(1_000), 300), None),
            end - REALTIME_RETENTION
        );
    }

    #[test]
    fn batches_respect_entity_cap() {
        let b = batches((0..10).map(|i| spec(i, 5)), 4, 1000);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
    }

    #[test]
    fn a_huge_spec_goes_alone() {
        let b = batches(vec![spec(0, 10), spec(1, 500), spec(2, 10)], 64, 100);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    proptest! {
        #[test]
        fn batches_keep_every_spec_once_within_limits(
            sizes in prop::collection::vec(1usize..400, 0..300),
            max_entities in 1usize..80,
            max_metrics in 1usize..5000,
        ) {
            let specs: Vec<_> = sizes.iter().enumerate().map(|(i, &m)| spec(i, m)).collect();
            let out = batches(specs.clone(), max_entities, max_metrics);
            let flat: Vec<_> = out.iter().flatten().cloned().collect();
            prop_assert_eq!(flat, specs);
            for b in &out {
                prop_assert!(!b.is_empty());
                let m: usize = b.iter().map(|s| s.metric_ids.len()).sum();
                let e: usize = b.iter().map(elements).sum();
                if b.len() > 1 {
                    prop_assert!(b.len() <= max_entities);
                    prop_assert!(m <= max_metrics);
                    prop_assert!(e <= MAX_REQUEST_ELEMENTS);
                }
            }
        }
    }

    #[test]
    fn metric_ids_are_shared_not_copied() {
        let ids: Arc<[MetricId]> = vec![MetricId {
            counter_id: 1,
            instance: String::new(),
        }]
        .into();
        let a = PerfQuerySpec {
            metric_ids: ids.clone(),
            ..spec(0, 0)
        };
        assert!(Arc::ptr_eq(&a.metric_ids, &ids));
    }
}
