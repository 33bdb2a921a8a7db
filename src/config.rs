//! Configuration: one TOML file shared by every node, validated before anything runs.
//!
//! Every problem is reported with the file, the key and what is wrong, so an admin can fix
//! it without reading code. Secrets are never in the file itself: they come from
//! `*_file` or `*_env` keys and are held as [`Secret`]s that never print.

mod defaults;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;
use crate::vsphere::PerfFormat;

pub use defaults::{DEFAULT_HOST_COUNTERS, DEFAULT_VM_COUNTERS};

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
    pub output: OutputConfig,
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

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub peers: Vec<String>,
    pub bootstrap_expect: usize,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub failure_timeout: Duration,
    pub max_voters: usize,
    /// Raft heartbeat interval (also the AppendEntries RPC deadline).
    pub heartbeat_interval: Duration,
    /// Raft election timeout, lower bound; the upper bound is twice this.
    pub election_timeout: Duration,
    /// Mutual TLS on the gRPC port, when all three files are set.
    pub tls: Option<ClusterTls>,
}

/// PEM files for mutual TLS between nodes (and from the admin CLI).
#[derive(Debug, Clone)]
pub struct ClusterTls {
    /// This node's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA that signs every node's (and admin's) certificate.
    pub ca: PathBuf,
}

#[derive(Debug, Clone)]
pub struct VcenterConfig {
    /// The `vcenter` tag; unique.
    pub name: String,
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    /// Per SOAP call.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct CollectConfig {
    pub interval: Duration,
    pub lookback: Duration,
    pub vm_counters: Vec<String>,
    pub host_counters: Vec<String>,
    pub vm_instances: bool,
    pub host_instances: bool,
    pub discovery_interval: Duration,
    pub format: PerfFormat,
    pub max_query_entities: usize,
    pub max_query_metrics: usize,
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// `-` writes line protocol to stdout instead of a sink.
    pub url: String,
    pub api: OutputApi,
    pub timeout: Duration,
    pub gzip: bool,
    pub max_retries: u32,
    pub batch_lines: usize,
    pub batch_bytes: usize,
    pub spool_max_bytes: u64,
}

/// InfluxDB 1.x `database` (also Telegraf's listeners) or 2.x `org`/`bucket`/token: the sink's
/// own type, so what the file says is exactly what the writer gets.
pub use crate::sink::Api as OutputApi;

