//! `<kind>_metric_include` / `<kind>_metric_exclude`: which counters a kind collects, with
//! Telegraf's wildcard syntax and meaning.
//!
//! * Without `metric_include`, the kind's exact `<kind>_counters` list is used, less what
//!   `metric_exclude` matches.
//! * With `metric_include` it replaces that list. Like Telegraf, a list of plain names (no
//!   wildcard) with no `metric_exclude` is resolved by name, with no call to vCenter
//!   ([`Plan::Names`]). Otherwise the patterns are resolved against what the kind's entities
//!   report (`QueryAvailablePerfMetric` on a sample of them, [`sample`]), include first, then
//!   exclude ([`Plan::Sample`]). vcollect takes the union of what the sampled entities report;
//!   Telegraf takes the largest single entity's set, a subset of it.
//! * `metric_exclude = ["*"]` leaves nothing: the kind is off and costs nothing.

use std::collections::BTreeMap;

use super::wildcard::Wildcard;
use crate::vsphere::{CounterCatalog, MetricId};

/// How many entities of a kind are asked what they report, at most (Telegraf asks 100).
pub const MAX_SAMPLES: usize = 50;

/// How a kind's counter list is obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// These exact `group.name.rollup` names (nothing to ask vCenter but the catalogue).
    Names(Vec<String>),
    /// Patterns, resolved against what a sample of the kind's entities report.
    Sample(MetricFilter),
}

impl Plan {
    pub fn new(counters: &[String], metric_include: &[String], metric_exclude: &[String]) -> Plan {
        let exclude = MetricFilter::new(&[], metric_exclude);
        if metric_include.is_empty() {
            let names = counters.iter().filter(|n| !exclude.excludes(n));
            return Plan::Names(names.cloned().collect());
        }
        if metric_exclude.is_empty() && !metric_include.iter().any(|p| Wildcard::has_meta(p)) {
            return Plan::Names(metric_include.to_vec());
        }
        Plan::Sample(MetricFilter::new(metric_include, metric_exclude))
    }

    /// Whether the kind can have any counter (`metric_exclude = ["*"]` or an empty list: no).
    pub fn is_empty(&self) -> bool {
        match self {
            Plan::Names(n) => n.is_empty(),
            Plan::Sample(f) => f.include.is_empty() || f.excludes_everything(),
        }
    }
}

/// Compiled include and exclude patterns for counter names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricFilter {
    include: Vec<Wildcard>,
    exclude: Vec<Wildcard>,
    /// `*` among the excludes.
    exclude_all: bool,
}

impl MetricFilter {
    pub fn new(include: &[String], exclude: &[String]) -> MetricFilter {
        let compile = |v: &[String]| v.iter().map(|p| Wildcard::name(p)).collect();
        MetricFilter {
            include: compile(include),
            exclude: compile(exclude),
            exclude_all: exclude.iter().any(|p| p == "*"),
        }
    }

    pub fn excludes(&self, name: &str) -> bool {
        self.exclude.iter().any(|w| w.matches(name))
    }

    fn excludes_everything(&self) -> bool {
        self.exclude_all
    }

    /// Included by a pattern and not excluded.
    pub fn admits(&self, name: &str) -> bool {
        self.include.iter().any(|w| w.matches(name)) && !self.excludes(name)
    }
}

/// The metric ids to query, from what sampled entities reported: each counter whose name the
/// filter admits, once, with instance `*` when `instances` is on and some entity reported it
/// per instance, else `""` (the aggregate), as Telegraf collapses them. Sorted by counter id.
pub fn from_available<'a>(
    catalog: &CounterCatalog,
    reported: impl IntoIterator<Item = &'a MetricId>,
    filter: &MetricFilter,
    instances: bool,
) -> Vec<MetricId> {
    let mut per_counter: BTreeMap<i32, bool> = BTreeMap::new();
    for m in reported {
        let Some(c) = catalog.by_key(m.counter_id) else {
            continue;
        };
        if !filter.admits(&c.full_name()) {
            continue;
        }
        *per_counter.entry(m.counter_id).or_default() |= !m.instance.is_empty();
    }
    per_counter
        .into_iter()
        .map(|(counter_id, has_instances)| MetricId {
            counter_id,
            instance: if instances && has_instances {
                "*".into()
            } else {
                String::new()
            },
        })
        .collect()
}

