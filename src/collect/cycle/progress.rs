//! Progress: what a cycle's plan and outcome move. This node's own [`Positions`] and the
//! bucket watermarks to commit, and whether they may be committed. Pure: the shell reads the
//! assignment once before and commits once after.

use std::collections::BTreeMap;

use super::cadence::entity_reached;
use super::plan::CyclePlan;
use super::positions::Positions;
use crate::collect::assignment::{Snapshot, WatermarkUpdate};
use crate::collect::{MoidMap, MoidSet};
use crate::vsphere::EntityKind;

impl Positions {
    /// A plan is being carried out: the due kinds' window ends are asked, and entities no
    /// longer owned are forgotten (if they come back, their bucket's committed watermark is
    /// the truth, not what this node remembered).
    pub fn planned(&mut self, plan: &CyclePlan) {
        let owned: MoidSet<&str> = plan.owned.iter().copied().collect();
        self.last.retain(|moid, _| owned.contains(moid.as_str()));
        for kind in EntityKind::ALL.into_iter().filter(|k| plan.due[k.index()]) {
            self.queried_end[kind.index()] = Some(plan.ends[kind.index()]);
        }
    }

    /// The cycle wrote `durable` (moid → its newest sample now in the sink or the spool):
    /// the entities' positions move forward (never back), and per bucket the oldest progress
    /// of its planned entities ([`entity_reached`]) becomes the watermark to commit where it
    /// is ahead of `snapshot`'s. An entity the cycle wrote nothing for holds its bucket at its
    /// window's start: a failed call moves nothing it did not write.
    pub fn advance(
        &mut self,
        plan: &CyclePlan,
        durable: &MoidMap<String, i64>,
        snapshot: &Snapshot,
    ) -> Vec<WatermarkUpdate> {
        let mut buckets: BTreeMap<(EntityKind, u32), i64> = BTreeMap::new();
        for (moid, w) in &plan.windows {
            let written = durable.get(*moid).map(|&newest| self.wrote(moid, newest));
            let reached = entity_reached(w.start, written);
            let t = w.target;
            let slot = buckets.entry((t.entity.kind, t.bucket)).or_insert(reached);
            *slot = (*slot).min(reached);
        }
        buckets
            .into_iter()
            .filter(|((kind, bucket), ts)| {
                snapshot.watermark(*kind, *bucket).is_none_or(|w| *ts > w)
            })
            .map(|((kind, bucket), ts)| WatermarkUpdate { kind, bucket, ts })
            .collect()
    }

    /// `moid`'s newest sample in the sink is now at least `newest`: its position, moved
    /// forward (never back). One lookup, and the moid copied only the first time this node
    /// writes the entity (a cycle does this for every entity it wrote).
    fn wrote(&mut self, moid: &str, newest: i64) -> i64 {
        match self.last.get_mut(moid) {
            Some(slot) => {
                *slot = (*slot).max(newest);
                *slot
            }
            None => {
                self.last.insert(moid.to_string(), newest);
                newest
            }
        }
    }
}

/// Whether a cycle's watermarks may be committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Yes: what they cover is in the sink (or in a spool that counts as delivered).
    Yes,
    /// No: the output is not the configured sink (`vcollect once --output -`).
    NotTheSink,
    /// Not yet: a spooled batch is not delivered, and the spool does not count as durable
    /// (a cluster: another node would resume from the watermark if this one died). The spool
    /// is FIFO, so once it is empty the positions kept meanwhile catch the watermarks up.
    SpoolPending,
}

impl Commit {
    /// The decision, from whether the cycle wrote to the configured sink, whether batches
    /// wait in the spool, and whether the spool counts as delivered.
    pub fn decide(records_progress: bool, spooled: bool, spool_is_durable: bool) -> Commit {
        if !records_progress {
            Commit::NotTheSink
        } else if spooled && !spool_is_durable {
            Commit::SpoolPending
        } else {
            Commit::Yes
        }
    }

    /// What the cycle summary says when nothing is committed.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Commit::Yes => None,
            Commit::NotTheSink => {
                Some("watermarks not moved: the output is not the configured sink")
            }
            Commit::SpoolPending => Some("watermarks held back until the spool drains"),
        }
    }
}
