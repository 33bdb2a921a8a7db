//! Entities whose samples came later than the others': a host that posted its share of the
//! 5-minute sample late. A cluster's window moves with the newest sample of each type, so
//! the late entity's missing samples would fall behind it; they are asked again by UUID,
//! from the entity's own newest sample to the window's start, until they arrive. From vSAN
//! 8.0 U2 one spec names up to 400 of them (`<type>:<uuid>,<uuid>,…`); before, one spec
//! each.
//!
//! Every entity seen is tracked, not only those seen late: a host that falls behind by
//! more than a window between two queries has no sample in the next answer at all (wholly
//! late), and only its last known sample says where to ask it from. An entity stops being
//! tracked when its newest sample is a day old ([`super::MAX_WINDOW`]), or when it has
//! answered nothing for an hour of the cluster's progress ([`ABSENT_LIMIT`]: a VM deleted,
//! a disk removed; asking vanished UUIDs for a day would cost a spec each before 8.0 U2).
//!
//! The node's own window moves with the cluster's progress, but the watermark it commits
//! is held back to the oldest entity still behind ([`held`]): a node that takes the
//! cluster over (a drain, a failure) knows nothing of this list and starts from the
//! watermark, so it asks every entity again from there (an overlap, rewritten with the
//! same values) and loses none of the late one's samples.
//!
//! A late query vSAN refuses (a fault for the whole call, as vSAN answers an `entityRefId`
//! it does not take: "A specified parameter was not correct: entityRefId") is an error of
//! the cycle; its entities stay late, answer nothing, and are given up after
//! [`ABSENT_LIMIT`], which also bounds how long they hold the watermark back.
//!
//! Not covered: an entity wholly late at the first query of a cluster that has no
//! watermark (never seen, so never known to be late).

use std::collections::{BTreeMap, HashMap};

use crate::vsphere::vsan::{entity_ref_ids, VsanSpec, MAX_SPEC_UUIDS};

/// The most late entities kept per cluster (their specs are one call's worth at 400 a
/// spec); the oldest beyond are given up.
pub const MAX_LATE: usize = 4 * MAX_SPEC_UUIDS;

/// How far behind the cluster's progress an entity that answers nothing may fall before it
/// is taken as gone, in seconds.
pub const ABSENT_LIMIT: i64 = 3600;

/// One entity of a cluster's answers (its `entityRefId`, `<type>:<uuid>`) and its newest
/// sample written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub id: String,
    pub newest: i64,
}

impl Known {
    /// The entity type its `entityRefId` names.
    pub fn entity_type(&self) -> &str {
        self.id.split_once(':').map_or(&self.id, |(t, _)| t)
    }

    /// The entity type and the UUID of an `entityRefId` naming one entity; `None` for a
    /// type's `*` or a list.
    fn parts(id: &str) -> Option<(&str, &str)> {
        let (t, u) = id.split_once(':')?;
        (!u.is_empty() && u != "*" && !u.contains(',')).then_some((t, u))
    }
}

/// The specs that ask the entities behind `window_start` again over (their newest,
/// `window_start`]: the window itself asks (`window_start`, now] of every entity. With
/// `multi`, entities of a type share specs of up to 400 UUIDs, each from the oldest of its
/// entities (an overlap for the others, rewritten with the same values).
pub fn specs(known: &[Known], window_start: i64, multi: bool) -> Vec<VsanSpec> {
    let mut by_type: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    for e in known.iter().filter(|e| e.newest < window_start) {
        if let Some((t, u)) = Known::parts(&e.id) {
            by_type.entry(t).or_default().push((e.newest, u));
        }
    }
    let mut out = Vec::new();
    for (t, mut es) in by_type {
        es.sort();
        let per = if multi { MAX_SPEC_UUIDS } else { 1 };
        for chunk in es.chunks(per) {
            let uuids: Vec<String> = chunk.iter().map(|(_, u)| u.to_string()).collect();
            for id in entity_ref_ids(t, &uuids, multi) {
                out.push(VsanSpec {
                    entity_ref_id: id,
                    start: chunk[0].0,
                    end: window_start,
                });
            }
        }
    }
    out
}

