//! Assertions on what InfluxDB holds: every entity, every 20-second sample.

use std::collections::{BTreeMap, BTreeSet};

use super::influx::Influx;

/// Timestamps of each `tag` value in `measurement`, within `[from, to]`.
pub async fn series(
    influx: &Influx,
    db: &str,
    measurement: &str,
    field: &str,
    tag: &str,
    from: i64,
    to: i64,
) -> BTreeMap<String, BTreeSet<i64>> {
    let all = influx.timestamps_by_tag(db, measurement, field, tag).await;
    all.into_iter()
        .map(|(k, ts)| {
            (
                k,
                ts.into_iter().filter(|t| *t >= from && *t <= to).collect(),
            )
        })
        .collect()
}

/// Describes what is wrong, or `None` when `expected` entities each have every 20-second
/// sample in `[from, to]` (both aligned to 20 s).
pub fn gaps(
    got: &BTreeMap<String, BTreeSet<i64>>,
    expected: usize,
    from: i64,
    to: i64,
) -> Option<String> {
    let want: BTreeSet<i64> = (from..=to).step_by(20).collect();
    let mut problems = Vec::new();
    if got.len() != expected {
        problems.push(format!("{} entities, expected {expected}", got.len()));
    }
    for (name, ts) in got {
        let missing: Vec<_> = want.difference(ts).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{name}: {} of {} samples missing, first {:?}",
                missing.len(),
                want.len(),
                &missing[..missing.len().min(5)]
            ));
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(problems.join("; "))
    }
}

/// Unix seconds now, rounded down to 20 s.
pub fn aligned_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    now - now % 20
}
