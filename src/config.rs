//! Configuration: one TOML file shared by every node, validated before anything runs.
//!
//! Every problem is reported with the file, the key and what is wrong, so an admin can fix
//! it without reading code. Secrets are never in the file itself: they come from
//! `*_file` or `*_env` keys and are held as [`Secret`]s that never print.

mod cluster;
mod collect;
mod defaults;
mod output;
mod ranges;
pub mod telegraf;
mod vcenter;
mod vsan;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secret::Secret;

pub use cluster::{ClusterConfig, ClusterTls};
pub use collect::{key_prefix, pattern_problem, CollectConfig, IpFamily, KindConfig, KindsConfig};
pub use defaults::{
    default_counters, DEFAULT_EVENT_TYPES, DEFAULT_HOST_COUNTERS, DEFAULT_VM_COUNTERS,
};
pub use output::{OutputApi, OutputConfig};
pub use vcenter::{url_host, VcenterConfig};
pub use vsan::{VsanConfig, MIN_VSAN_INTERVAL};

/// A complete, commented configuration: every key with its default and what it does
/// (`vcollect config example`; the packages install it as /etc/vcollect/vcollect.toml).
pub const EXAMPLE: &str = include_str!("config/example.toml");

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/vcollect/vcollect.toml";

/// Why a configuration cannot be used. Each variant names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // `cause`, not `source`: the message carries the cause itself, so an error chain
    // printed with `{:#}` does not say it twice.
    #[error("config {file}: cannot read it: {cause}")]
    Read {
        file: PathBuf,
        cause: std::io::Error,
    },
    #[error("config {file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("config {file}: key `{key}`: {problem}")]
    Invalid {
        file: PathBuf,
        key: String,
        problem: String,
    },
}

/// The whole configuration, after validation, with secrets loaded.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub node: NodeConfig,
    pub cluster: Option<ClusterConfig>,
    pub vcenters: Vec<VcenterConfig>,
    pub collect: CollectConfig,
    /// `[output]`, or every `[[output]]` in order (never empty).
    pub outputs: Vec<OutputConfig>,
    pub metrics: MetricsConfig,
}

/// `[metrics]`: the Prometheus endpoint (off unless `listen` is set).
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    /// `host:port` serving `/metrics` and `/healthz`.
    pub listen: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Unique per node; defaults to the host name. Tags the `vcollect` self-metrics.
    pub name: String,
    pub listen: String,
    pub advertise: Option<String>,
    pub data_dir: PathBuf,
}

// ---- the file's shape (serde), before validation ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    node: RawNode,
    cluster: Option<cluster::RawCluster>,
    #[serde(default)]
    vcenter: Vec<vcenter::RawVcenter>,
    #[serde(default)]
    collect: collect::RawCollect,
    /// A table (`[output]`) or an array of tables (`[[output]]`), told apart in
    /// [`Check::outputs`].
    output: Option<toml::Value>,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<String>,
    listen: Option<String>,
    advertise: Option<String>,
    data_dir: Option<PathBuf>,
}

/// Collects validation problems against one file.
struct Check<'a> {
    file: &'a Path,
}

impl Check<'_> {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, ConfigError> {
        v.ok_or_else(|| self.err(key, "is required"))
    }

    /// Reads a secret from `<prefix>_file` or `<prefix>_env`, exactly one of which may be set.
    fn secret(
        &self,
        key_prefix: &str,
        file: Option<&Path>,
        env: Option<&str>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (file, env) {
            (Some(_), Some(_)) => Err(self.err(
                format!("{key_prefix}_file"),
                format!("set only one of {key_prefix}_file and {key_prefix}_env"),
            )),
            (Some(path), None) => crate::secret::read_file(path)
                .map(Some)
                .map_err(|problem| self.err(format!("{key_prefix}_file"), problem)),
            (None, Some(var)) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
                _ => Err(self.err(
                    format!("{key_prefix}_env"),
                    format!("environment variable {var} is not set or empty"),
                )),
            },
            (None, None) => Ok(None),
        }
    }

    fn url(&self, key: &str, url: &str) -> Result<(), ConfigError> {
        match reqwest::Url::parse(url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if u.host_str().is_none() {
                    return Err(self.err(key, format!("{url:?} has no host")));
                }
                Ok(())
            }
            Ok(_) => Err(self.err(key, format!("{url:?} must start with http:// or https://"))),
            Err(e) => Err(self.err(key, format!("{url:?} is not a URL: {e}"))),
        }
    }
}

impl Check<'_> {
    /// `[node]`: who this node is and where it listens.
    fn node(&self, rn: RawNode) -> Result<NodeConfig, ConfigError> {
        Ok(NodeConfig {
            name: match rn.name {
                Some(n) if n.trim().is_empty() => return Err(self.err("node.name", "is empty")),
                Some(n) => n,
                None => hostname(),
            },
            listen: rn.listen.unwrap_or_else(|| "0.0.0.0:7400".into()),
            advertise: rn.advertise,
            data_dir: rn
                .data_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/vcollect")),
        })
    }

    /// `[metrics]`: the Prometheus endpoint.
    fn metrics(&self, rm: RawMetrics) -> Result<MetricsConfig, ConfigError> {
        Ok(MetricsConfig {
            listen: match rm.listen {
                Some(l) if l.parse::<std::net::SocketAddr>().is_err() => {
                    return Err(self.err(
                        "metrics.listen",
                        format!("{l:?} is not an address:port such as \"127.0.0.1:9273\""),
                    ))
                }
                l => l,
            },
        })
    }
}

impl Config {
    /// Lines per batch: the smallest `batch_lines` of the outputs (the collector cuts one
    /// series of batches, which every output receives).
    pub fn batch_lines(&self) -> usize {
        self.outputs
            .iter()
            .map(|o| o.batch_lines)
            .min()
            .unwrap_or(5_000)
    }

    /// Uncompressed bytes per batch: the smallest `batch_bytes` of the outputs.
    pub fn batch_bytes(&self) -> usize {
        self.outputs
            .iter()
            .map(|o| o.batch_bytes)
            .min()
            .unwrap_or(1 << 20)
    }

    /// Reads, parses and validates `path`, loading the secrets it points to.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_bounded(path).map_err(|cause| ConfigError::Read {
            file: path.to_path_buf(),
            cause,
        })?;
        Config::from_toml(path, &text)
    }

    /// Parses and validates `text` as if it were the file `path`.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: path.to_path_buf(),
            // Multi-line on purpose: TOML's caret diagram points at the column.
            message: e.to_string().trim_end().to_string(),
        })?;
        let c = Check { file: path };
        let node = c.node(raw.node)?;
        let cluster = c.cluster(raw.cluster)?;
        let vcenters = c.vcenters(raw.vcenter)?;
        let collect = c.collect(raw.collect)?;
        let outputs = c.outputs(raw.output)?;
        let metrics = c.metrics(raw.metrics)?;
        Ok(Config {
            file: path.to_path_buf(),
            node,
            cluster,
            vcenters,
            collect,
            outputs,
            metrics,
        })
    }
}

/// The largest configuration file read (a thousand vCenters fit in a few hundred KB).
const MAX_CONFIG_FILE: u64 = 4 << 20;

/// Reads the configuration file, at most [`MAX_CONFIG_FILE`] bytes.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_CONFIG_FILE} bytes"
        )));
    }
    Ok(text)
}

/// The host name, for the default node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "vcollect".into())
}

#[cfg(test)]
mod tests;
