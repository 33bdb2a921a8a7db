//! The collection keys of every `[[inputs.vsphere]]` block → one `[collect]`.
//!
//! vcollect's `[collect]` applies to every vCenter, Telegraf's keys to one block. Where the
//! blocks disagree, the first value set (in file order) is used and a comment names the key
//! and each block's value. The per-kind keys (`vm_*`, `cluster_*` …) come from the first block that collects
//! the kind: a common Telegraf layout is one block for VMs and hosts and another, with a
//! longer interval, for clusters and datastores, and each block switches the other's kinds
//! off. Taking every key from the first block would switch clusters off altogether.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use toml::Value;

use super::render::Section;
use super::source::{Bad, Plugin};
use super::values::{boolean, duration, fmt_duration, in_range, integer, one_line, strings};
use crate::config::ranges;

/// Telegraf's kinds, by their key prefixes (vcollect's prefixes are the same).
const KINDS: &[&str] = &[
    "vm",
    "host",
    "cluster",
    "datastore",
    "datacenter",
    "resource_pool",
];

const KIND_SUFFIXES: &[&str] = &[
    "include",
    "exclude",
    "metric_include",
    "metric_exclude",
    "instances",
    "property_include",
];

/// Telegraf's `[agent] interval` default.
const TELEGRAF_INTERVAL: Duration = Duration::from_secs(10);

/// vCenter's realtime sampling period.
const REALTIME: Duration = Duration::from_secs(20);

/// The `[collect]` section. `agent_interval` is `[agent] interval`, if set.
pub(super) fn collect(
    blocks: &mut [Plugin],
    agent_interval: Option<Duration>,
) -> Result<Section, Bad> {
    let mut s = Section::table("[collect]");
    let interval = interval(&mut s, blocks, agent_interval)?;
    globals(&mut s, blocks, &interval)?;
    custom_attributes(&mut s, blocks)?;
    for kind in KINDS {
        kind_keys(&mut s, blocks, kind)?;
    }
    super::vsan::vsan(&mut s, blocks)?;
    Ok(s)
}

/// The first value set, in file order; a comment when the blocks disagree (a block that
/// leaves a key unset has Telegraf's default, which vcollect's may not be). `None`: unset.
fn pick(s: &mut Section, key: &str, values: &[(String, Option<Value>)]) -> Option<Value> {
    let chosen = values
        .iter()
        .find_map(|(label, v)| v.as_ref().map(|v| (label, v)));
    if values
        .iter()
        .any(|(_, v)| v.as_ref() != chosen.map(|(_, c)| c))
    {
        let each: Vec<String> = values
            .iter()
            .map(|(label, v)| match v {
                Some(v) => format!("{label}: {}", one_line(v)),
                None => format!("{label}: unset"),
            })
            .collect();
        s.comment(format!(
            "`{key}` differs between the [[inputs.vsphere]] blocks ({}). vcollect's [collect] \
             applies to every vCenter: {}'s is used.",
            each.join("; "),
            chosen.map_or("no block", |(label, _)| label.as_str())
        ));
    }
    chosen.map(|(_, v)| v.clone())
}

/// `interval` (the block's, else `[agent] interval`, else Telegraf's 10s) → `interval`.
fn interval(
    s: &mut Section,
    blocks: &mut [Plugin],
    agent_interval: Option<Duration>,
) -> Result<String, Bad> {
    let fallback = agent_interval.unwrap_or(TELEGRAF_INTERVAL);
    let mut values = Vec::new();
    let mut first = None;
    for b in blocks.iter_mut() {
        let label = b.label();
        let d = match b.take("interval") {
            Some(v) => duration(&v).map_err(|p| Bad::new(&label, "interval", p))?,
            None => fallback,
        };
        let (d, note) = in_range("interval", d, &ranges::INTERVAL, fmt_duration);
        if let Some(note) = note {
            s.comment(format!("{label}: {note}"));
        }
        first.get_or_insert(d);
        values.push((label, Some(Value::String(fmt_duration(d)))));
    }
    let chosen = pick(s, "interval", &values);
    let text = chosen
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| fmt_duration(fallback));
    if first.is_some_and(|d| d < REALTIME) {
        s.comment(
            "vCenter's realtime samples are 20 s apart and vcollect collects every one whatever \
             the interval: an interval under 20s only adds calls (\"60s\" gives the same data).",
        );
    }
    s.key("interval", text.as_str());
    Ok(text)
}