/// The entities tracked after a query: those of `answered` (each entity's newest sample of
/// this query's answers, by `entityRefId`) and of `previous`, each at its newest, for the
/// cluster now at `reached`. Dropped: those older than `floor`, and those that did not
/// answer and are more than [`ABSENT_LIMIT`] behind `reached`; of the late ones (behind
/// `reached`) at most [`MAX_LATE`], the most recent. Sorted by `entityRefId`.
pub fn track(
    answered: &HashMap<String, i64>,
    previous: Vec<Known>,
    reached: i64,
    floor: i64,
) -> Vec<Known> {
    let mut all: HashMap<&str, (i64, bool), foldhash::fast::FixedState> =
        HashMap::with_capacity_and_hasher(answered.len() + previous.len(), Default::default());
    for (id, ts) in answered {
        if Known::parts(id).is_some() {
            all.insert(id, (*ts, true));
        }
    }
    for e in &previous {
        let slot = all.entry(&e.id).or_insert((e.newest, false));
        slot.0 = slot.0.max(e.newest);
    }
    let (mut current, mut late): (Vec<Known>, Vec<Known>) = all
        .into_iter()
        .filter(|(_, (ts, now))| *ts >= floor && (*now || *ts >= reached - ABSENT_LIMIT))
        .map(|(id, (newest, _))| Known {
            id: id.to_string(),
            newest,
        })
        .partition(|e| e.newest >= reached);
    late.sort_by(|a, b| (b.newest, &a.id).cmp(&(a.newest, &b.id)));
    late.truncate(MAX_LATE);
    current.append(&mut late);
    current.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    current
}

/// How many entities of `known` are behind `reached`: still owed samples.
pub fn behind(known: &[Known], reached: i64) -> usize {
    known.iter().filter(|e| e.newest < reached).count()
}

/// The watermark to commit for a cluster at `reached`: held back to the oldest entity still
/// behind it, so that a node taking the cluster over asks that entity's samples again.
pub fn held(known: &[Known], reached: i64) -> i64 {
    known.iter().map(|e| e.newest).fold(reached, i64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(t: &str, u: &str, newest: i64) -> Known {
        Known {
            id: format!("{t}:{u}"),
            newest,
        }
    }

    fn answered(ids: &[(&str, i64)]) -> HashMap<String, i64> {
        ids.iter().map(|(id, ts)| (id.to_string(), *ts)).collect()
    }

    #[test]
    fn every_entity_seen_is_tracked_at_its_newest_sample() {
        let a = answered(&[
            ("host-domclient:h0", 600),
            ("host-domclient:h1", 300),
            ("disk-group:d0", 600),
            ("vsan-vnic-net:*", 600), // not an entity's own answer
        ]);
        let t = track(&a, vec![known("host-domclient", "h1", 200)], 600, 0);
        assert_eq!(
            t,
            [
                known("disk-group", "d0", 600),
                known("host-domclient", "h0", 600),
                known("host-domclient", "h1", 300),
            ]
        );
        assert_eq!(behind(&t, 600), 1);
        assert_eq!(held(&t, 600), 300);
    }

    #[test]
    fn a_wholly_late_entity_stays_known_until_it_answers() {
        // h1 was up to date at 300; this query's answers hold nothing of it.
        let before = vec![
            known("host-domclient", "h0", 300),
            known("host-domclient", "h1", 300),
        ];
        let t = track(&answered(&[("host-domclient:h0", 900)]), before, 900, 0);
        assert_eq!(t[1], known("host-domclient", "h1", 300));
        assert_eq!(held(&t, 900), 300);
        // It is asked from 300 to the next window's start.
        let s = specs(&t, 900, true);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].entity_ref_id.as_str(), s[0].start, s[0].end),
            ("host-domclient:h1", 300, 900)
        );
        // Its samples come: it is current again, and nothing holds the cluster back.
        let t = track(
            &answered(&[("host-domclient:h0", 1200), ("host-domclient:h1", 1200)]),
            t,
            1200,
            0,
        );
        assert_eq!(behind(&t, 1200), 0);
        assert_eq!(held(&t, 1200), 1200);
    }

    #[test]
    fn an_entity_is_given_up_when_absent_an_hour_or_a_day_old() {
        let before = vec![known("vm", "gone", 1000), known("vm", "slow", 1000)];
        let a = answered(&[("vm:here", 1000 + ABSENT_LIMIT + 1), ("vm:slow", 2000)]);
        let t = track(&a, before, 1000 + ABSENT_LIMIT + 1, 0);
        let ids: Vec<&str> = t.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["vm:here", "vm:slow"]); // absent for more than an hour: gone
                                                 // Answering but a day behind (`floor`): given up too.
        let t = track(&answered(&[("vm:slow", 2000)]), t, 100_000, 2001);
        assert!(t.iter().all(|e| e.id != "vm:slow"), "{t:?}");
    }

    #[test]
    fn late_entities_are_bounded_the_most_recent_kept() {
        let a: HashMap<String, i64> = (0..MAX_LATE as i64 + 10)
            .map(|i| (format!("vm:u{i}"), i))
            .chain([("vm:top".to_string(), 100_000)])
            .collect();
        let t = track(&a, Vec::new(), 100_000, 0);
        assert_eq!(behind(&t, 100_000), MAX_LATE);
        assert_eq!(held(&t, 100_000), 10, "the ten oldest given up");
    }

    #[test]
    fn entities_behind_the_window_are_asked_from_their_newest() {
        let l = [
            known("vm", "a", 300),
            known("vm", "b", 0),
            known("host", "h", 600),
            known("vm", "c", 900), // not behind this window: the window asks it
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
