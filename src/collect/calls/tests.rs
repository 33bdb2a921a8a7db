use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::vsphere::{EntityKind, MetricId, PerfFormat};

fn spec_of(kind: EntityKind, i: usize, metrics: usize) -> PerfQuerySpec {
    PerfQuerySpec {
        kind,
        moid: format!("{kind:?}-{i}"),
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

fn spec(i: usize, metrics: usize) -> PerfQuerySpec {
    spec_of(EntityKind::Vm, i, metrics)
}

fn count(s: &PerfQuerySpec) -> usize {
    s.metric_ids.len()
}

#[test]
fn batches_respect_entity_cap() {
    let b = batches((0..10).map(|i| spec(i, 5)), 4, 1000, count);
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
}

#[test]
fn a_huge_spec_goes_alone() {
    let b = batches(vec![spec(0, 10), spec(1, 500), spec(2, 10)], 64, 100, count);
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
}

/// The inventory: a dozen clusters, 40 datastores, their pools, beside VMs and
/// hosts. No call mixes realtime and historical specs, none asks more than the limit, and
/// every metric id of every entity is asked exactly once.
#[test]
fn historical_calls_stay_within_max_query_metrics_and_never_carry_realtime_specs() {
    for limit in [64, 256] {
        let mut specs = Vec::new();
        specs.extend((0..100).map(|i| spec_of(EntityKind::Vm, i, 34)));
        specs.extend((0..20).map(|i| spec_of(EntityKind::Host, i, 40)));
        specs.extend((0..12).map(|i| spec_of(EntityKind::Cluster, i, 16)));
        specs.extend((0..40).map(|i| spec_of(EntityKind::Datastore, i, 7)));
        specs.extend((0..36).map(|i| spec_of(EntityKind::ResourcePool, i, 8)));
        let want: usize = specs.iter().map(count).sum();
        let limits = CallLimits {
            max_entities: 64,
            historical_metrics: Some(limit),
        };
        let calls = plan(specs, limits);
        let mut asked: HashMap<(String, i32), usize> = HashMap::new();
        for call in &calls {
            let realtime = call.iter().filter(|s| s.kind.is_realtime()).count();
            assert!(realtime == 0 || realtime == call.len(), "mixed call");
            assert!(
                historical_cost(call) <= limit,
                "{limit}: {}",
                historical_cost(call)
            );
            for s in call {
                for m in s.metric_ids.iter() {
                    *asked.entry((s.moid.clone(), m.counter_id)).or_default() += 1;
                }
            }
        }
        assert_eq!(asked.len(), want);
        assert!(asked.values().all(|n| *n == 1));
        // Telegraf's 10 cluster metric ids per call at 256, 2 at 64.
        let cluster_ids = calls
            .iter()
            .flatten()
            .filter(|s| s.kind == EntityKind::Cluster)
            .map(count)
            .max();
        assert_eq!(cluster_ids, Some(limit / CLUSTER_METRIC_WEIGHT));
    }
}

#[test]
fn without_a_limit_historical_calls_are_bounded_by_size_only() {
    let specs = (0..30)
        .map(|i| spec_of(EntityKind::Datastore, i, 7))
        .collect();
    let limits = CallLimits {
        max_entities: 64,
        historical_metrics: None,
    };
    assert_eq!(plan(specs, limits).len(), 1);
}

#[test]
fn a_refused_call_halves_until_one_metric_id() {
    let [a, b] = halve(vec![spec(0, 3), spec(1, 3), spec(2, 3)]).unwrap();
    assert_eq!((a.len(), b.len()), (1, 2));
    let [a, b] = halve(vec![spec(0, 5)]).unwrap();
    assert_eq!((count(&a[0]), count(&b[0])), (2, 3));
    assert_eq!(a[0].moid, b[0].moid);
    assert!(halve(vec![spec(0, 1)]).is_none());
}

proptest! {
    #[test]
    fn batches_keep_every_spec_once_within_limits(
        sizes in prop::collection::vec(1usize..400, 0..300),
        max_entities in 1usize..80,
        max_metrics in 1usize..5000,
    ) {
        let specs: Vec<_> = sizes.iter().enumerate().map(|(i, &m)| spec(i, m)).collect();
        let out = batches(specs.clone(), max_entities, max_metrics, count);
        let flat: Vec<_> = out.iter().flatten().cloned().collect();
        prop_assert_eq!(flat, specs);
        for b in &out {
            prop_assert!(!b.is_empty());
            let m: usize = b.iter().map(count).sum();
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

/// vCenter refuses a request of more than 500,000 XML elements (start tags, nested ones
/// included). Whatever the inventory and configuration, every planned call, serialized as it
/// is sent (with the envelope), stays below it: 300 VMs of 400 metric ids each (120,000
/// ids, more than two full calls) with the entity cap lifted, and historical specs with the
/// maxQueryMetrics limit lifted.
#[test]
fn every_planned_request_stays_below_vcenters_element_limit() {
    let start_tags = |doc: &str| {
        doc.matches('<').count()
            - doc.matches("</").count()
            - doc.matches("<?").count()
            - doc.matches("<!").count()
    };
    let mut specs: Vec<_> = (0..300).map(|i| spec(i, 400)).collect();
    specs.extend((0..200).map(|i| spec_of(EntityKind::Datastore, i, 400)));
    let limits = CallLimits {
        max_entities: usize::MAX,
        historical_metrics: None,
    };
    let planned = plan(specs, limits);
    assert!(planned.len() > 2, "{} calls", planned.len());
    for call in &planned {
        let doc = crate::vsphere::request_body("PerformanceManager", "PerfMgr", call);
        // With the SOAP envelope's Envelope and Body.
        let n = start_tags(&doc) + 2;
        assert!(
            n <= MAX_REQUEST_ELEMENTS,
            "{n} elements in a call of {}",
            call.len()
        );
        assert!(
            n < 500_000 && doc.len() < 20_000_000,
            "{n} elements, {} bytes",
            doc.len()
        );
    }
}