/// Up to `max` of `moids`, spread evenly over the sorted list (deterministic, so two nodes
/// and two discoveries ask the same entities).
pub fn sample<'a>(moids: impl IntoIterator<Item = &'a str>, max: usize) -> Vec<&'a str> {
    let mut all: Vec<&str> = moids.into_iter().collect();
    all.sort_unstable();
    all.dedup();
    if all.len() <= max {
        return all;
    }
    (0..max).map(|i| all[i * all.len() / max]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::Counter;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn catalog() -> CounterCatalog {
        let c = |key, group, name, rollup| Counter::new(key, group, name, rollup, "percent");
        CounterCatalog::new([
            c(2, "cpu", "usage", "average"),
            c(6, "cpu", "usagemhz", "average"),
            c(12, "cpu", "ready", "summation"),
            c(24, "mem", "usage", "average"),
            c(143, "net", "usage", "average"),
            c(146, "net", "droppedRx", "summation"),
        ])
    }

    fn id(counter_id: i32, instance: &str) -> MetricId {
        MetricId {
            counter_id,
            instance: instance.into(),
        }
    }

    #[test]
    fn plans_follow_telegrafs_rules() {
        let counters = s(&["cpu.usage.average", "mem.usage.average"]);
        assert_eq!(
            Plan::new(&counters, &[], &[]),
            Plan::Names(counters.clone())
        );
        // metric_exclude applies to an explicit list too.
        assert_eq!(
            Plan::new(&counters, &[], &s(&["mem.*"])),
            Plan::Names(s(&["cpu.usage.average"]))
        );
        // Plain names and no exclude: by name, no sampling (Telegraf's "simple" selection).
        assert_eq!(
            Plan::new(&counters, &s(&["net.usage.average"]), &[]),
            Plan::Names(s(&["net.usage.average"]))
        );
        assert!(matches!(
            Plan::new(&counters, &s(&["cpu.*"]), &[]),
            Plan::Sample(_)
        ));
        assert!(matches!(
            Plan::new(&counters, &s(&["cpu.usage.average"]), &s(&["x"])),
            Plan::Sample(_)
        ));
        // `["*"]` switches the kind off, whatever else is set.
        assert!(Plan::new(&counters, &[], &s(&["*"])).is_empty());
        assert!(Plan::new(&counters, &s(&["cpu.*"]), &s(&["*"])).is_empty());
        assert!(Plan::new(&[], &[], &[]).is_empty());
        assert!(!Plan::new(&counters, &s(&["cpu.*"]), &[]).is_empty());
    }

    #[test]
    fn available_metrics_are_filtered_and_collapsed() {
        let cat = catalog();
        let reported = [
            id(2, ""),
            id(2, "0"),
            id(2, "1"),
            id(6, ""),
            id(12, "0"),
            id(24, ""),
            id(143, "vmnic0"),
            id(146, ""),
            id(999, ""), // not in the catalogue: ignored
        ];
        let f = MetricFilter::new(&s(&["cpu.*", "net.*"]), &s(&["*.summation"]));
        let got = from_available(&cat, &reported, &f, true);
        assert_eq!(got, vec![id(2, "*"), id(6, ""), id(143, "*")]);
        // Instances off: every counter as its aggregate.
        let got = from_available(&cat, &reported, &f, false);
        assert_eq!(got, vec![id(2, ""), id(6, ""), id(143, "")]);
        // Union over entities: one reports a counter per instance, another only in aggregate.
        let f = MetricFilter::new(&s(&["*"]), &[]);
        let got = from_available(&cat, &[id(24, ""), id(24, "x"), id(24, "")], &f, true);
        assert_eq!(got, vec![id(24, "*")]);
    }

    #[test]
    fn samples_are_spread_and_bounded() {
        let ids: Vec<String> = (0..1000).map(|i| format!("vm-{i:04}")).collect();
        let got = sample(ids.iter().map(String::as_str), 10);
        assert_eq!(got.len(), 10);
        assert_eq!(got[0], "vm-0000");
        assert_eq!(got[9], "vm-0900");
        let few = sample(["b", "a", "a"], 10);
        assert_eq!(few, vec!["a", "b"]);
    }
}
