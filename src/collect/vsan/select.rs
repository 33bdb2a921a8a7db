//! Which vSAN metrics are collected, and their names in the output, as Telegraf's
//! `vsan.go` decides them.
//!
//! A metric is `summary.disk-usage`, `summary.health`, `summary.resync` or
//! `performance.<entity type>`. Without `vsan_metric_skip_verify`, the summaries and the
//! entity types vSAN says it supports (`VsanPerfGetSupportedEntityTypes`) are matched
//! against `vsan_metric_include` (empty: all) and `vsan_metric_exclude`; with it, the
//! include list is taken as it is, its wildcard entries left out.

use super::super::wildcard::Wildcard;
use crate::config::VsanConfig;

/// The summary metrics, as Telegraf names them.
pub const SUMMARIES: [&str; 3] = ["summary.health", "summary.disk-usage", "summary.resync"];

/// The prefix of an entity type's metric name.
pub const PERFORMANCE: &str = "performance.";

/// What one vCenter's vSAN clusters are asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub disk_usage: bool,
    pub health: bool,
    pub resync: bool,
    /// Entity types (`host-domclient`), one `VsanPerfQueryPerf` call each per cluster.
    pub entity_types: Vec<String>,
}

impl Selection {
    /// The selection without asking vSAN: `vsan_metric_skip_verify`.
    pub fn unverified(cfg: &VsanConfig) -> Selection {
        Selection::from_names(
            cfg.metric_include
                .iter()
                .filter(|m| !m.contains('*'))
                .map(String::as_str),
        )
    }

    /// The summaries and `supported` entity types the include and exclude lists admit.
    pub fn verified(cfg: &VsanConfig, supported: &[String]) -> Selection {
        let any = |ps: &[String], name: &str| ps.iter().any(|p| Wildcard::name(p).matches(name));
        let admitted = |name: &str| {
            (cfg.metric_include.is_empty() || any(&cfg.metric_include, name))
                && !any(&cfg.metric_exclude, name)
        };
        let perf: Vec<String> = supported
            .iter()
            .map(|t| format!("{PERFORMANCE}{t}"))
            .collect();
        let names = SUMMARIES
            .into_iter()
            .chain(perf.iter().map(String::as_str))
            .filter(|n| admitted(n));
        Selection::from_names(names)
    }

    fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> Selection {
        let mut s = Selection::default();
        for n in names {
            match n {
                "summary.health" => s.health = true,
                "summary.disk-usage" => s.disk_usage = true,
                "summary.resync" => s.resync = true,
                n => {
                    if let Some(t) = n.strip_prefix(PERFORMANCE).filter(|t| !t.is_empty()) {
                        if !s.entity_types.iter().any(|e| e == t) {
                            s.entity_types.push(t.to_string());
                        }
                    }
                }
            }
        }
        s
    }

    pub fn summary(&self) -> bool {
        self.disk_usage || self.health || self.resync
    }
}

/// The measurement of an entity type's points: `vsphere_vsan_performance_<type without
/// hyphens>` (`vsphere_vsan_performance_hostdomclient`).
pub fn measurement(entity_type: &str) -> String {
    let mut m = String::from("vsphere_vsan_performance_");
    m.extend(entity_type.chars().filter(|c| *c != '-'));
    m
}

/// A metric label as a field name, Telegraf's `internal.SnakeCase`: an underscore before
/// an upper-case letter (not the first) that follows a lower-case one or precedes one,
/// everything lower-cased (`latencyAvgRead` → `latency_avg_read`, `HTTPStatus` →
/// `http_status`).
pub fn snake_case(label: &str) -> String {
    if label.is_ascii() {
        // The labels vSAN reports: the same rule on bytes (char's case tables were a tenth
        // of a vSAN answer's cost).
        let b = label.as_bytes();
        let mut out = String::with_capacity(b.len() + 4);
        for (i, &c) in b.iter().enumerate() {
            if i > 0 && c.is_ascii_uppercase() {
                let prev_lower = b[i - 1].is_ascii_lowercase();
                let next_lower = b.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                if prev_lower || next_lower {
                    out.push('_');
                }
            }
            out.push(char::from(c.to_ascii_lowercase()));
        }
        return out;
    }
    let chars: Vec<char> = label.chars().collect();
    let mut out = String::with_capacity(label.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev_lower = chars[i - 1].is_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev_lower || next_lower {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(include: &[&str], exclude: &[&str]) -> VsanConfig {
        VsanConfig {
            metric_include: include.iter().map(|s| s.to_string()).collect(),
            metric_exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..VsanConfig::default()
        }
    }

    #[test]
    fn names_are_telegrafs() {
        assert_eq!(snake_case("latencyAvgRead"), "latency_avg_read");
        assert_eq!(snake_case("iopsRead"), "iops_read");
        assert_eq!(snake_case("clientCacheHitRate"), "client_cache_hit_rate");
        assert_eq!(snake_case("HTTPStatus"), "http_status");
        assert_eq!(snake_case("oio"), "oio");
        assert_eq!(snake_case("wbFreePct"), "wb_free_pct");
        assert_eq!(
            measurement("cluster-domclient"),
            "vsphere_vsan_performance_clusterdomclient"
        );
    }

    #[test]
    fn include_and_exclude_select_as_telegraf() {
        let types = vec!["host-domclient".to_string(), "cache-disk".to_string()];
        let all = Selection::verified(&cfg(&[], &[]), &types);
        assert!(all.health && all.disk_usage && all.resync);
        assert_eq!(all.entity_types, types);
        let some = Selection::verified(
            &cfg(&["summary.*", "performance.host-*"], &["summary.resync"]),
            &types,
        );
        assert!(some.health && some.disk_usage && !some.resync);
        assert_eq!(some.entity_types, ["host-domclient"]);
        let raw = cfg(
            &["performance.vscsi", "performance.*", "summary.health"],
            &[],
        );
        let u = Selection::unverified(&raw);
        assert!(u.health && !u.disk_usage);
        assert_eq!(u.entity_types, ["vscsi"]);
    }
}
