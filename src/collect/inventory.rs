//! The entities of one vCenter that can be collected, with their tags prepared once.

use std::collections::HashMap;
use std::time::Instant;

use super::assignment::bucket_of;
use super::encode::entity_tags;
use crate::vsphere::{Entity, EntityKind};

/// One collectable entity: powered on (VM) or connected (host).
#[derive(Debug, Clone)]
pub struct Target {
    pub entity: Entity,
    /// Escaped line-protocol tag set (see [`entity_tags`]).
    pub tags: Vec<u8>,
    pub bucket: u32,
}

/// The result of one discovery.
#[derive(Debug)]
pub struct Inventory {
    pub targets: Vec<Target>,
    /// All entities seen, active or not, per kind.
    pub seen: HashMap<EntityKind, usize>,
    pub discovered_at: Instant,
}

impl Inventory {
    pub fn new(vcenter: &str, entities: Vec<Entity>) -> Inventory {
        let mut seen = HashMap::new();
        let mut targets = Vec::with_capacity(entities.len());
        for e in entities {
            *seen.entry(e.kind).or_insert(0) += 1;
            if !e.active {
                continue;
            }
            targets.push(Target {
                tags: entity_tags(vcenter, &e),
                bucket: bucket_of(vcenter, &e.moid),
                entity: e,
            });
        }
        Inventory {
            targets,
            seen,
            discovered_at: Instant::now(),
        }
    }
}
