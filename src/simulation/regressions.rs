//! Seeds whose schedules once broke an invariant, kept so that they stay fixed: CI replays
//! each twice (`vcollect-simulate --regressions`) and fails on a violation or on two traces
//! that differ.

/// The seed, and what it found.
pub const REGRESSIONS: &[(u64, &str)] = &[
    (
        12,
        "a link slower than the AppendEntries deadline (up to 839 ms): the follower heard a \
         leader that no longer heard it, kept counting itself in contact, and collected the \
         buckets the leader had moved away for 16 s; fixed by the leader's acknowledgement \
         age on every AppendEntries (cluster/network.rs, ACK_AGE)",
    ),
    (30, "the same, on a link slow up to 563 ms during a drain"),
    (38, "the same, with a node killed meanwhile"),
];
