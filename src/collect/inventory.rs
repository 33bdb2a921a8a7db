//! The entities of one vCenter that can be collected, with their tags prepared once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::assignment::bucket_of;
use super::encode::EntityLine;
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
    /// Datastore name by LUN id, for the `dsname` tag of `datastore.*` counters.
    pub datastores: Arc<HashMap<String, String>>,
    pub discovered_at: Instant,
}

impl Inventory {
    pub fn new(vcenter: &str, found: Discovery) -> Inventory {
        let mut seen = HashMap::new();
        let mut targets = Vec::with_capacity(found.entities.len());
        for e in found.entities {
            *seen.entry(e.kind).or_insert(0) += 1;
            if !e.active {
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
            datastores: Arc::new(found.datastores),
            discovered_at: Instant::now(),
        }
    }
}
