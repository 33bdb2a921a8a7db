//! Configured counter names against the counter catalogue a real vCenter has.
//!
//! Keys differ between vCenter versions (and from the simulator's), names match exactly
//! (`mem.swapIn.average` and `mem.swapin.average` are two counters), and a catalogue need not
//! hold every configured counter. A counter the vCenter lacks, or one no entity reports
//! (vCenter then leaves it out of the answer), is logged **once per session** and skipped:
//! it is not an error of every cycle. The log names close candidates for a name that is not
//! in the catalogue, and the statistics level for a counter above what vCenter keeps.
//!
//! The catalogue itself is read by `vsphere::counters`; the counters one cycle queries, per
//! kind, are `vcenter::ResolvedCounters`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::vsphere::{CounterCatalog, EntityKind, MetricId};

/// The configuration key of a kind's counter list, for messages (`collect.<this>`).
pub fn list_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Vm => "vm_counters",
        EntityKind::Host => "host_counters",
        EntityKind::Cluster => "cluster_counters",
        EntityKind::Datastore => "datastore_counters",
        EntityKind::Datacenter => "datacenter_counters",
        EntityKind::ResourcePool => "resource_pool_counters",
        EntityKind::Vsan => "vsan_metric_include",
    }
}

/// Configured names resolved to metric ids, and the names the catalogue lacks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub ids: Vec<MetricId>,
    /// Each unknown name with its close candidates.
    pub unknown: Vec<(String, Vec<String>)>,
}

/// Resolves `names` exactly; `instances` asks for every instance (`*`) or the aggregate.
pub fn resolve(catalog: &CounterCatalog, names: &[String], instances: bool) -> Resolution {
    let mut r = Resolution::default();
    for n in names {
        match catalog.by_name(n) {
            Some(c) => r.ids.push(MetricId {
                counter_id: c.key,
                instance: if instances { "*".into() } else { String::new() },
            }),
            None => r.unknown.push((n.clone(), close_candidates(catalog, n))),
        }
    }
    r
}

