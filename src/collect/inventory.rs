//! The entities of one vCenter that can be collected, with their tags prepared once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::assignment::bucket_of;
use super::encode::{EntityLine, RESERVED_TAGS};
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
        Inventory::with_extras(vcenter, found, &ExtraTags::default())
    }

    /// With the extra tags and fields `x` selects (see [`tags`]).
    pub fn with_extras(vcenter: &str, found: Discovery, x: &ExtraTags) -> Inventory {
        let mut seen = HashMap::new();
        let mut targets = Vec::with_capacity(found.entities.len());
        let mut reserved = std::collections::BTreeSet::new();
        for e in found.entities {
            *seen.entry(e.kind).or_insert(0) += 1;
            if !e.active {
                continue;
            }
            for (k, _) in tags::extra_tags(&e, x) {
                if RESERVED_TAGS.contains(&k) && !reserved.contains(k) {
                    reserved.insert(k.to_string());
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
        Inventory {
            targets,
            seen,
            datastores: Arc::new(found.datastores),
            discovered_at: Instant::now(),
        }
    }
}
