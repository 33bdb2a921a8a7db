//! The `[collect]` section: what is collected, how often, and Telegraf's per-kind keys.
//!
//! Every key Telegraf's vsphere input has for an object kind exists here under the same name
//! (`vm_include`, `cluster_metric_exclude`, `resource_pool_instances` …), so a Telegraf user's
//! filters carry over as they are (`vcollect import-telegraf`). The per-kind keys are read from
//! one table rather than 42 struct fields; an unknown key is still an error that names it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::defaults::default_counters;
use super::{ranges, Check, ConfigError};
use crate::contract::EntityKind;
use crate::vsphere::PerfFormat;

/// What to collect and how, for every vCenter.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    pub interval: Duration,
    pub lookback: Duration,
    pub discovery_interval: Duration,
    pub format: PerfFormat,
    pub max_query_entities: usize,
    /// `max_query_metrics`: a bound on the metrics (entity x metric id) of one historical
    /// QueryPerf call that can only lower vCenter's own `config.vpxd.stats.maxQueryMetrics`
    /// (read at login). `None`: vCenter's value alone.
    pub max_query_metrics: Option<usize>,
    pub concurrency: usize,
    /// The per-kind keys, by [`EntityKind::index`].
    pub kinds: KindsConfig,
    /// `historical_interval`: the sampling period of clusters, datastores, datacenters and
    /// resource pools. `None`: vCenter's first historical interval (`historicalInterval`),
    /// read from the server, as it must match it exactly.
    pub historical_interval: Option<Duration>,
    /// `custom_attribute_include` / `_exclude`: wildcard patterns on custom attribute names.
    pub custom_attribute_include: Vec<String>,
    pub custom_attribute_exclude: Vec<String>,
    /// `ip_addresses`: the VM NIC address families written as tags on `net` series.
    pub ip_addresses: Vec<IpFamily>,
    /// `tag_categories_include` / `_exclude`: wildcard patterns on vSphere tag category
    /// names; empty include: the tagging service is not read.
    pub tag_categories_include: Vec<String>,
    pub tag_categories_exclude: Vec<String>,
    /// `alarms`: write the triggered alarms of the collected entities as `vsphere_alarm`
    /// points (read with the inventory).
    pub alarms: bool,
    /// `events`: write vCenter's events as `vsphere_event` points.
    pub events: bool,
    /// `event_include` / `event_exclude`: event type patterns (default include:
    /// [`super::DEFAULT_EVENT_TYPES`]).
    pub event_include: Vec<String>,
    pub event_exclude: Vec<String>,
    /// The `vsan_*` keys (off unless `vsan_metric_exclude` is set without `*`).
    pub vsan: super::VsanConfig,
}

impl CollectConfig {
    /// The settings of one kind.
    pub fn kind(&self, kind: EntityKind) -> &KindConfig {
        self.kinds.get(kind)
    }
}

/// An address family of `ip_addresses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Ipv4,
    Ipv6,
}

/// One kind's keys, Telegraf's names with the kind's prefix (`vm_`, `resource_pool_` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindConfig {
    /// `<kind>_include`: inventory paths (`*` one level, `**` any depth).
    pub include: Vec<String>,
    /// `<kind>_exclude`: inventory paths removed from what `include` selects.
    pub exclude: Vec<String>,
    /// `<kind>_counters`: exact `group.name.rollup` names (vcollect's default list if unset).
    pub counters: Vec<String>,
    /// `<kind>_metric_include`: wildcard patterns; when non-empty they replace `counters` and
    /// are resolved against what the kind's entities report.
    pub metric_include: Vec<String>,
    /// `<kind>_metric_exclude`: wildcard patterns removed; `["*"]` switches the kind off.
    pub metric_exclude: Vec<String>,
    /// `<kind>_instances`: per-instance series (per CPU, NIC, disk) besides the aggregate.
    pub instances: bool,
    /// `<kind>_property_include`: extra managed-object properties written as tags or fields.
    pub property_include: Vec<String>,
}