#[derive(Clone, Copy)]
enum Conv {
    Duration(&'static RangeInclusive<Duration>),
    Integer(&'static RangeInclusive<usize>),
    Families,
}

/// Telegraf key → vcollect key, for the keys that are one value per block.
const GLOBAL: &[(&str, &str, Conv)] = &[
    (
        "object_discovery_interval",
        "discovery_interval",
        Conv::Duration(&ranges::DISCOVERY),
    ),
    (
        "historical_interval",
        "historical_interval",
        Conv::Duration(&ranges::HISTORICAL),
    ),
    (
        "max_query_objects",
        "max_query_entities",
        Conv::Integer(&ranges::QUERY_ENTITIES),
    ),
    (
        "max_query_metrics",
        "max_query_metrics",
        Conv::Integer(&ranges::QUERY_METRICS),
    ),
    (
        "collect_concurrency",
        "concurrency",
        Conv::Integer(&ranges::CONCURRENCY),
    ),
    ("ip_addresses", "ip_addresses", Conv::Families),
];

fn globals(s: &mut Section, blocks: &mut [Plugin], interval: &str) -> Result<(), Bad> {
    for (tkey, vkey, conv) in GLOBAL {
        let mut values = Vec::new();
        for b in blocks.iter_mut() {
            let label = b.label();
            let v = match b.take(tkey) {
                None => None,
                Some(v) => Some(convert(s, *conv, &v).map_err(|p| Bad::new(&label, tkey, p))?),
            };
            values.push((label, v));
        }
        let Some(v) = pick(s, tkey, &values) else {
            continue;
        };
        if *tkey == "object_discovery_interval" && v.as_str() == Some("0s") {
            s.comment(
                "object_discovery_interval = 0 (discover at every collection): vcollect's \
                 discovery_interval cannot be 0, so it is the collection interval.",
            );
            s.key(vkey, interval);
        } else {
            let v = bounded(s, vkey, *conv, v);
            s.key(vkey, v);
        }
    }
    Ok(())
}

/// The chosen value inside vcollect's range.
fn bounded(s: &mut Section, key: &str, conv: Conv, v: Value) -> Value {
    let (v, note) = match (conv, &v) {
        (Conv::Duration(range), Value::String(text)) => {
            let Ok(d) = humantime::parse_duration(text) else {
                return v;
            };
            let (d, note) = in_range(key, d, range, fmt_duration);
            (Value::String(fmt_duration(d)), note)
        }
        (Conv::Integer(range), Value::Integer(n)) => {
            let n = usize::try_from(*n).unwrap_or(0);
            let (n, note) = in_range(key, n, range, |n| n.to_string());
            (Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)), note)
        }
        _ => (v, None),
    };
    if let Some(note) = note {
        s.comment(note);
    }
    v
}

fn convert(s: &mut Section, conv: Conv, v: &Value) -> Result<Value, String> {
    Ok(match conv {
        Conv::Duration(_) => Value::String(fmt_duration(duration(v)?)),
        Conv::Integer(_) => Value::Integer(integer(v)?),
        Conv::Families => {
            let (known, other): (Vec<String>, Vec<String>) = strings(v)?
                .into_iter()
                .partition(|f| f == "ipv4" || f == "ipv6");
            if !other.is_empty() {
                s.comment(format!(
                    "ip_addresses: {other:?} not carried over (Telegraf knows only \"ipv4\" and \
                     \"ipv6\" and ignores the rest)."
                ));
            }
            Value::from(known)
        }
    })
}

/// `custom_attribute_include` / `_exclude`. Telegraf's default exclude is `["*"]` (off) and
/// an empty include means all; vcollect's empty include means none, so "all" is written `*`.
fn custom_attributes(s: &mut Section, blocks: &mut [Plugin]) -> Result<(), Bad> {
    type Attrs = Option<(Vec<String>, Vec<String>)>;
    let mut values: Vec<(String, Attrs)> = Vec::new();
    let mut moot = false;
    for b in blocks.iter_mut() {
        let label = b.label();
        let mut list = |key: &str, default: &[&str]| match b.take(key) {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(v) => strings(&v).map_err(|p| Bad::new(&label, key, p)),
        };
        let include: Vec<String> = list("custom_attribute_include", &[])?;
        let exclude: Vec<String> = list("custom_attribute_exclude", &["*"])?;
        let attrs = if exclude.iter().any(|e| e == "*") {
            moot |= values.is_empty() && !include.is_empty();
            None
        } else if include.is_empty() {
            Some((vec!["*".to_string()], exclude))
        } else {
            Some((include, exclude))
        };
        values.push((label, attrs));
    }
    let first = values.first().and_then(|(_, a)| a.clone());
    if values.iter().any(|(_, a)| *a != first) {
        s.comment(
            "custom_attribute_include/_exclude differ between the [[inputs.vsphere]] blocks: \
             the first block's are used for every vCenter.",
        );
    }
    if moot {
        s.comment(
            "custom_attribute_include is not carried over: custom_attribute_exclude = [\"*\"] \
             (Telegraf's default) switches custom attributes off.",
        );
    }
    if let Some((include, exclude)) = first {
        s.key("custom_attribute_include", include);
        if !exclude.is_empty() {
            s.key("custom_attribute_exclude", exclude);
        }
    }
    Ok(())
}

