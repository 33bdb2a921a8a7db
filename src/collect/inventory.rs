//! The entities of one vCenter that are collected, with their tags prepared once.
//!
//! `<kind>_include` / `<kind>_exclude` are applied here, when the inventory is built, so an
//! entity they leave out is never queried (see [`super::path_filter`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::assignment::bucket_of;
use super::encode::EntityLine;
use super::path_filter::PathFilter;
use crate::vsphere::{Discovery, Entity, EntityKind};

/// One collectable entity: powered on (VM) or connected (host).
#[derive(Debug, Clone)]
pub struct Target {
    pub entity: Entity,
    /// Its escaped line-protocol tags and extra fields (see [`EntityLine`]).
    pub line: EntityLine,
    pub bucket: u32,
}

/// The result of one discovery.
#[derive(Debug)]
pub struct Inventory {
    pub targets: Vec<Target>,
    /// All entities seen, active or not, per kind.
    pub seen: HashMap<EntityKind, usize>,
    /// Entities left out by their kind's include/exclude paths (or a kind switched off).
    pub filtered: usize,
    /// Datastore name by LUN id, for the `dsname` tag of `datastore.*` counters.
    pub datastores: Arc<HashMap<String, String>>,
    pub discovered_at: Instant,
}

impl Inventory {
    /// The active entities `filters` admit: a kind without a filter is not collected.
    pub fn new(
        vcenter: &str,
        found: Discovery,
        filters: &HashMap<EntityKind, PathFilter>,
    ) -> Inventory {
        let mut seen = HashMap::new();
        let mut filtered = 0;
        let mut targets = Vec::with_capacity(found.entities.len());
        let none = Vec::new();
        for e in found.entities {
            *seen.entry(e.kind).or_insert(0) += 1;
            if !e.active {
                continue;
            }
            let paths = found.paths.get(&e.moid).unwrap_or(&none);
            if !filters.get(&e.kind).is_some_and(|f| f.admits(paths)) {
                filtered += 1;
                continue;
            }
            targets.push(Target {
                line: EntityLine::new(vcenter, &e),
                bucket: bucket_of(vcenter, &e.moid),
                entity: e,
            });
        }
        Inventory {
            targets,
            seen,
            filtered,
            datastores: Arc::new(found.datastores),
            discovered_at: Instant::now(),
        }
    }
}
