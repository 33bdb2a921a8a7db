//! vSphere tags: the category and tag names attached to inventory objects, read from
//! vCenter's tagging service (REST, see [`rest`]) in bulk.
//!
//! What is read, and why in this order: the categories (one list, one small GET each: there
//! are few), only those the caller selects by name; the tags of the selected categories
//! (one `list-tags-for-category` each); the tags attached to the objects, in pages of
//! [`OBJECTS_PER_CALL`] with `list-attached-tags-on-objects` (never one call per object);
//! and the names of only those selected tags that some object carries (one GET each, a
//! bounded number in flight). With no category selected, nothing after the category list
//! is asked.

mod rest;

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;

use super::error::Error;
use super::types::EntityKind;
use super::ClientOptions;
use rest::RestSession;

/// Objects per `list-attached-tags-on-objects` call: a bounded request and answer, a few
/// calls for a large inventory.
pub const OBJECTS_PER_CALL: usize = 1000;

/// Small GETs (a category, a tag) in flight at once.
const IN_FLIGHT: usize = 8;

/// The selected vSphere tags of the objects asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachedTags {
    /// Per moid, its (category, tag) names, sorted; objects without a selected tag are
    /// absent.
    pub by_moid: HashMap<String, Vec<(String, String)>>,
    /// The names of the categories that exist, selected or not (for the log).
    pub categories: Vec<String>,
    /// REST calls made, login and logout included.
    pub calls: usize,
}

#[derive(Deserialize)]
struct Category {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}

#[derive(Deserialize)]
struct ObjectId {
    id: String,
}

#[derive(Deserialize)]
struct Attached {
    object_id: ObjectId,
    #[serde(default)]
    tag_ids: Option<Vec<String>>,
}

/// Logs in to the REST API of `opts`' vCenter, reads the tags of `objects` (kind, moid)
/// whose category `selected` accepts, and logs out.
pub async fn attached_tags(
    opts: &ClientOptions,
    objects: &[(EntityKind, String)],
    selected: &(dyn Fn(&str) -> bool + Sync),
) -> Result<AttachedTags, Error> {
    if objects.is_empty() {
        return Ok(AttachedTags::default());
    }
    let s = RestSession::login(opts).await?;
    let r = read(&s, objects, selected).await;
    s.logout().await;
    r.map(|mut t| {
        t.calls += 2;
        t
    })
}

async fn read(
    s: &RestSession,
    objects: &[(EntityKind, String)],
    selected: &(dyn Fn(&str) -> bool + Sync),
) -> Result<AttachedTags, Error> {
    let d = s.dialect;
    let mut out = AttachedTags::default();
    let ids: Vec<String> = s
        .get("list categories", &d.resource("category"))
        .await
        .map(Option::unwrap_or_default)?;
    // Owned ids: a closure taking a reference (higher-ranked) would keep the collector's
    // cycle future from being `Send`.
    let categories: Vec<Category> = futures::stream::iter(ids)
        .map(|id| async move {
            s.get::<Category>("get category", &d.object("category", &id))
                .await
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    out.calls += 1 + categories.len();
    out.categories = categories.iter().map(|c| c.name.clone()).collect();
    out.categories.sort();
    let chosen: Vec<&Category> = categories.iter().filter(|c| selected(&c.name)).collect();
    if chosen.is_empty() {
        return Ok(out);
    }
    // The category of every tag of the selected categories.
    let mut category_of: HashMap<String, &str> = HashMap::new();
    for c in &chosen {
        let (path, body) = match d {
            rest::Dialect::Api => (d.resource("tag"), json!({ "category_id": c.id })),
            rest::Dialect::Rest => (d.object("tag", &c.id), json!({})),
        };
        let tags: Option<Vec<String>> = s
            .post(
                "list-tags-for-category",
                &path,
                d.action("list-tags-for-category"),
                &body,
            )
            .await?;
        out.calls += 1;
        for t in tags.unwrap_or_default() {
            category_of.insert(t, &c.name);
        }
    }
    let attached = attached_pages(s, objects, &mut out.calls).await?;
    // Only the selected tags someone carries are named.
    let wanted: HashSet<String> = attached
        .iter()
        .flat_map(|(_, tags)| tags.iter())
        .filter(|t| category_of.contains_key(t.as_str()))
        .cloned()
        .collect();
    let names: HashMap<String, String> = futures::stream::iter(wanted)
        .map(|id| async move {
            let t: Tag = s.get("get tag", &d.object("tag", &id)).await?;
            Ok::<_, Error>((id, t.name))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    out.calls += names.len();
    for (moid, tags) in attached {
        let mut pairs: Vec<(String, String)> = tags
            .iter()
            .filter_map(|t| {
                let category = category_of.get(t.as_str())?;
                Some((category.to_string(), names.get(t)?.clone()))
            })
            .collect();
        if pairs.is_empty() {
            continue;
        }
        pairs.sort();
        pairs.dedup();
        out.by_moid.insert(moid, pairs);
    }
    Ok(out)
}

/// `list-attached-tags-on-objects` for `objects`, [`OBJECTS_PER_CALL`] at a time: each
/// moid with the ids of its tags.
async fn attached_pages(
    s: &RestSession,
    objects: &[(EntityKind, String)],
    calls: &mut usize,
) -> Result<Vec<(String, Vec<String>)>, Error> {
    let d = s.dialect;
    let path = d.resource("tag-association");
    let mut out = Vec::new();
    for page in objects.chunks(OBJECTS_PER_CALL) {
        let ids: Vec<_> = page
            .iter()
            .map(|(kind, moid)| json!({ "type": kind.vim_type(), "id": moid }))
            .collect();
        let answer: Option<Vec<Attached>> = s
            .post(
                "list-attached-tags-on-objects",
                &path,
                d.action("list-attached-tags-on-objects"),
                &json!({ "object_ids": ids }),
            )
            .await?;
        *calls += 1;
        for a in answer.unwrap_or_default() {
            let tags = a.tag_ids.unwrap_or_default();
            if !tags.is_empty() {
                out.push((a.object_id.id, tags));
            }
        }
    }
    Ok(out)
}
