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
    gaps_every(got, expected, from, to, 20)
}

/// [`gaps`] for samples every `step` seconds (historical statistics).
pub fn gaps_every(
    got: &BTreeMap<String, BTreeSet<i64>>,
    expected: usize,
    from: i64,
    to: i64,
    step: i64,
) -> Option<String> {
    let want: BTreeSet<i64> = (from..=to).step_by(step as usize).collect();
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

/// Now, in unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Unix seconds now, rounded down to 20 s.
pub fn aligned_now() -> i64 {
    let now = unix_now();
    now - now % 20
}

/// The gaps of every powered-on VM (`vsphere_vm_cpu` by `vmname`) and connected host
/// (`vsphere_host_cpu` by `esxhostname`), `usage_average`, over `[from, to]`, or `None`.
pub async fn entity_gaps(
    influx: &Influx,
    sim: &super::vcsim::Simulator,
    from: i64,
    to: i64,
) -> Option<String> {
    let mut problems = Vec::new();
    for (m, tag, n) in [
        ("vsphere_vm_cpu", "vmname", sim.expected_vms()),
        ("vsphere_host_cpu", "esxhostname", sim.expected_hosts()),
    ] {
        let got = series(influx, "vsphere", m, "usage_average", tag, from, to).await;
        if let Some(p) = gaps(&got, n as usize, from, to) {
            problems.push(format!("{m} over [{from}, {to}]: {p}"));
        }
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

/// Whether every powered-on VM and connected host has a sample at or after `ts`.
pub async fn all_entities_reached(influx: &Influx, sim: &super::vcsim::Simulator, ts: i64) -> bool {
    for (m, tag, n) in [
        ("vsphere_vm_cpu", "vmname", sim.expected_vms()),
        ("vsphere_host_cpu", "esxhostname", sim.expected_hosts()),
    ] {
        let got = series(influx, "vsphere", m, "usage_average", tag, ts, i64::MAX).await;
        if got.len() != n as usize || got.values().any(|s| s.is_empty()) {
            return false;
        }
    }
    true
}
