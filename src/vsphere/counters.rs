//! The perfCounter catalogue. Counter keys are assigned by each vCenter, so names like
//! `cpu.usage.average` must be resolved to keys once per session.

use super::client::Client;
use super::error::Error;
use super::property::{object_spec, prop_spec};
use super::types::{Counter, CounterCatalog};
use super::xml::Node;

/// One `PerfCounterInfo` element → [`Counter`]; `None` when a required part is missing.
pub(crate) fn counter_from_node(n: &Node) -> Option<Counter> {
    let key = n.text_at(&["key"])?.trim().parse().ok()?;
    let text = |path: &[&str]| n.text_at(path).map(|t| t.trim().to_string());
    Some(Counter {
        key,
        group: text(&["groupInfo", "key"])?,
        name: text(&["nameInfo", "key"])?,
        rollup: text(&["rollupType"])?,
        unit: text(&["unitInfo", "key"]).unwrap_or_default(),
    })
}

impl Client {
    /// Reads `PerformanceManager.perfCounter` through the PropertyCollector.
    pub async fn counters(&self) -> Result<CounterCatalog, Error> {
        let generation = self.session_generation();
        let mut catalogue = self.counters_once().await?;
        if catalogue.is_empty() {
            // Some servers (the govmomi simulator) answer RetrievePropertiesEx without a
            // valid session with an empty result instead of NotAuthenticated: log in again
            // and ask once more before calling it an error.
            self.relogin(generation).await?;
            catalogue = self.counters_once().await?;
        }
        if catalogue.is_empty() {
            return Err(self
                .inner
                .transport
                .malformed("RetrievePropertiesEx", "perfCounter is empty"));
        }
        tracing::info!(vcenter = %self.name(), counters = catalogue.len(), "counter catalogue loaded");
        Ok(catalogue)
    }

    async fn counters_once(&self) -> Result<CounterCatalog, Error> {
        let objects = self
            .retrieve_all(|sc| {
                let mut s = String::new();
                prop_spec(&mut s, "PerformanceManager", &["perfCounter"]);
                object_spec(&mut s, &sc.perf_manager);
                s
            })
            .await?;
        let mut counters = Vec::new();
        let mut skipped = 0usize;
        for o in &objects {
            if let Some(val) = o.prop("perfCounter") {
                for info in val.children_named("PerfCounterInfo") {
                    match counter_from_node(info) {
                        Some(c) => counters.push(c),
                        None => skipped += 1,
                    }
                }
            }
        }
        if skipped > 0 {
            tracing::warn!(vcenter = %self.name(), skipped, "perfCounter entries without key/group/name/rollup ignored");
        }
        Ok(CounterCatalog::new(counters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_info_is_read() {
        let n = crate::vsphere::xml::parse(br#"<PerfCounterInfo><key>2</key><nameInfo><label>Usage</label><key>usage</key></nameInfo><groupInfo><key>cpu</key></groupInfo><unitInfo><key>percent</key></unitInfo><rollupType>average</rollupType></PerfCounterInfo>"#).unwrap();
        let c = counter_from_node(&n).unwrap();
        assert_eq!(c.full_name(), "cpu.usage.average");
        assert_eq!((c.key, c.unit.as_str()), (2, "percent"));
    }
}
