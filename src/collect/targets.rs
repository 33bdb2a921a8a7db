//! The targets of one vCenter: the entities a discovery found that are collected (active,
//! admitted by their kind's paths), each with its bucket and its tags prepared once. What
//! vCenter's inventory holds is read by `vsphere::inventory`; this module decides which of it
//! is collected and how its lines are tagged.
//!
//! `<kind>_include` / `<kind>_exclude` are applied here, when the inventory is built, so an
//! entity they leave out is never queried (see [`super::path_filter`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::assignment::bucket_of;
use super::encode::{EntityLine, RESERVED_TAGS};
use super::path_filter::PathFilter;
use super::tags::{self, ExtraTags};
use crate::vsphere::{Discovery, Entity, EntityKind};

/// One collectable entity: powered on (VM) or connected (host).
#[derive(Debug, Clone)]
pub struct Target {
    pub entity: Entity,
    /// Its escaped line-protocol tags and extra fields (see [`EntityLine`]).
    pub line: EntityLine,
    pub bucket: u32,
}

/// The targets of one discovery, with what was seen and left out (for the logs).
#[derive(Debug)]
pub struct TargetSet {
    pub targets: Vec<Target>,
    /// All entities seen, active or not, per kind.
    pub seen: HashMap<EntityKind, usize>,
    /// Entities left out by their kind's include/exclude paths (or a kind switched off).
    pub filtered: usize,
    /// Datastore name by LUN id, for the `dsname` tag of `datastore.*` counters.
    pub datastores: Arc<HashMap<String, String>>,
    pub discovered_at: Instant,
}

impl TargetSet {
    /// The active entities `filters` admit (a kind without a filter is not collected), with
    /// the extra tags and fields `x` selects (see [`tags`]).
    pub fn new(
        vcenter: &str,
        found: Discovery,
        filters: &HashMap<EntityKind, PathFilter>,
        x: &ExtraTags,
    ) -> TargetSet {
        let mut seen = HashMap::new();
        let mut filtered = 0;
        let mut targets = Vec::with_capacity(found.entities.len());
        let mut reserved = std::collections::BTreeSet::new();
        let mut shadowed = std::collections::BTreeSet::new();
        for e in found.entities {
            *seen.entry(e.kind).or_insert(0) += 1;
            if !e.active {
                continue;
            }
            if !collected(&e, &found.paths, filters) {
                filtered += 1;
                continue;
            }
            for (k, _) in tags::extra_tags(&e, x) {
                if RESERVED_TAGS.contains(&k) && !reserved.contains(k) {
                    reserved.insert(k.to_string());
                }
            }
            for c in tags::shadowed_categories(&e, x) {
                if !shadowed.contains(c) {
                    shadowed.insert(c.to_string());
                }
            }
            targets.push(Target {
                line: EntityLine::with_extras(vcenter, &e, x),
                bucket: bucket_of(vcenter, &e.moid),
                entity: e,
            });
        }
        for key in reserved {
            tracing::warn!(vcenter, tag = %key, "a custom attribute or property has the name of a tag vcollect writes itself: not written");
        }
        for category in shadowed {
            tracing::warn!(vcenter, %category, "a vSphere tag category has the name of a tag vcollect writes already (its own, a custom attribute or a property): its tags are not written");
        }
        TargetSet {
            targets,
            seen,
            filtered,
            datastores: Arc::new(found.datastores),
            discovered_at: Instant::now(),
        }
    }
}

/// Whether `e` is collected: active, and admitted by its kind's paths (a kind without a
/// filter is not collected).
pub fn collected(
    e: &Entity,
    paths: &HashMap<String, Vec<String>>,
    filters: &HashMap<EntityKind, PathFilter>,
) -> bool {
    let none: &[String] = &[];
    let p = paths.get(&e.moid).map_or(none, Vec::as_slice);
    e.active && filters.get(&e.kind).is_some_and(|f| f.admits(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(kind: EntityKind, moid: &str, active: bool) -> Entity {
        Entity {
            active,
            ..Entity::new(kind, moid, moid)
        }
    }

    /// Only active entities of a kind with a filter, whose paths it admits, become targets.
    #[test]
    fn include_exclude_and_switched_off_kinds_decide_the_targets() {
        let paths = |v: &[(&str, &[&str])]| -> HashMap<String, Vec<String>> {
            v.iter()
                .map(|(m, p)| (m.to_string(), p.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        let found = Discovery {
            entities: vec![
                entity(EntityKind::Vm, "vm-1", true),
                entity(EntityKind::Vm, "vm-2", true),
                entity(EntityKind::Vm, "vm-3", false),
                entity(EntityKind::Vm, "vm-4", true),
                entity(EntityKind::Host, "host-1", true),
                entity(EntityKind::Datastore, "ds-1", true),
            ],
            datastores: HashMap::new(),
            paths: paths(&[
                ("vm-1", &["/DC0/vm/web", "/DC0/host/C0/esx1/web"]),
                ("vm-2", &["/DC0/vm/old/db", "/DC0/host/C0/esx1/db"]),
                ("vm-3", &["/DC0/vm/off"]),
                ("host-1", &["/DC0/host/C0/esx1"]),
                ("ds-1", &["/DC0/datastore/ds1"]),
            ]),
        };
        let filters = HashMap::from([
            (
                EntityKind::Vm,
                PathFilter::new(&["/*/vm/**"], &["/DC0/vm/old/*"]),
            ),
            (EntityKind::Host, PathFilter::new(&["/*/host/**"], &[])),
        ]);
        let inv = TargetSet::new("vc1", found, &filters, &ExtraTags::default());
        let moids: Vec<&str> = inv.targets.iter().map(|t| t.entity.moid.as_str()).collect();
        // vm-2 excluded, vm-3 off, vm-4 without a path, ds-1 of a kind switched off.
        assert_eq!(moids, ["vm-1", "host-1"]);
        assert_eq!(inv.filtered, 3);
        assert_eq!(inv.seen.get(&EntityKind::Vm), Some(&4));
    }
}
