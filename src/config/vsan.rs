//! `[collect]`'s vSAN keys, Telegraf's names and meaning (issue 22):
//!
//! * `vsan_metric_exclude`: `["*"]` by default, which switches vSAN off, as in Telegraf;
//!   any other list turns it on and removes the metrics it matches;
//! * `vsan_metric_include`: the metrics collected, empty for all: `summary.disk-usage`,
//!   `summary.health`, `summary.resync` and `performance.<entity type>`
//!   (`performance.host-domclient`), wildcards allowed;
//! * `vsan_metric_skip_verify`: take `vsan_metric_include` as it is (wildcards ignored)
//!   instead of asking vSAN which entity types it supports;
//! * `vsan_cluster_include`: the inventory paths of the clusters asked (`/*/host/**`);
//! * `vsan_interval`: vSAN's sampling period, 5 min by default, down to 30 s (vSAN 8 U1).
//!
//! With vSAN off, nothing of it runs: no discovery, no call.

use std::time::Duration;

use super::{Check, ConfigError};

/// The smallest `vsan_interval`: vSAN 8 U1's high-resolution samples.
pub const MIN_VSAN_INTERVAL: Duration = Duration::from_secs(30);

/// The vSAN keys of `[collect]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsanConfig {
    pub metric_include: Vec<String>,
    pub metric_exclude: Vec<String>,
    pub skip_verify: bool,
    pub cluster_include: Vec<String>,
    pub interval: Duration,
}

impl Default for VsanConfig {
    fn default() -> Self {
        VsanConfig {
            metric_include: Vec::new(),
            metric_exclude: vec!["*".to_string()],
            skip_verify: false,
            cluster_include: vec!["/*/host/**".to_string()],
            interval: Duration::from_secs(300),
        }
    }
}

impl VsanConfig {
    /// vSAN is collected unless `vsan_metric_exclude` holds `*` (Telegraf's rule).
    pub fn enabled(&self) -> bool {
        !self.metric_exclude.iter().any(|p| p == "*")
    }
}

/// The vSAN keys as written in `[collect]`.
#[derive(serde::Deserialize, Default)]
pub(super) struct RawVsan {
    pub vsan_metric_include: Option<Vec<String>>,
    pub vsan_metric_exclude: Option<Vec<String>>,
    #[serde(default)]
    pub vsan_metric_skip_verify: bool,
    pub vsan_cluster_include: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    pub vsan_interval: Option<Duration>,
}

impl Check<'_> {
    pub(super) fn vsan(&self, r: RawVsan) -> Result<VsanConfig, ConfigError> {
        let d = VsanConfig::default();
        let interval = self.duration_in(
            "collect.vsan_interval",
            r.vsan_interval,
            d.interval,
            MIN_VSAN_INTERVAL..=Duration::from_secs(86_400),
        )?;
        if interval.as_secs() % 30 != 0 || interval.subsec_nanos() != 0 {
            return Err(self.err(
                "collect.vsan_interval",
                "must be a multiple of 30s: vSAN samples every 5 min (30s with vSAN 8 U1's \
                 high resolution)",
            ));
        }
        let include = r.vsan_metric_include.unwrap_or(d.metric_include);
        let include = self.strict_patterns("collect.vsan_metric_include", include)?;
        if r.vsan_metric_skip_verify && include.is_empty() {
            return Err(self.err(
                "collect.vsan_metric_skip_verify",
                "needs vsan_metric_include to name the metrics (e.g. \
                 [\"summary.health\", \"performance.host-domclient\"]): nothing is verified \
                 against vSAN, so nothing would be collected",
            ));
        }
        Ok(VsanConfig {
            metric_include: include,
            metric_exclude: self.strict_patterns(
                "collect.vsan_metric_exclude",
                r.vsan_metric_exclude.unwrap_or(d.metric_exclude),
            )?,
            skip_verify: r.vsan_metric_skip_verify,
            cluster_include: self
                .vsan_paths(r.vsan_cluster_include.unwrap_or(d.cluster_include))?,
            interval,
        })
    }

    fn vsan_paths(&self, list: Vec<String>) -> Result<Vec<String>, ConfigError> {
        for (j, p) in list.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(self.err(
                    format!("collect.vsan_cluster_include[{j}]"),
                    format!("inventory path {p:?} must start with / (e.g. \"/*/host/**\")"),
                ));
            }
        }
        Ok(list)
    }
}
