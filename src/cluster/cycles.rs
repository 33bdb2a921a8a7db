//! The collector's last cycle per vCenter, as this node reports it in `vcollect status`
//! (data-plane figures, never replicated).
//!
//! Its own small home: the collector writes it through the assignment, `status` and the
//! drain wait read it, and neither needs anything else of the node to do so.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::contract::CycleReport;

/// The last [`CycleReport`] per vCenter.
#[derive(Default)]
pub(crate) struct CycleReports(Mutex<BTreeMap<String, CycleReport>>);

impl CycleReports {
    /// Keeps `r` as its vCenter's last cycle.
    pub fn record(&self, r: CycleReport) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.vcenter.clone(), r);
    }

    /// Every vCenter's last cycle, in vCenter order.
    pub fn all(&self) -> Vec<CycleReport> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_cycle_per_vcenter_is_kept() {
        let c = CycleReports::default();
        let r = |vc: &str, samples| CycleReport {
            vcenter: vc.into(),
            samples,
            ..Default::default()
        };
        c.record(r("vc2", 1));
        c.record(r("vc1", 2));
        c.record(r("vc2", 3));
        let all: Vec<(String, u64)> = c
            .all()
            .into_iter()
            .map(|r| (r.vcenter, r.samples))
            .collect();
        assert_eq!(all, [("vc1".to_string(), 2), ("vc2".to_string(), 3)]);
    }
}