impl KindConfig {
    /// Telegraf's defaults for a kind, with vcollect's counter lists.
    fn default_for(kind: EntityKind) -> KindConfig {
        let path = match kind {
            EntityKind::Vm => "/*/vm/**",
            EntityKind::Host | EntityKind::Cluster | EntityKind::ResourcePool => "/*/host/**",
            EntityKind::Datastore => "/*/datastore/**",
            EntityKind::Datacenter => "/*",
            EntityKind::Vsan => "/*/host/**",
        };
        KindConfig {
            include: vec![path.to_string()],
            exclude: Vec::new(),
            counters: default_counters(kind)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            metric_include: Vec::new(),
            // As Telegraf's sample.conf: datacenters are off unless asked for.
            metric_exclude: match kind {
                EntityKind::Datacenter => vec!["*".to_string()],
                _ => Vec::new(),
            },
            instances: kind.is_realtime(),
            property_include: Vec::new(),
        }
    }

    /// A kind is collected unless `<kind>_metric_exclude` holds `*` (Telegraf's way of
    /// switching a kind off) or it has no counter and no pattern at all.
    pub fn enabled(&self) -> bool {
        let off = self.metric_exclude.iter().any(|p| p == "*");
        let nothing = self.counters.is_empty() && self.metric_include.is_empty();
        !off && !nothing
    }
}

/// The six kinds' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindsConfig([KindConfig; EntityKind::COUNT]);

impl KindsConfig {
    pub fn get(&self, kind: EntityKind) -> &KindConfig {
        &self.0[kind.index()]
    }

    fn get_mut(&mut self, kind: EntityKind) -> &mut KindConfig {
        &mut self.0[kind.index()]
    }

    /// The kinds that are collected.
    pub fn enabled(&self) -> impl Iterator<Item = EntityKind> + '_ {
        EntityKind::ALL
            .into_iter()
            .filter(|k| self.get(*k).enabled())
    }
}

impl Default for KindsConfig {
    fn default() -> Self {
        KindsConfig(EntityKind::ALL.map(KindConfig::default_for))
    }
}

/// `[collect]` as written; the per-kind keys land in `kinds`, checked one by one.
#[derive(Deserialize, Default)]
pub(super) struct RawCollect {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    lookback: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    discovery_interval: Option<Duration>,
    format: Option<PerfFormat>,
    max_query_entities: Option<usize>,
    max_query_metrics: Option<usize>,
    concurrency: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    historical_interval: Option<Duration>,
    #[serde(default)]
    custom_attribute_include: Vec<String>,
    #[serde(default)]
    custom_attribute_exclude: Vec<String>,
    #[serde(default)]
    ip_addresses: Vec<IpFamily>,
    #[serde(default)]
    tag_categories_include: Vec<String>,
    #[serde(default)]
    tag_categories_exclude: Vec<String>,
    #[serde(default)]
    alarms: bool,
    #[serde(default)]
    events: bool,
    event_include: Option<Vec<String>>,
    #[serde(default)]
    event_exclude: Vec<String>,
    #[serde(flatten)]
    vsan: super::vsan::RawVsan,
    #[serde(flatten)]
    kinds: BTreeMap<String, toml::Value>,
}

/// The key prefixes of each kind; `resourcepool_` is accepted beside Telegraf's
/// `resource_pool_`.
const PREFIXES: &[(&str, EntityKind)] = &[
    ("vm_", EntityKind::Vm),
    ("host_", EntityKind::Host),
    ("cluster_", EntityKind::Cluster),
    ("datastore_", EntityKind::Datastore),
    ("datacenter_", EntityKind::Datacenter),
    ("resource_pool_", EntityKind::ResourcePool),
    ("resourcepool_", EntityKind::ResourcePool),
];

/// The per-kind key suffixes.
const SUFFIXES: &[&str] = &[
    "include",
    "exclude",
    "counters",
    "metric_include",
    "metric_exclude",
    "instances",
    "property_include",
];

/// The rollup types vCenter uses in `group.name.rollup` counter names.
const ROLLUPS: &[&str] = &[
    "average",
    "maximum",
    "minimum",
    "latest",
    "summation",
    "none",
];

/// `vm_metric_include` → (VM, `metric_include`).
fn split_kind_key(key: &str) -> Option<(EntityKind, &str)> {
    PREFIXES.iter().find_map(|(prefix, kind)| {
        let suffix = key.strip_prefix(prefix)?;
        SUFFIXES.contains(&suffix).then_some((*kind, suffix))
    })
}