/// Up to five catalogue names close to `name`: the same name in another case, the same
/// `group.name` with another rollup, or the same counter name in another group.
pub fn close_candidates(catalog: &CounterCatalog, name: &str) -> Vec<String> {
    let lower = name.to_ascii_lowercase();
    let stem = |n: &str| {
        n.rsplit_once('.')
            .map_or(n, |(s, _)| s)
            .to_ascii_lowercase()
    };
    let counter = |n: &str| {
        n.split_once('.')
            .map_or(n, |(_, rest)| rest)
            .to_ascii_lowercase()
    };
    let (want_stem, want_counter) = (stem(name), counter(name));
    let mut found: Vec<(u8, &str)> = catalog
        .names()
        .filter_map(|n| {
            let rank = if n.to_ascii_lowercase() == lower {
                0
            } else if stem(n) == want_stem {
                1
            } else if counter(n) == want_counter {
                2
            } else {
                return None;
            };
            Some((rank, n))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Which counters the answers of one cycle held at all. Shared between the encoder (which
/// marks them as it goes) and the collector (which reads them after the cycle).
#[derive(Debug, Clone, Default)]
pub struct Reported {
    /// Counter id → index into `seen`; looked up once per series with data, so foldhash.
    index: Arc<HashMap<i32, usize, foldhash::fast::RandomState>>,
    seen: Arc<[AtomicBool]>,
}

impl Reported {
    pub fn new(ids: impl IntoIterator<Item = i32>) -> Reported {
        let mut index = HashMap::default();
        for id in ids {
            let next = index.len();
            index.entry(id).or_insert(next);
        }
        let seen = (0..index.len()).map(|_| AtomicBool::new(false)).collect();
        Reported {
            index: Arc::new(index),
            seen,
        }
    }

    pub fn mark(&self, id: i32) {
        if let Some(&i) = self.index.get(&id) {
            self.seen[i].store(true, Ordering::Relaxed);
        }
    }

    pub fn contains(&self, id: i32) -> bool {
        self.index
            .get(&id)
            .is_some_and(|&i| self.seen[i].load(Ordering::Relaxed))
    }
}

/// What was already said about counters in this session (logged once, then skipped).
#[derive(Debug, Default)]
pub struct CounterNotes {
    session: u64,
    said: HashSet<String>,
}

impl CounterNotes {
    /// A new session may bring another catalogue (vCenter upgraded): say everything again.
    pub fn session(&mut self, generation: u64) {
        if generation != self.session {
            self.session = generation;
            self.said.clear();
        }
    }

    /// Logs each unknown counter of `list` once per session.
    pub fn unknown(&mut self, vcenter: &str, list: &str, r: &Resolution) {
        for (name, candidates) in &r.unknown {
            if self.said.insert(format!("unknown {list} {name}")) {
                tracing::warn!(
                    vcenter,
                    counter = %name,
                    list = %format!("collect.{list}"),
                    close = %candidates.join(", "),
                    "counter is not in this vCenter's catalogue (names match exactly, case included): skipped"
                );
            }
        }
    }

    /// Logs once per session each asked counter that no answer of a cycle held, with the
    /// statistics level when it is above the server's. Call only after answers with data.
    pub fn unreported(
        &mut self,
        vcenter: &str,
        catalog: &CounterCatalog,
        asked: &[MetricId],
        seen: &Reported,
    ) {
        for id in asked.iter().map(|m| m.counter_id) {
            if seen.contains(id) {
                continue;
            }
            let Some(c) = catalog.by_key(id) else {
                continue;
            };
            let name = c.full_name();
            if !self.said.insert(format!("unreported {name}")) {
                continue;
            }
            let (level, server) = (catalog.level(id), catalog.server_level());
            match (level, server) {
                (Some(l), Some(s)) if l > s => tracing::warn!(
                    vcenter,
                    counter = %name,
                    level = l,
                    server_level = s,
                    "no entity reported this counter: it is above vCenter's statistics level, \
                     raise the level (vCenter > Configure > Statistics) or drop the counter"
                ),
                _ => tracing::info!(
                    vcenter,
                    counter = %name,
                    "no entity reported this counter (vCenter leaves out counters without data): skipped"
                ),
            }
        }
    }

    /// Whether `key` was said (for tests).
    pub fn said(&self, key: &str) -> bool {
        self.said.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::Counter;

    fn catalog() -> CounterCatalog {
        let c = |key, group, name, rollup| Counter::new(key, group, name, rollup, "kiloBytes");
        // Keys as on a vCenter 7.0.2 (tests/fixtures/otel_vcenter), not the simulator's.
        CounterCatalog::new([
            c(531, "net", "bytesRx", "average"),
            c(143, "net", "usage", "average"),
            c(70, "mem", "swapin", "average"),
            c(71, "mem", "swapIn", "average"),
            c(72, "mem", "swapIn", "maximum"),
        ])
        .with_levels(HashMap::from([(531, 2), (143, 1), (70, 2)]), Some(1))
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_match_exactly_with_the_keys_of_this_vcenter() {
        let cat = catalog();
        let r = resolve(
            &cat,
            &names(&[
                "net.bytesRx.average",
                "mem.swapIn.average",
                "mem.swapin.average",
            ]),
            true,
        );
        let ids: Vec<i32> = r.ids.iter().map(|m| m.counter_id).collect();
        assert_eq!(ids, vec![531, 71, 70]);
        assert!(r.ids.iter().all(|m| m.instance == "*"));
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn an_unknown_counter_names_close_candidates() {
        let cat = catalog();
        let r = resolve(
            &cat,
            &names(&[
                "mem.SWAPIN.average",
                "mem.swapIn.latest",
                "cpu.nothing.average",
            ]),
            false,
        );
        assert!(r.ids.is_empty());
        assert_eq!(
            r.unknown,
            vec![
                (
                    "mem.SWAPIN.average".to_string(),
                    names(&[
                        "mem.swapIn.average",
                        "mem.swapin.average",
                        "mem.swapIn.maximum"
                    ])
                ),
                (
                    "mem.swapIn.latest".to_string(),
                    names(&[
                        "mem.swapIn.average",
                        "mem.swapIn.maximum",
                        "mem.swapin.average"
                    ])
                ),
                ("cpu.nothing.average".to_string(), vec![]),
            ]
        );
    }

    #[test]
    fn each_note_is_said_once_per_session() {
        let cat = catalog();
        let mut notes = CounterNotes::default();
        notes.session(1);
        let r = resolve(&cat, &names(&["cpu.nothing.average"]), false);
        notes.unknown("vc1", "vm_counters", &r);
        assert!(notes.said("unknown vm_counters cpu.nothing.average"));

        let asked = resolve(
            &cat,
            &names(&["net.bytesRx.average", "net.usage.average"]),
            true,
        )
        .ids;
        let seen = Reported::new(asked.iter().map(|m| m.counter_id));
        seen.mark(143);
        notes.unreported("vc1", &cat, &asked, &seen);
        assert!(notes.said("unreported net.bytesRx.average"));
        assert!(!notes.said("unreported net.usage.average"));
        // A new session (vCenter restarted or upgraded) says it again.
        notes.session(2);
        assert!(!notes.said("unreported net.bytesRx.average"));
    }
}
