//! The admin write operations as the CLI asks for them and the leader carries them out
//! ([`super::admin::run_op`]). Their wire form (the `oneof` of `AdminRequest`, and the
//! serde_json release 0.1 sent) is in [`super::convert`]; this module holds only the type, so
//! that the wire conversions and the admin handlers both depend on it and not on each other.

use serde::{Deserialize, Serialize};

/// A write operation of the admin CLI.
///
/// The serde form is release 0.1's wire form (`{"op":"drain","node":"n2"}`), still sent beside
/// the typed one for one release: do not rename its variants or fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum AdminOp {
    /// The node keeps its membership; the controller moves its buckets away.
    Drain { node: String },
    /// Back to active: the controller gives it buckets again.
    Undrain { node: String },
    /// Marks a (dead) node `left`; the controller drops it from the Raft membership.
    Remove { node: String, force: bool },
    /// Hands leadership to `to` (name or id), or to the most caught-up voter.
    TransferLeader { to: Option<String> },
}