impl Check<'_> {
    pub(super) fn collect(&self, rc: RawCollect) -> Result<CollectConfig, ConfigError> {
        let kinds = self.kinds(rc.kinds)?;
        let vsan = self.vsan(rc.vsan)?;
        if kinds.enabled().next().is_none() && !vsan.enabled() {
            return Err(self.err(
                "collect.vm_counters",
                "every kind is switched off or has no counters: nothing would be collected",
            ));
        }
        Ok(CollectConfig {
            interval: self.duration_in(
                "collect.interval",
                rc.interval,
                Duration::from_secs(60),
                ranges::INTERVAL,
            )?,
            lookback: self.duration_in(
                "collect.lookback",
                rc.lookback,
                Duration::from_secs(300),
                ranges::LOOKBACK,
            )?,
            discovery_interval: self.duration_in(
                "collect.discovery_interval",
                rc.discovery_interval,
                Duration::from_secs(300),
                ranges::DISCOVERY,
            )?,
            format: rc.format.unwrap_or_default(),
            max_query_entities: self.number_in(
                "collect.max_query_entities",
                rc.max_query_entities,
                64,
                ranges::QUERY_ENTITIES,
            )?,
            max_query_metrics: rc
                .max_query_metrics
                .map(|n| {
                    self.number_in(
                        "collect.max_query_metrics",
                        Some(n),
                        n,
                        ranges::QUERY_METRICS,
                    )
                })
                .transpose()?,
            concurrency: self.number_in(
                "collect.concurrency",
                rc.concurrency,
                4,
                ranges::CONCURRENCY,
            )?,
            kinds,
            historical_interval: match rc.historical_interval {
                None => None,
                d => Some(self.duration_in(
                    "collect.historical_interval",
                    d,
                    Duration::ZERO,
                    ranges::HISTORICAL,
                )?),
            },
            custom_attribute_include: self.patterns(
                "collect.custom_attribute_include",
                rc.custom_attribute_include,
            )?,
            custom_attribute_exclude: self.patterns(
                "collect.custom_attribute_exclude",
                rc.custom_attribute_exclude,
            )?,
            ip_addresses: rc.ip_addresses,
            tag_categories_include: self
                .strict_patterns("collect.tag_categories_include", rc.tag_categories_include)?,
            tag_categories_exclude: self
                .strict_patterns("collect.tag_categories_exclude", rc.tag_categories_exclude)?,
            alarms: rc.alarms,
            events: rc.events,
            event_include: match rc.event_include {
                Some(list) => self.strict_patterns("collect.event_include", list)?,
                None => super::DEFAULT_EVENT_TYPES
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
            },
            event_exclude: self.strict_patterns("collect.event_exclude", rc.event_exclude)?,
            vsan,
        })
    }

    /// Applies every `<kind>_<suffix>` key over the defaults.
    fn kinds(&self, keys: BTreeMap<String, toml::Value>) -> Result<KindsConfig, ConfigError> {
        let mut kinds = KindsConfig::default();
        let mut explicit_counters = [false; EntityKind::COUNT];
        for (key, value) in keys {
            let name = format!("collect.{key}");
            let Some((kind, suffix)) = split_kind_key(&key) else {
                return Err(self.err(name, "is not a known key of [collect]"));
            };
            let k = kinds.get_mut(kind);
            if suffix == "instances" {
                k.instances = value
                    .as_bool()
                    .ok_or_else(|| self.err(&name, "must be true or false"))?;
                continue;
            }
            let list = self.strings(&name, value)?;
            match suffix {
                "include" => k.include = self.paths(&name, list)?,
                "exclude" => k.exclude = self.paths(&name, list)?,
                "counters" => {
                    k.counters = self.counter_names(&name, list)?;
                    explicit_counters[kind.index()] = true;
                }
                "metric_include" => k.metric_include = self.patterns(&name, list)?,
                "metric_exclude" => k.metric_exclude = self.patterns(&name, list)?,
                _ => k.property_include = self.patterns(&name, list)?,
            }
        }
        for kind in EntityKind::ALL {
            let k = kinds.get(kind);
            if explicit_counters[kind.index()] && !k.metric_include.is_empty() {
                let prefix = &key_prefix(kind);
                return Err(self.err(
                    format!("collect.{prefix}metric_include"),
                    format!(
                        "set either {prefix}counters (exact names) or {prefix}metric_include \
                         (patterns), not both"
                    ),
                ));
            }
        }
        Ok(kinds)
    }

    fn strings(&self, key: &str, value: toml::Value) -> Result<Vec<String>, ConfigError> {
        let problem = || self.err(key, "must be a list of strings");
        let toml::Value::Array(items) = value else {
            return Err(problem());
        };
        items
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s),
                _ => Err(problem()),
            })
            .collect()
    }

    /// Inventory paths are absolute, as Telegraf's (`/DC0/vm/**`).
    fn paths(&self, key: &str, list: Vec<String>) -> Result<Vec<String>, ConfigError> {
        for (j, p) in list.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(self.err(
                    format!("{key}[{j}]"),
                    format!("inventory path {p:?} must start with / (e.g. \"/*/vm/**\")"),
                ));
            }
        }
        Ok(list)
    }

    fn patterns(&self, key: &str, list: Vec<String>) -> Result<Vec<String>, ConfigError> {
        if let Some(j) = list.iter().position(|p| p.trim().is_empty()) {
            return Err(self.err(format!("{key}[{j}]"), "is empty"));
        }
        Ok(list)
    }

    /// [`Self::patterns`] that must also be well-formed: an unclosed `[` or a trailing `\`
    /// is an error here (Telegraf's keys take such a pattern silently as matching nothing).
    pub(super) fn strict_patterns(
        &self,
        key: &str,
        list: Vec<String>,
    ) -> Result<Vec<String>, ConfigError> {
        let list = self.patterns(key, list)?;
        for (j, p) in list.iter().enumerate() {
            if let Some(problem) = pattern_problem(p) {
                return Err(self.err(
                    format!("{key}[{j}]"),
                    format!(
                        "pattern {p:?} {problem} (wildcards: * any text, ? one character, \
                         [a-z] a class, {{a,b}} alternatives, \\ before a literal *?[{{)"
                    ),
                ));
            }
        }
        Ok(list)
    }

    fn counter_names(&self, key: &str, list: Vec<String>) -> Result<Vec<String>, ConfigError> {
        for (j, name) in list.iter().enumerate() {
            let parts: Vec<&str> = name.split('.').collect();
            if parts.len() < 3
                || parts.iter().any(|p| p.is_empty())
                || !ROLLUPS.contains(parts.last().unwrap_or(&""))
            {
                return Err(self.err(
                    format!("{key}[{j}]"),
                    format!(
                        "counter {name:?} is not of the form group.name.rollup \
                         (rollup one of {})",
                        ROLLUPS.join(", ")
                    ),
                ));
            }
        }
        Ok(list)
    }
}