// ---- the file's shape (serde), before validation ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    node: RawNode,
    cluster: Option<RawCluster>,
    #[serde(default)]
    vcenter: Vec<RawVcenter>,
    #[serde(default)]
    collect: RawCollect,
    #[serde(default)]
    output: RawOutput,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    #[serde(default)]
    peers: Vec<String>,
    bootstrap_expect: Option<usize>,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    #[serde(default, with = "humantime_serde")]
    failure_timeout: Option<Duration>,
    max_voters: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    heartbeat_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    election_timeout: Option<Duration>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVcenter {
    name: Option<String>,
    url: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCollect {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    lookback: Option<Duration>,
    vm_counters: Option<Vec<String>>,
    host_counters: Option<Vec<String>>,
    vm_instances: Option<bool>,
    host_instances: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    discovery_interval: Option<Duration>,
    format: Option<PerfFormat>,
    max_query_entities: Option<usize>,
    max_query_metrics: Option<usize>,
    concurrency: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    url: Option<String>,
    database: Option<String>,
    retention_policy: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    org: Option<String>,
    bucket: Option<String>,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    gzip: Option<bool>,
    max_retries: Option<u32>,
    batch_lines: Option<usize>,
    batch_bytes: Option<usize>,
    spool_max_bytes: Option<u64>,
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

    fn positive(&self, key: &str, d: Duration) -> Result<Duration, ConfigError> {
        if d.is_zero() {
            return Err(self.err(key, "must be greater than zero"));
        }
        Ok(d)
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
            (Some(path), None) => {
                let raw = std::fs::read_to_string(path).map_err(|e| {
                    self.err(
                        format!("{key_prefix}_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let value = raw.trim_end_matches(['\n', '\r']).to_string();
                if value.is_empty() {
                    return Err(self.err(
                        format!("{key_prefix}_file"),
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(Some(Secret::new(value)))
            }
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

/// The rollup types vCenter uses in `group.name.rollup` counter names.
const ROLLUPS: &[&str] = &[
    "average",
    "maximum",
    "minimum",
    "latest",
    "summation",
    "none",
];

impl Config {
    /// Reads, parses and validates `path`, loading the secrets it points to.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
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

        let node = NodeConfig {
            name: match raw.node.name {
                Some(n) if n.trim().is_empty() => return Err(c.err("node.name", "is empty")),
                Some(n) => n,
                None => hostname(),
            },
            listen: raw.node.listen.unwrap_or_else(|| "0.0.0.0:7400".into()),
            advertise: raw.node.advertise,
            data_dir: raw
                .node
                .data_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/vcollect")),
        };

        let cluster = match raw.cluster {
            None => None,
            Some(rc) => {
                let token = c.secret(
                    "cluster.token",
                    rc.token_file.as_deref(),
                    rc.token_env.as_deref(),
                )?;
                let bootstrap_expect = rc.bootstrap_expect.unwrap_or(rc.peers.len().max(1));
                if bootstrap_expect == 0 {
                    return Err(c.err("cluster.bootstrap_expect", "must be at least 1"));
                }
                if !rc.peers.is_empty() && bootstrap_expect > rc.peers.len() {
                    return Err(c.err(
                        "cluster.bootstrap_expect",
                        format!(
                            "is {bootstrap_expect} but only {} peers are listed",
                            rc.peers.len()
                        ),
                    ));
                }
                let heartbeat_interval = c.positive(
                    "cluster.heartbeat_interval",
                    rc.heartbeat_interval.unwrap_or(Duration::from_millis(100)),
                )?;
                let election_timeout = c.positive(
                    "cluster.election_timeout",
                    rc.election_timeout.unwrap_or(Duration::from_millis(300)),
                )?;
                if election_timeout <= heartbeat_interval * 2 {
                    return Err(c.err(
                        "cluster.election_timeout",
                        "must be more than twice cluster.heartbeat_interval",
                    ));
                }
                let tls = match (rc.tls_cert, rc.tls_key, rc.tls_ca) {
                    (None, None, None) => None,
                    (Some(cert), Some(key), Some(ca)) => {
                        for (k, p) in [("tls_cert", &cert), ("tls_key", &key), ("tls_ca", &ca)] {
                            if let Err(e) = std::fs::metadata(p) {
                                return Err(c.err(
                                    format!("cluster.{k}"),
                                    format!("cannot read {}: {e}", p.display()),
                                ));
                            }
                        }
                        Some(ClusterTls { cert, key, ca })
                    }
                    _ => {
                        return Err(c.err(
                            "cluster.tls_cert",
                            "tls_cert, tls_key and tls_ca go together",
                        ))
                    }
                };
                if token.is_none() && tls.is_none() {
                    return Err(c.err(
                        "cluster.token_file",
                        "token_file or token_env (or mutual TLS) is required: \
                         every RPC between nodes must be authenticated",
                    ));
                }
                Some(ClusterConfig {
                    peers: rc.peers,
                    bootstrap_expect,
                    token,
                    token_file: rc.token_file,
                    failure_timeout: c.positive(
                        "cluster.failure_timeout",
                        rc.failure_timeout.unwrap_or(Duration::from_secs(5)),
                    )?,
                    max_voters: match rc.max_voters {
                        Some(0) => return Err(c.err("cluster.max_voters", "must be at least 1")),
                        Some(n) => n,
                        None => 5,
                    },
                    heartbeat_interval,
                    election_timeout,
                    tls,
                })
            }
        };

        if raw.vcenter.is_empty() {
            return Err(c.err("vcenter", "at least one [[vcenter]] is required"));
        }
        let mut vcenters = Vec::with_capacity(raw.vcenter.len());
        for (i, rv) in raw.vcenter.into_iter().enumerate() {
            let k = |f: &str| format!("vcenter[{i}].{f}");
            let name = c.required(&k("name"), rv.name)?;
            if name.trim().is_empty() {
                return Err(c.err(k("name"), "is empty"));
            }
            if vcenters.iter().any(|v: &VcenterConfig| v.name == name) {
                return Err(c.err(
                    k("name"),
                    format!("{name:?} is used by another [[vcenter]]"),
                ));
            }
            let url = c.required(&k("url"), rv.url)?;
            c.url(&k("url"), &url)?;
            let username = c.required(&k("username"), rv.username)?;
            let password = c
                .secret(
                    &k("password"),
                    rv.password_file.as_deref(),
                    rv.password_env.as_deref(),
                )?
                .ok_or_else(|| {
                    c.err(
                        k("password_file"),
                        "password_file or password_env is required",
                    )
                })?;
            if let Some(ca) = &rv.ca_file {
                if let Err(e) = std::fs::metadata(ca) {
                    return Err(c.err(k("ca_file"), format!("cannot read {}: {e}", ca.display())));
                }
            }
            vcenters.push(VcenterConfig {
                name,
                url,
                username,
                password,
                ca_file: rv.ca_file,
                insecure: rv.insecure,
                timeout: c
                    .positive(&k("timeout"), rv.timeout.unwrap_or(Duration::from_secs(60)))?,
            });
        }

        let rc = raw.collect;
        let counters = |key: &str, list: Option<Vec<String>>, default: &[&str]| {
            let list = list.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
            for (j, name) in list.iter().enumerate() {
                let parts: Vec<&str> = name.split('.').collect();
                if parts.len() < 3
                    || parts.iter().any(|p| p.is_empty())
                    || !ROLLUPS.contains(parts.last().unwrap_or(&""))
                {
                    return Err(c.err(
                        format!("collect.{key}[{j}]"),
                        format!(
                            "counter {name:?} is not of the form group.name.rollup \
                             (rollup one of {})",
                            ROLLUPS.join(", ")
                        ),
                    ));
                }
            }
            Ok(list)
        };
        let collect = CollectConfig {
            interval: c.positive(
                "collect.interval",
                rc.interval.unwrap_or(Duration::from_secs(60)),
            )?,
            lookback: c.positive(
                "collect.lookback",
                rc.lookback.unwrap_or(Duration::from_secs(300)),
            )?,
            vm_counters: counters("vm_counters", rc.vm_counters, DEFAULT_VM_COUNTERS)?,
            host_counters: counters("host_counters", rc.host_counters, DEFAULT_HOST_COUNTERS)?,
            vm_instances: rc.vm_instances.unwrap_or(true),
            host_instances: rc.host_instances.unwrap_or(true),
            discovery_interval: c.positive(
                "collect.discovery_interval",
                rc.discovery_interval.unwrap_or(Duration::from_secs(300)),
            )?,
            format: rc.format.unwrap_or_default(),
            max_query_entities: nonzero(
                &c,
                "collect.max_query_entities",
                rc.max_query_entities,
                64,
            )?,
            max_query_metrics: nonzero(
                &c,
                "collect.max_query_metrics",
                rc.max_query_metrics,
                50_000,
            )?,
            concurrency: nonzero(&c, "collect.concurrency", rc.concurrency, 4)?,
        };
        if collect.lookback > Duration::from_secs(3600) {
            return Err(c.err(
                "collect.lookback",
                "must be at most 1h: vCenter keeps realtime (20 s) samples for one hour",
            ));
        }
        if collect.vm_counters.is_empty() && collect.host_counters.is_empty() {
            return Err(c.err(
                "collect.vm_counters",
                "vm_counters and host_counters are both empty",
            ));
        }

        let ro = raw.output;
        let url = ro.url.unwrap_or_else(|| "http://127.0.0.1:8086".into());
        if url != "-" {
            c.url("output.url", &url)?;
        }
        let v2 = ro.org.is_some()
            || ro.bucket.is_some()
            || ro.token_file.is_some()
            || ro.token_env.is_some();
        let api = if v2 {
            if ro.database.is_some() {
                return Err(c.err(
                    "output.database",
                    "set either database (InfluxDB 1.x) or org/bucket/token_file (2.x), not both",
                ));
            }
            let token = c
                .secret(
                    "output.token",
                    ro.token_file.as_deref(),
                    ro.token_env.as_deref(),
                )?
                .ok_or_else(|| c.err("output.token_file", "is required with org and bucket"))?;
            OutputApi::V2 {
                org: c.required("output.org", ro.org)?,
                bucket: c.required("output.bucket", ro.bucket)?,
                token,
            }
        } else {
            let password = c.secret(
                "output.password",
                ro.password_file.as_deref(),
                ro.password_env.as_deref(),
            )?;
            if password.is_some() != ro.username.is_some() {
                return Err(c.err(
                    "output.username",
                    "username and password_file (or password_env) go together",
                ));
            }
            OutputApi::V1 {
                database: ro.database.unwrap_or_else(|| "vsphere".into()),
                retention_policy: ro.retention_policy,
                username: ro.username,
                password,
            }
        };
        let output = OutputConfig {
            url,
            api,
            timeout: c.positive(
                "output.timeout",
                ro.timeout.unwrap_or(Duration::from_secs(10)),
            )?,
            gzip: ro.gzip.unwrap_or(true),
            max_retries: ro.max_retries.unwrap_or(3),
            batch_lines: nonzero(&c, "output.batch_lines", ro.batch_lines, 5_000)?,
            batch_bytes: nonzero(&c, "output.batch_bytes", ro.batch_bytes, 1 << 20)?,
            spool_max_bytes: ro.spool_max_bytes.unwrap_or(1 << 30),
        };

        let metrics = MetricsConfig {
            listen: match raw.metrics.listen {
                Some(l) if l.parse::<std::net::SocketAddr>().is_err() => {
                    return Err(c.err(
                        "metrics.listen",
                        format!("{l:?} is not an address:port such as \"127.0.0.1:9273\""),
                    ))
                }
                l => l,
            },
        };

        Ok(Config {
            file: path.to_path_buf(),
            node,
            cluster,
            vcenters,
            collect,
            output,
            metrics,
        })
    }
}

fn nonzero(
    c: &Check<'_>,
    key: &str,
    v: Option<usize>,
    default: usize,
) -> Result<usize, ConfigError> {
    match v {
        Some(0) => Err(c.err(key, "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
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
