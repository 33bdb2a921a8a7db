//! The `[output]` section: where the samples go (InfluxDB's 1.x or 2.x API, or a Prometheus
//! remote-write receiver), and how the sink batches, retries and spools.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ranges, Check, ConfigError};

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
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    /// `influx` (the default) or `remote_write`.
    #[serde(rename = "type")]
    kind: Option<String>,
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

impl Check<'_> {
    /// `[output]`.
    pub(super) fn output(&self, mut ro: RawOutput) -> Result<OutputConfig, ConfigError> {
        let remote_write = match ro.kind.take().as_deref() {
            None | Some("influx") => false,
            Some("remote_write") => true,
            Some(other) => {
                return Err(self.err(
                    "output.type",
                    format!("unknown output type {other:?}: \"influx\" or \"remote_write\""),
                ))
            }
        };
        let url = if remote_write {
            self.required("output.url", ro.url.take())?
        } else {
            ro.url
                .take()
                .unwrap_or_else(|| "http://127.0.0.1:8086".into())
        };
        if url != "-" || remote_write {
            self.url("output.url", &url)?;
        }
        let api = if remote_write {
            self.remote_write_api(&mut ro)?
        } else {
            self.output_api(&mut ro)?
        };
        Ok(OutputConfig {
            url,
            api,
            timeout: self.duration_in(
                "output.timeout",
                ro.timeout,
                Duration::from_secs(10),
                ranges::CALL_TIMEOUT,
            )?,
            gzip: ro.gzip.unwrap_or(true),
            max_retries: self.number_in(
                "output.max_retries",
                ro.max_retries,
                3,
                ranges::MAX_RETRIES,
            )?,
            batch_lines: self.number_in(
                "output.batch_lines",
                ro.batch_lines,
                5_000,
                ranges::BATCH_LINES,
            )?,
            batch_bytes: self.number_in(
                "output.batch_bytes",
                ro.batch_bytes,
                1 << 20,
                ranges::BATCH_BYTES,
            )?,
            spool_max_bytes: self.number_in(
                "output.spool_max_bytes",
                ro.spool_max_bytes,
                1 << 30,
                ranges::SPOOL_BYTES,
            )?,
        })
    }

    /// `type = "remote_write"`: InfluxDB's keys do not apply; `username` with a password,
    /// or a token (sent as a bearer token), authenticate.
    fn remote_write_api(&self, ro: &mut RawOutput) -> Result<OutputApi, ConfigError> {
        for (key, set) in [
            ("output.database", ro.database.is_some()),
            ("output.retention_policy", ro.retention_policy.is_some()),
            ("output.org", ro.org.is_some()),
            ("output.bucket", ro.bucket.is_some()),
        ] {
            if set {
                return Err(self.err(
                    key,
                    "is an InfluxDB key: not used with type = \"remote_write\"",
                ));
            }
        }
        let password = self.secret(
            "output.password",
            ro.password_file.as_deref(),
            ro.password_env.as_deref(),
        )?;
        if password.is_some() != ro.username.is_some() {
            return Err(self.err(
                "output.username",
                "username and password_file (or password_env) go together",
            ));
        }
        let bearer_token = self.secret(
            "output.token",
            ro.token_file.as_deref(),
            ro.token_env.as_deref(),
        )?;
        if bearer_token.is_some() && password.is_some() {
            return Err(self.err(
                "output.token_file",
                "set either username and password_file or token_file, not both",
            ));
        }
        Ok(OutputApi::RemoteWrite {
            username: ro.username.take(),
            password,
            bearer_token,
        })
    }

    /// The API the keys select: 2.x when any of org, bucket or token is set, else 1.x. Takes
    /// the keys it uses out of `ro`.
    fn output_api(&self, ro: &mut RawOutput) -> Result<OutputApi, ConfigError> {
        let v2 = ro.org.is_some()
            || ro.bucket.is_some()
            || ro.token_file.is_some()
            || ro.token_env.is_some();
        if v2 {
            if ro.database.is_some() {
                return Err(self.err(
                    "output.database",
                    "set either database (InfluxDB 1.x) or org/bucket/token_file (2.x), not both",
                ));
            }
            let token = self
                .secret(
                    "output.token",
                    ro.token_file.as_deref(),
                    ro.token_env.as_deref(),
                )?
                .ok_or_else(|| self.err("output.token_file", "is required with org and bucket"))?;
            Ok(OutputApi::V2 {
                org: self.required("output.org", ro.org.take())?,
                bucket: self.required("output.bucket", ro.bucket.take())?,
                token,
            })
        } else {
            let password = self.secret(
                "output.password",
                ro.password_file.as_deref(),
                ro.password_env.as_deref(),
            )?;
            if password.is_some() != ro.username.is_some() {
                return Err(self.err(
                    "output.username",
                    "username and password_file (or password_env) go together",
                ));
            }
            Ok(OutputApi::V1 {
                database: ro.database.take().unwrap_or_else(|| "vsphere".into()),
                retention_policy: ro.retention_policy.take(),
                username: ro.username.take(),
                password,
            })
        }
    }
}