/// What makes a name pattern (`collect::wildcard`'s syntax) malformed, if anything: an
/// unclosed `[...]` class or a `\` with nothing after it. Such a pattern matches nothing.
pub fn pattern_problem(pattern: &str) -> Option<&'static str> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Some("ends with a lone \\"),
            '[' => {
                // The first character may be `]` itself (a negation counts as the first).
                let mut first = true;
                loop {
                    match chars.next() {
                        None => return Some("has a [ class without its closing ]"),
                        Some(']') if !first => break,
                        Some('\\') if chars.next().is_none() => {
                            return Some("has a [ class without its closing ]")
                        }
                        _ => first = false,
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// The prefix of a kind's keys as Telegraf writes them (`resource_pool_`).
pub fn key_prefix(kind: EntityKind) -> String {
    match kind {
        EntityKind::ResourcePool => "resource_pool_".to_string(),
        k => format!("{}_", k.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_keys_split_on_the_longest_known_suffix() {
        assert_eq!(
            split_kind_key("vm_metric_include"),
            Some((EntityKind::Vm, "metric_include"))
        );
        assert_eq!(
            split_kind_key("resource_pool_include"),
            Some((EntityKind::ResourcePool, "include"))
        );
        assert_eq!(
            split_kind_key("resourcepool_instances"),
            Some((EntityKind::ResourcePool, "instances"))
        );
        assert_eq!(split_kind_key("vm_countres"), None);
        assert_eq!(split_kind_key("vsan_metric_include"), None);
    }

    #[test]
    fn defaults_follow_telegraf() {
        let k = KindsConfig::default();
        assert_eq!(k.get(EntityKind::Vm).include, ["/*/vm/**"]);
        assert_eq!(k.get(EntityKind::ResourcePool).include, ["/*/host/**"]);
        assert_eq!(k.get(EntityKind::Datacenter).include, ["/*"]);
        assert!(k.get(EntityKind::Vm).instances);
        assert!(!k.get(EntityKind::Cluster).instances);
        let on: Vec<_> = k.enabled().collect();
        assert!(!on.contains(&EntityKind::Datacenter));
        assert_eq!(on.len(), 5);
    }
}