/// One block's keys of one kind, by suffix.
struct KindSet {
    label: String,
    hosts: Vec<String>,
    keys: BTreeMap<&'static str, Value>,
}

impl KindSet {
    /// Telegraf collects a kind unless its `metric_exclude` holds `*`.
    fn enabled(&self) -> bool {
        !self
            .keys
            .get("metric_exclude")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|p| p.as_str() == Some("*")))
    }
}

fn take_kind(s: &mut Section, b: &mut Plugin, kind: &str) -> Result<KindSet, Bad> {
    let label = b.label();
    let mut keys = BTreeMap::new();
    for suffix in KIND_SUFFIXES {
        let key = format!("{kind}_{suffix}");
        let mut v = b.take(&key);
        if *suffix == "property_include" {
            // sample.conf spells it `propertie`.
            let alias = format!("{kind}_propertie_include");
            match (v.is_some(), b.take(&alias)) {
                (false, a) => v = a,
                (true, Some(_)) => s.comment(format!(
                    "{label} sets both {key} and {alias}: {key} is used."
                )),
                (true, None) => {}
            }
        }
        let Some(v) = v else { continue };
        let checked = match *suffix {
            "instances" => boolean(&v).map(Value::from),
            _ => strings(&v).map(Value::from),
        };
        keys.insert(*suffix, checked.map_err(|p| Bad::new(&label, &key, p))?);
    }
    Ok(KindSet {
        label,
        hosts: b.hosts.clone(),
        keys,
    })
}

fn kind_keys(s: &mut Section, blocks: &mut [Plugin], kind: &str) -> Result<(), Bad> {
    let sets = blocks
        .iter_mut()
        .map(|b| take_kind(s, b, kind))
        .collect::<Result<Vec<_>, _>>()?;
    let owner = sets.iter().position(KindSet::enabled).unwrap_or(0);
    let o = &sets[owner];
    let on = o.enabled();
    for suffix in KIND_SUFFIXES {
        let key = format!("{kind}_{suffix}");
        let v = o.keys.get(suffix);
        let empty = v.and_then(Value::as_array).is_none_or(|a| a.is_empty());
        match *suffix {
            "metric_include" if on && empty => {
                s.comment(format!(
                    "Telegraf collects every {kind} metric when {key} is empty or unset; \
                     remove this line for vcollect's default list instead."
                ));
                s.key(&key, vec!["*"]);
            }
            "metric_exclude" if on && v.is_none() && kind == "datacenter" => {
                s.comment(
                    "Telegraf collects datacenters unless datacenter_metric_exclude = [\"*\"]; \
                     vcollect's default switches them off.",
                );
                s.key(&key, Value::Array(Vec::new()));
            }
            _ => {
                if let Some(v) = v {
                    s.key(&key, v.clone());
                }
            }
        }
    }
    for (i, c) in sets.iter().enumerate() {
        if i == owner || !on {
            continue;
        }
        if !c.enabled() {
            s.comment(format!(
                "{} switches {kind} metrics off ({kind}_metric_exclude = [\"*\"]) for {}; \
                 vcollect's [collect] applies to every vCenter: they are collected from all, as \
                 {} asks.",
                c.label,
                c.hosts.join(", "),
                o.label
            ));
            continue;
        }
        let differ: Vec<String> = KIND_SUFFIXES
            .iter()
            .filter(|x| c.keys.get(*x) != o.keys.get(*x))
            .map(|x| format!("{kind}_{x}"))
            .collect();
        if !differ.is_empty() {
            s.comment(format!(
                "{} differ(s) in {}: vcollect's [collect] applies to every vCenter: {}'s values \
                 are used.",
                differ.join(", "),
                c.label,
                o.label
            ));
        }
    }
    Ok(())
}
