//! Entities whose samples came later than the others of their type: a host that posted its
//! share of the 5-minute sample late. A cluster's window moves with the newest sample of each
//! type, so the late entity's missing samples would fall behind it; they are asked again by
//! UUID, from the entity's own newest sample to the window's start, until they arrive or are
//! a day old ([`super::MAX_WINDOW`]). From vSAN 8.0 U2 one spec names up to 400 of them
//! (`<type>:<uuid>,<uuid>,…`); before, one spec each.
//!
//! Only an entity with some sample in a window is known: one whose every sample of the
//! window is late (a host that fell behind by more than the window since the last query, or
//! by more than the first window at the first) is not seen, so not asked again, and its
//! late samples are lost. Keeping every entity seen (not only the late ones) would close
//! that; not done yet.
//!
//! This progress is the node's own: a handover resumes from the cluster's watermark, which
//! a late entity does not hold back (as a late type does).

use std::collections::{BTreeMap, HashMap};

use crate::vsphere::vsan::{entity_ref_ids, VsanSpec, MAX_SPEC_UUIDS};

/// The most late entities kept per cluster (their specs are one call's worth at 400 a spec).
pub const MAX_LATE: usize = 4 * MAX_SPEC_UUIDS;

/// One entity behind the others of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateEntity {
    pub entity_type: String,
    pub uuid: String,
    /// Its newest sample written.
    pub newest: i64,
}

/// The specs that ask `late` again over (its newest, `window_start`]: the window itself asks
/// (`window_start`, now] of every entity. With `multi`, entities of a type share specs of up
/// to 400 UUIDs, each from the oldest of its entities (an overlap for the others, rewritten
/// with the same values).
pub fn specs(late: &[LateEntity], window_start: i64, multi: bool) -> Vec<VsanSpec> {
    let mut by_type: BTreeMap<&str, Vec<&LateEntity>> = BTreeMap::new();
    for e in late.iter().filter(|e| e.newest < window_start) {
        by_type.entry(&e.entity_type).or_default().push(e);
    }
    let mut out = Vec::new();
    for (t, mut es) in by_type {
        es.sort_by_key(|e| e.newest);
        let per = if multi { MAX_SPEC_UUIDS } else { 1 };
        for chunk in es.chunks(per) {
            let uuids: Vec<String> = chunk.iter().map(|e| e.uuid.clone()).collect();
            for id in entity_ref_ids(t, &uuids, multi) {
                out.push(VsanSpec {
                    entity_ref_id: id,
                    start: chunk[0].newest,
                    end: window_start,
                });
            }
        }
    }
    out
}

/// The entities now late: of `newest` (each entity's newest sample of this query, by
/// `entityRefId`) and of `previous` (still late from before, unless answered since), those
/// behind the newest sample of their type, no older than `floor`; at most [`MAX_LATE`], the
/// most recent first.
pub fn late_entities(
    newest: &HashMap<String, i64>,
    previous: Vec<LateEntity>,
    floor: i64,
) -> Vec<LateEntity> {
    let mut all: HashMap<(String, String), i64> = HashMap::new();
    for (id, ts) in newest {
        let (t, u) = id.split_once(':').unwrap_or((id, ""));
        if !u.is_empty() && u != "*" {
            all.insert((t.to_string(), u.to_string()), *ts);
        }
    }
    for e in previous {
        let slot = all.entry((e.entity_type, e.uuid)).or_insert(e.newest);
        *slot = (*slot).max(e.newest);
    }
    let mut top: HashMap<&str, i64> = HashMap::new();
    for ((t, _), ts) in &all {
        let slot = top.entry(t.as_str()).or_insert(*ts);
        *slot = (*slot).max(*ts);
    }
    let mut late: Vec<LateEntity> = all
        .iter()
        .filter(|((t, _), ts)| **ts >= floor && top.get(t.as_str()).is_some_and(|m| *ts < m))
        .map(|((t, u), ts)| LateEntity {
            entity_type: t.clone(),
            uuid: u.clone(),
            newest: *ts,
        })
        .collect();
    late.sort_by(|a, b| (b.newest, &a.uuid).cmp(&(a.newest, &b.uuid)));
    late.truncate(MAX_LATE);
    late
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late(t: &str, u: &str, newest: i64) -> LateEntity {
        LateEntity {
            entity_type: t.into(),
            uuid: u.into(),
            newest,
        }
    }

    #[test]
    fn an_entity_behind_its_type_is_late_until_it_catches_up_or_is_too_old() {
        let newest = HashMap::from([
            ("host-domclient:h0".to_string(), 600),
            ("host-domclient:h1".to_string(), 300),
            ("disk-group:d0".to_string(), 300),
        ]);
        let now_late = late_entities(&newest, vec![late("host-domclient", "h2", 0)], 100);
        assert_eq!(now_late, [late("host-domclient", "h1", 300)]);
        // Still late from before and not answered now: kept, with its own newest.
        let kept = late_entities(&newest, vec![late("host-domclient", "h2", 200)], 100);
        assert_eq!(
            kept,
            [
                late("host-domclient", "h1", 300),
                late("host-domclient", "h2", 200)
            ]
        );
        // Answered up to the others: no longer late.
        let caught = HashMap::from([
            ("host-domclient:h0".to_string(), 900),
            ("host-domclient:h1".to_string(), 900),
        ]);
        assert!(late_entities(&caught, now_late, 100).is_empty());
    }

    #[test]
    fn late_entities_are_asked_from_their_newest_to_the_window() {
        let l = [
            late("vm", "a", 300),
            late("vm", "b", 0),
            late("host", "h", 600),
            late("vm", "c", 900), // not behind this window: the window asks it
        ];
        let multi = specs(&l, 900, true);
        assert_eq!(
            multi,
            [
                VsanSpec {
                    entity_ref_id: "host:h".into(),
                    start: 600,
                    end: 900
                },
                VsanSpec {
                    entity_ref_id: "vm:b,a".into(),
                    start: 0,
                    end: 900
                },
            ]
        );
        let single = specs(&l, 900, false);
        let ids: Vec<(&str, i64)> = single
            .iter()
            .map(|s| (s.entity_ref_id.as_str(), s.start))
            .collect();
        assert_eq!(ids, [("host:h", 600), ("vm:b", 0), ("vm:a", 300)]);
    }
}
