//! The collection cycle's pure core, as `cluster::decide` is for the leader: no I/O, no
//! clock, no session. The shell (`collect::vcenter`) reads the assignment once
//! ([`Snapshot`](super::assignment::Snapshot)), asks [`plan::plan`] for the windows and
//! calls, runs them through the pipeline, and asks [`Positions::advance`] what to commit,
//! which it commits once.
//!
//! * [`cadence`]: when samples exist for a kind, how far back a window reaches, when an
//!   entity's progress may move;
//! * [`plan`]: the windows and QueryPerf specs of one cycle;
//! * [`positions`]: how far this node got, per entity and kind;
//! * [`progress`]: what a cycle moves (positions, the watermarks to commit) and whether
//!   the watermarks may be committed.
//!
//! The rules are stated as unit and property tests in `tests.rs`.

pub mod cadence;
pub mod plan;
pub mod positions;
pub mod progress;
#[cfg(test)]
mod tests;

pub use cadence::Cadence;
pub use plan::{plan, CyclePlan, Settings, Window};
pub use positions::Positions;
pub use progress::Commit;
