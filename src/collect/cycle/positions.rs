//! This node's positions: how far it got per entity and kind, kept between cycles while it
//! owns the entities (see `progress` for how a cycle moves them).

use crate::collect::MoidMap;
use crate::vsphere::EntityKind;

/// How far this node got, kept between cycles while it owns the entities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positions {
    /// The newest sample known to be in the sink, per entity this node collects.
    pub(super) last: MoidMap<String, i64>,
    /// Per kind, the end of the last window asked (historical kinds: once per interval).
    pub(super) queried_end: [Option<i64>; EntityKind::COUNT],
}

impl Positions {
    /// The newest sample of `moid` known to be in the sink, if this node wrote one.
    pub fn last(&self, moid: &str) -> Option<i64> {
        self.last.get(moid).copied()
    }

    /// The end of the last window asked for `kind`.
    pub fn queried_end(&self, kind: EntityKind) -> Option<i64> {
        self.queried_end[kind.index()]
    }
}
