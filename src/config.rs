//! Configuration: one TOML file shared by every node, validated before anything runs.
//!
//! Every problem is reported with the file, the key and what is wrong, so an admin can fix
//! it without reading code. Secrets are never in the file itself: they come from
//! `*_file` or `*_env` keys and are held as [`Secret`]s that never print.

mod collect;
mod defaults;
mod ranges;
pub mod telegraf;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

pub use collect::{key_prefix, CollectConfig, IpFamily, KindConfig, KindsConfig};
pub use defaults::{default_counters, DEFAULT_HOST_COUNTERS, DEFAULT_VM_COUNTERS};

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
    /// The `vcenter` tag; unique. Defaults to the URL's host (with its port, if written),
    /// as Telegraf writes it.
    pub name: String,
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub ca_file: Option<PathBuf>,
    /// Pins the vCenter's certificate by fingerprint (SHA-256 or SHA-1, `AB:CD:…`).
    pub tls_thumbprint: Option<String>,
    pub insecure: bool,
    /// Per SOAP call.
    pub timeout: Duration,
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
    collect: collect::RawCollect,
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
    tls_thumbprint: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
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

impl Config {
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
                let bootstrap_expect = c.number_in(
                    "cluster.bootstrap_expect",
                    rc.bootstrap_expect,
                    rc.peers.len().max(1),
                    ranges::BOOTSTRAP_EXPECT,
                )?;
                if !rc.peers.is_empty() && bootstrap_expect > rc.peers.len() {
                    return Err(c.err(
                        "cluster.bootstrap_expect",
                        format!(
                            "is {bootstrap_expect} but only {} peers are listed",
                            rc.peers.len()
                        ),
                    ));
                }
                let heartbeat_interval = c.duration_in(
                    "cluster.heartbeat_interval",
                    rc.heartbeat_interval,
                    Duration::from_millis(100),
                    ranges::HEARTBEAT,
                )?;
                let election_timeout = c.duration_in(
                    "cluster.election_timeout",
                    rc.election_timeout,
                    Duration::from_millis(300),
                    ranges::ELECTION,
                )?;
                // Both are range-checked: the product cannot overflow.
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
                    failure_timeout: c.duration_in(
                        "cluster.failure_timeout",
                        rc.failure_timeout,
                        Duration::from_secs(5),
                        ranges::FAILURE,
                    )?,
                    max_voters: c.number_in(
                        "cluster.max_voters",
                        rc.max_voters,
                        5,
                        ranges::MAX_VOTERS,
                    )?,
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
            let url = c.required(&k("url"), rv.url)?;
            c.url(&k("url"), &url)?;
            // Without a name, the tag is the URL's host (and port) as Telegraf writes it, so
            // a Telegraf user's series continue.
            let name = match rv.name {
                Some(n) => n,
                None => url_host(&url).ok_or_else(|| c.err(k("url"), "has no host"))?,
            };
            if name.trim().is_empty() {
                return Err(c.err(k("name"), "is empty"));
            }
            if vcenters.iter().any(|v: &VcenterConfig| v.name == name) {
                return Err(c.err(
                    k("name"),
                    format!(
                        "{name:?} is used by another [[vcenter]] (set `name` to tell them apart)"
                    ),
                ));
            }
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
            check_thumbprint(
                &c,
                &k("tls_thumbprint"),
                &rv.tls_thumbprint,
                rv.insecure || rv.ca_file.is_some(),
            )?;
            vcenters.push(VcenterConfig {
                name,
                url,
                username,
                password,
                ca_file: rv.ca_file,
                tls_thumbprint: rv.tls_thumbprint,
                insecure: rv.insecure,
                timeout: c.duration_in(
                    &k("timeout"),
                    rv.timeout,
                    Duration::from_secs(60),
                    ranges::CALL_TIMEOUT,
                )?,
            });
        }

        let collect = c.collect(raw.collect)?;

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
            timeout: c.duration_in(
                "output.timeout",
                ro.timeout,
                Duration::from_secs(10),
                ranges::CALL_TIMEOUT,
            )?,
            gzip: ro.gzip.unwrap_or(true),
            max_retries: c.number_in(
                "output.max_retries",
                ro.max_retries,
                3,
                ranges::MAX_RETRIES,
            )?,
            batch_lines: c.number_in(
                "output.batch_lines",
                ro.batch_lines,
                5_000,
                ranges::BATCH_LINES,
            )?,
            batch_bytes: c.number_in(
                "output.batch_bytes",
                ro.batch_bytes,
                1 << 20,
                ranges::BATCH_BYTES,
            )?,
            spool_max_bytes: c.number_in(
                "output.spool_max_bytes",
                ro.spool_max_bytes,
                1 << 30,
                ranges::SPOOL_BYTES,
            )?,
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

/// `tls_thumbprint` is a fingerprint and pins the certificate by itself.
fn check_thumbprint(
    c: &Check<'_>,
    key: &str,
    thumbprint: &Option<String>,
    other_trust: bool,
) -> Result<(), ConfigError> {
    let Some(t) = thumbprint else {
        return Ok(());
    };
    if let Err(e) = crate::vsphere::Thumbprint::parse(t) {
        return Err(c.err(key, e));
    }
    if other_trust {
        return Err(c.err(
            key,
            "pins the certificate by itself: leave out ca_file and insecure",
        ));
    }
    Ok(())
}

/// The host of a URL with its port if one is written, byte for byte as Go's `url.URL.Host`
/// gives it (Telegraf's `vcenter` tag): `https://VC1.example.com:443/sdk` →
/// `VC1.example.com:443`, `https://u@[::1]/sdk` → `[::1]`. Not normalised (no lower-casing,
/// no dropping of a default port), unlike a parsed URL.
pub fn url_host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_string())
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
