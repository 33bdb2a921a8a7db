//! vSphere tags at discovery: which entities are asked about, what happens when the tagging
//! service fails, and the tags' shape on the entity.
//!
//! Only the entities that will be collected (active, admitted by their kind's paths) are
//! asked about, in bulk (`vsphere::attached_tags`). If the tagging service fails (REST
//! unreachable, a missing privilege), the inventory is still collected: each entity keeps
//! the tags the last successful read gave it, so its series do not lose their tags (and
//! split) because of one failed read; the failure is logged and counted in
//! `vcollect_errors_total`.

use std::collections::HashMap;
use std::time::Instant;

use super::path_filter::PathFilter;
use super::tags::{join_categories, ExtraTags};
use super::targets::collected;
use crate::vsphere::{attached_tags, ClientOptions, Discovery, EntityKind};

/// The vSphere tags of one vCenter's entities, as last read.
#[derive(Debug, Default)]
pub struct VsphereTags {
    /// Per moid, its `(category, value)` tags (several tags of a category joined), from the
    /// last successful read; `None` before the first.
    last: Option<HashMap<String, Vec<(String, String)>>>,
}

impl VsphereTags {
    /// Reads the tags of the entities of `found` that will be collected (see
    /// [`collected`]) and puts them on them (`extras.vsphere_tags`). Nothing is asked while
    /// no category is included.
    pub async fn attach(
        &mut self,
        opts: &ClientOptions,
        found: &mut Discovery,
        filters: &HashMap<EntityKind, PathFilter>,
        x: &ExtraTags,
    ) {
        if !x.vsphere_tags() {
            return;
        }
        let objects: Vec<(EntityKind, String)> = found
            .entities
            .iter()
            .filter(|e| collected(e, &found.paths, filters))
            .map(|e| (e.kind, e.moid.clone()))
            .collect();
        let started = Instant::now();
        let selected = |name: &str| x.category_selected(name);
        match attached_tags(opts, &objects, &selected).await {
            Ok(read) => {
                let skipped: Vec<&String> = read
                    .categories
                    .iter()
                    .filter(|c| !x.category_selected(c))
                    .collect();
                tracing::info!(
                    vcenter = %opts.name,
                    objects = objects.len(),
                    tagged = read.by_moid.len(),
                    categories = read.categories.len(),
                    not_selected = ?skipped,
                    calls = read.calls,
                    took_ms = started.elapsed().as_millis() as u64,
                    "read vSphere tags"
                );
                let by_moid = read
                    .by_moid
                    .into_iter()
                    .map(|(moid, pairs)| (moid, join_categories(&pairs)))
                    .collect();
                self.last = Some(by_moid);
            }
            Err(e) => {
                crate::telemetry::metrics().error(&opts.name, e.cause());
                tracing::warn!(
                    vcenter = %opts.name,
                    error = %e,
                    kept = self.last.is_some(),
                    "reading vSphere tags failed: the entities keep the tags of the last read"
                );
            }
        }
        let Some(last) = &self.last else {
            return;
        };
        for e in &mut found.entities {
            if let Some(tags) = last.get(&e.moid) {
                e.extras.vsphere_tags = tags.clone();
            }
        }
    }
}
