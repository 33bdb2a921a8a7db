//! The perfCounter catalogue. Counter keys are assigned by each vCenter, so names like
//! `cpu.usage.average` must be resolved to keys once per session.

use super::client::Client;
use super::error::Error;
use super::property::{object_spec, prop_spec};
use std::collections::HashMap;

use super::types::{Counter, CounterCatalog};
use super::xml::Node;

/// `PerfCounterInfo.level`, when present and in 1..=4.
pub(crate) fn level_from_node(n: &Node) -> Option<u8> {
    n.text_at(&["level"])?
        .trim()
        .parse()
        .ok()
        .filter(|l| (1..=4).contains(l))
}

/// `PerfInterval.samplingPeriod` in seconds, when it is a sane one (1 s to 1 day).
fn sampling_period(i: &Node) -> Option<i64> {
    i.text_at(&["samplingPeriod"])?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|p| (1..=86_400).contains(p))
}

/// The first enabled `PerfInterval`: vCenter's shortest historical interval ("Past day",
/// 300 s unless changed).
fn first_interval(intervals: &Node) -> Option<&Node> {
    intervals
        .children_named("PerfInterval")
        .filter(|i| i.text_at(&["enabled"]).map(str::trim) != Some("false"))
        .min_by_key(|i| sampling_period(i).unwrap_or(i64::MAX))
}

/// The level of the first enabled interval: what vCenter is configured to keep.
pub(crate) fn server_level(intervals: &Node) -> Option<u8> {
    first_interval(intervals).and_then(level_from_node)
}

/// The sampling period of the first enabled interval: the period of the historical statistics
/// of clusters, datastores, datacenters and resource pools, and the `intervalId` to ask them at.
pub(crate) fn historical_interval(intervals: &Node) -> Option<i64> {
    first_interval(intervals).and_then(sampling_period)
}

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
                prop_spec(
                    &mut s,
                    "PerformanceManager",
                    &["perfCounter", "historicalInterval"],
                );
                object_spec(&mut s, &sc.perf_manager);
                s
            })
            .await?;
        let mut counters = Vec::new();
        let mut levels = HashMap::new();
        let (mut server, mut historical) = (None, None);
        let mut skipped = 0usize;
        for o in &objects {
            if let Some(val) = o.prop("perfCounter") {
                for info in val.children_named("PerfCounterInfo") {
                    match counter_from_node(info) {
                        Some(c) => {
                            if let Some(l) = level_from_node(info) {
                                levels.insert(c.key, l);
                            }
                            counters.push(c)
                        }
                        None => skipped += 1,
                    }
                }
            }
            if let Some(val) = o.prop("historicalInterval") {
                server = server_level(val);
                historical = historical_interval(val);
            }
        }
        if skipped > 0 {
            tracing::warn!(vcenter = %self.name(), skipped, "perfCounter entries without key/group/name/rollup ignored");
        }
        Ok(CounterCatalog::new(counters)
            .with_levels(levels, server)
            .with_historical_interval(historical))
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

    #[test]
    fn levels_and_the_server_level_are_read() {
        let n = crate::vsphere::xml::parse(
            br#"<PerfCounterInfo><key>2</key><level>3</level></PerfCounterInfo>"#,
        )
        .unwrap();
        assert_eq!(level_from_node(&n), Some(3));
        let v = crate::vsphere::xml::parse(br#"<val><PerfInterval><key>2</key><samplingPeriod>1800</samplingPeriod><level>1</level><enabled>true</enabled></PerfInterval><PerfInterval><key>1</key><samplingPeriod>300</samplingPeriod><level>2</level><enabled>true</enabled></PerfInterval></val>"#).unwrap();
        assert_eq!(server_level(&v), Some(2));
        assert_eq!(historical_interval(&v), Some(300));
        let none = crate::vsphere::xml::parse(br#"<val><PerfInterval><samplingPeriod>300</samplingPeriod><enabled>false</enabled></PerfInterval></val>"#).unwrap();
        assert_eq!(historical_interval(&none), None);
    }
}
