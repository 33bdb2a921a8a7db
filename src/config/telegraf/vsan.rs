//! The `vsan_*` keys of the `[[inputs.vsphere]]` blocks → `[collect]`'s (the same names):
//! from the first block that collects vSAN (its `vsan_metric_exclude` set without `*`),
//! as the per-kind keys are taken from the first block that collects the kind. No block
//! collecting vSAN writes nothing: vcollect's default is off, as Telegraf's.

use std::time::Duration;

use toml::Value;

use super::render::Section;
use super::source::{Bad, Plugin};
use super::values::{boolean, duration, fmt_duration, strings};
use crate::config::MIN_VSAN_INTERVAL;

const LISTS: [&str; 3] = [
    "vsan_metric_include",
    "vsan_metric_exclude",
    "vsan_cluster_include",
];

/// One block's vSAN keys, checked.
#[derive(Default)]
struct VsanKeys {
    label: String,
    lists: Vec<(&'static str, Vec<String>)>,
    skip_verify: Option<bool>,
    interval: Option<Duration>,
}

impl VsanKeys {
    fn enabled(&self) -> bool {
        self.lists
            .iter()
            .any(|(k, v)| *k == "vsan_metric_exclude" && !v.iter().any(|p| p == "*"))
    }
}

fn take(b: &mut Plugin) -> Result<VsanKeys, Bad> {
    let label = b.label();
    let bad = |key: &str| {
        let label = label.clone();
        let key = key.to_string();
        move |p: String| Bad::new(&label, &key, p)
    };
    let mut k = VsanKeys {
        label: label.clone(),
        ..VsanKeys::default()
    };
    for key in LISTS {
        if let Some(v) = b.take(key) {
            k.lists.push((key, strings(&v).map_err(bad(key))?));
        }
    }
    if let Some(v) = b.take("vsan_metric_skip_verify") {
        k.skip_verify = Some(boolean(&v).map_err(bad("vsan_metric_skip_verify"))?);
    }
    if let Some(v) = b.take("vsan_interval") {
        k.interval = Some(duration(&v).map_err(bad("vsan_interval"))?);
    }
    Ok(k)
}

/// `vsan_interval` within vcollect's range (30s to a day), a multiple of 30s.
fn interval(s: &mut Section, d: Duration) -> String {
    let step = MIN_VSAN_INTERVAL.as_secs();
    let secs = d.as_secs().div_ceil(step).clamp(1, 86_400 / step) * step;
    let out = fmt_duration(Duration::from_secs(secs));
    if Duration::from_secs(secs) != d {
        s.comment(format!(
            "vsan_interval: Telegraf's {} is not a multiple of 30s within vcollect's range \
             (30s to 1day): {out} instead.",
            fmt_duration(d)
        ));
    }
    out
}

pub(super) fn vsan(s: &mut Section, blocks: &mut [Plugin]) -> Result<(), Bad> {
    let sets = blocks.iter_mut().map(take).collect::<Result<Vec<_>, _>>()?;
    let Some(o) = sets.iter().find(|k| k.enabled()) else {
        let set: Vec<&str> = sets
            .iter()
            .flat_map(|k| k.lists.iter().map(|(key, _)| *key))
            .chain(
                sets.iter()
                    .filter(|k| k.skip_verify.is_some())
                    .map(|_| "vsan_metric_skip_verify"),
            )
            .chain(
                sets.iter()
                    .filter(|k| k.interval.is_some())
                    .map(|_| "vsan_interval"),
            )
            .collect();
        if let Some(first) = set.first() {
            s.comment(format!(
                "`{first}` (and any other vsan_* key) not carried over: no block sets \
                 vsan_metric_exclude without \"*\", and Telegraf's default [\"*\"] switches \
                 vSAN off, as vcollect's does."
            ));
        }
        return Ok(());
    };
    for (key, list) in &o.lists {
        s.key(key, Value::from(list.clone()));
    }
    if let Some(v) = o.skip_verify {
        s.key("vsan_metric_skip_verify", v);
    }
    if let Some(d) = o.interval {
        let v = interval(s, d);
        s.key("vsan_interval", v);
    }
    for other in sets.iter().filter(|k| k.enabled() && k.label != o.label) {
        let same = other.lists == o.lists
            && other.skip_verify == o.skip_verify
            && other.interval == o.interval;
        if !same {
            s.comment(format!(
                "the vsan_* keys differ in {}: vcollect's [collect] applies to every vCenter: \
                 {}'s are used.",
                other.label, o.label
            ));
        }
    }
    Ok(())
}
