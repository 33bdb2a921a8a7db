//! The `[output]` section: where the samples go (InfluxDB's 1.x or 2.x API, a Prometheus
//! remote-write receiver or an OTLP/HTTP receiver), and how the sink batches, retries and spools.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ranges, Check, ConfigError};

#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Names the output in logs, on `/metrics` and in its spool directory: `name`, or its
    /// type (`influx`, `remote_write`, `otlp`).
    pub name: String,
    /// Where and how to write: the sink's own options, so what the file says is exactly what
    /// the writer gets. `url = "-"` writes line protocol to stdout instead.
    pub endpoint: OutputEndpoint,
    pub batch_lines: usize,
    pub batch_bytes: usize,
    pub spool_max_bytes: u64,
}

/// InfluxDB 1.x `database` (also Telegraf's listeners) or 2.x `org`/`bucket`/token: the sink's
/// own type, so what the file says is exactly what the writer gets.
pub use crate::sink::Api as OutputApi;
pub use crate::sink::HttpOptions as OutputEndpoint;

impl OutputConfig {
    /// `url = "-"`: line protocol to stdout.
    pub fn is_stdout(&self) -> bool {
        self.endpoint.url == "-"
    }

    /// The output this table describes (vector's `build()`): stdout, or the endpoint with its
    /// spool in `spool_dir`. An OTLP output's `host.name` is the collecting node's name.
    /// Spawns the endpoint's replay task: call it inside a tokio runtime.
    pub fn build(
        &self,
        spool_dir: PathBuf,
        node_name: &str,
    ) -> Result<crate::sink::Output, crate::sink::SinkError> {
        if self.is_stdout() {
            return Ok(crate::sink::Output::stdout());
        }
        let mut endpoint = self.endpoint.clone();
        if let OutputApi::Otlp { host_name, .. } = &mut endpoint.api {
            *host_name = Some(node_name.to_string());
        }
        crate::sink::Output::named_http(&self.name, endpoint, spool_dir, self.spool_max_bytes)
    }
}
/// The first retry's delay of a write (doubled for each further retry); not a key.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    /// `influx` (the default), `remote_write` or `otlp`.
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    url: Option<String>,
    /// OTLP only: `http/protobuf` (the default) or `grpc`.
    protocol: Option<String>,
    /// OTLP only: `telegraf` (the default) or `otel` (the vcenter receiver's names where a
    /// counter has an exact equivalent).
    names: Option<String>,
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
    /// `[output]`, or the `[[output]]` tables: each validated, names unique, `"-"` (stdout)
    /// only alone.
    pub(super) fn outputs(&self, v: Option<toml::Value>) -> Result<Vec<OutputConfig>, ConfigError> {
        let raws = match v {
            None => vec![("output".to_string(), RawOutput::default())],
            Some(toml::Value::Table(t)) => {
                vec![("output".to_string(), self.raw_output("output", t)?)]
            }
            Some(toml::Value::Array(a)) if !a.is_empty() => {
                let mut raws = Vec::with_capacity(a.len());
                for (i, v) in a.into_iter().enumerate() {
                    let key = format!("output[{i}]");
                    let toml::Value::Table(t) = v else {
                        return Err(self.err(key, "must be a table ([[output]])"));
                    };
                    raws.push((key.clone(), self.raw_output(&key, t)?));
                }
                raws
            }
            Some(_) => {
                return Err(self.err(
                    "output",
                    "must be a table ([output]) or tables ([[output]], one per output)",
                ))
            }
        };
        let several = raws.len() > 1;
        let mut outputs: Vec<OutputConfig> = Vec::with_capacity(raws.len());
        for (key, ro) in raws {
            let o = self.output(&key, ro)?;
            if several && o.is_stdout() {
                return Err(self.err(
                    format!("{key}.url"),
                    "\"-\" (stdout) only as the one output",
                ));
            }
            if outputs.iter().any(|p| p.name == o.name) {
                return Err(self.err(
                    format!("{key}.name"),
                    format!("two outputs are named {:?}: give each a name", o.name),
                ));
            }
            outputs.push(o);
        }
        Ok(outputs)
    }

    fn raw_output(&self, key: &str, t: toml::Table) -> Result<RawOutput, ConfigError> {
        toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                file: self.file.to_path_buf(),
                message: format!("{key}: {}", e.message()),
            })
    }

    /// One output table, its keys named `key.<name>` in errors.
    fn output(&self, key: &str, mut ro: RawOutput) -> Result<OutputConfig, ConfigError> {
        let k = |name: &str| format!("{key}.{name}");
        let kind = match ro.kind.take().as_deref() {
            None | Some("influx") => "influx",
            Some("remote_write") => "remote_write",
            Some("otlp") => "otlp",
            Some(other) => {
                return Err(self.err(
                    k("type"),
                    format!(
                        "unknown output type {other:?}: \"influx\", \"remote_write\" or \"otlp\""
                    ),
                ))
            }
        };
        // Remote-write and OTLP: a receiver's whole URL, no default, no InfluxDB keys.
        let remote_write = kind != "influx";
        let name = match ro.name.take() {
            Some(n) if valid_name(&n) => n,
            Some(n) => {
                return Err(self.err(
                    k("name"),
                    format!("{n:?}: letters, digits, '-' and '_' only (it names a directory)"),
                ))
            }
            None => kind.to_string(),
        };
        let url = if remote_write {
            self.required(&k("url"), ro.url.take())?
        } else {
            ro.url
                .take()
                .unwrap_or_else(|| "http://127.0.0.1:8086".into())
        };
        if url != "-" || remote_write {
            self.url(&k("url"), &url)?;
        }
        let grpc = self.otlp_protocol(key, kind, ro.protocol.take(), &url)?;
        let names = self.otlp_names(key, kind, ro.names.take())?;
        let api = if remote_write {
            self.remote_write_api(key, kind, (grpc, names), &mut ro)?
        } else {
            self.output_api(key, &mut ro)?
        };
        let endpoint = OutputEndpoint {
            url,
            api,
            timeout: self.duration_in(
                &k("timeout"),
                ro.timeout,
                Duration::from_secs(10),
                ranges::CALL_TIMEOUT,
            )?,
            gzip: ro.gzip.unwrap_or(true),
            max_retries: self.number_in(
                &k("max_retries"),
                ro.max_retries,
                3,
                ranges::MAX_RETRIES,
            )?,
            retry_backoff: RETRY_BACKOFF,
        };
        Ok(OutputConfig {
            name,
            endpoint,
            batch_lines: self.number_in(
                &k("batch_lines"),
                ro.batch_lines,
                5_000,
                ranges::BATCH_LINES,
            )?,
            batch_bytes: self.number_in(
                &k("batch_bytes"),
                ro.batch_bytes,
                1 << 20,
                ranges::BATCH_BYTES,
            )?,
            spool_max_bytes: self.number_in(
                &k("spool_max_bytes"),
                ro.spool_max_bytes,
                1 << 30,
                ranges::SPOOL_BYTES,
            )?,
        })
    }

    /// `type = "remote_write"` or `"otlp"`: InfluxDB's keys do not apply; `username` with a
    /// password, or a token (sent as a bearer token), authenticate. OTLP's `host.name` is
    /// filled in where the sink is opened, from `[node] name`.
    fn remote_write_api(
        &self,
        key: &str,
        kind: &str,
        (grpc, names): (bool, crate::sink::otlp::Names),
        ro: &mut RawOutput,
    ) -> Result<OutputApi, ConfigError> {
        let k = |name: &str| format!("{key}.{name}");
        for (key, set) in [
            (&k("database"), ro.database.is_some()),
            (&k("retention_policy"), ro.retention_policy.is_some()),
            (&k("org"), ro.org.is_some()),
            (&k("bucket"), ro.bucket.is_some()),
        ] {
            if set {
                return Err(self.err(
                    key,
                    format!("is an InfluxDB key: not used with type = {kind:?}"),
                ));
            }
        }
        let (username, password) = self.basic_auth(key, ro)?;
        let bearer_token = self.secret(
            &k("token"),
            ro.token_file.as_deref(),
            ro.token_env.as_deref(),
        )?;
        if bearer_token.is_some() && password.is_some() {
            return Err(self.err(
                k("token_file"),
                "set either username and password_file or token_file, not both",
            ));
        }
        Ok(if kind == "otlp" {
            OutputApi::Otlp {
                grpc,
                username,
                password,
                bearer_token,
                host_name: None,
                names,
            }
        } else {
            OutputApi::RemoteWrite {
                username,
                password,
                bearer_token,
            }
        })
    }

    /// OTLP's `protocol`, named as the OpenTelemetry exporters' `OTEL_EXPORTER_OTLP_PROTOCOL`:
    /// `"http/protobuf"` (the default; `url` is the whole metrics URL, `.../v1/metrics`) or
    /// `"grpc"` (`url` is the receiver's `scheme://host:port`, no path). `true` for gRPC.
    fn otlp_protocol(
        &self,
        key: &str,
        kind: &str,
        protocol: Option<String>,
        url: &str,
    ) -> Result<bool, ConfigError> {
        let k = format!("{key}.protocol");
        let grpc =
            match protocol.as_deref() {
                None => false,
                Some(_) if kind != "otlp" => {
                    return Err(self.err(k, format!("only with type = \"otlp\", not {kind:?}")))
                }
                Some("http/protobuf") => false,
                Some("grpc") => true,
                Some("http/json") => return Err(self.err(
                    k,
                    "\"http/json\" is not supported: \"http/protobuf\" (the default) or \"grpc\"",
                )),
                Some(other) => {
                    return Err(self.err(
                        k,
                        format!(
                        "unknown protocol {other:?}: \"http/protobuf\" (the default) or \"grpc\""
                    ),
                    ))
                }
            };
        if grpc {
            let path = url
                .split_once("://")
                .map_or("", |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
            if !matches!(path, "" | "/") {
                return Err(self.err(
                    format!("{key}.url"),
                    format!(
                        "{url:?}: with protocol = \"grpc\" the url is the receiver's address, \
                         scheme://host:port (e.g. http://collector:4317), without a path"
                    ),
                ));
            }
        }
        Ok(grpc)
    }

    /// OTLP's `names`: `"telegraf"` (the default: Telegraf's opentelemetry output's names) or
    /// `"otel"` (the OpenTelemetry vcenter receiver's `vcenter.*` names where a counter has
    /// an exact equivalent, src/sink/otlp/semantic.rs).
    fn otlp_names(
        &self,
        key: &str,
        kind: &str,
        names: Option<String>,
    ) -> Result<crate::sink::otlp::Names, ConfigError> {
        use crate::sink::otlp::Names;
        let k = format!("{key}.names");
        match names.as_deref() {
            None => Ok(Names::Telegraf),
            Some(_) if kind != "otlp" => {
                Err(self.err(k, format!("only with type = \"otlp\", not {kind:?}")))
            }
            Some("telegraf") => Ok(Names::Telegraf),
            Some("otel") => Ok(Names::Otel),
            Some(other) => Err(self.err(
                k,
                format!(
                    "unknown names {other:?}: \"telegraf\" (the default: Telegraf's \
                     opentelemetry output's) or \"otel\" (the OpenTelemetry vcenter \
                     receiver's vcenter.* names where a counter has an exact equivalent)"
                ),
            )),
        }
    }

    /// `username` with `password_file` (or `password_env`): both or neither.
    fn basic_auth(
        &self,
        key: &str,
        ro: &mut RawOutput,
    ) -> Result<(Option<String>, Option<crate::secret::Secret>), ConfigError> {
        let password = self.secret(
            &format!("{key}.password"),
            ro.password_file.as_deref(),
            ro.password_env.as_deref(),
        )?;
        if password.is_some() != ro.username.is_some() {
            return Err(self.err(
                format!("{key}.username"),
                "username and password_file (or password_env) go together",
            ));
        }
        Ok((ro.username.take(), password))
    }

    /// The API the keys select: 2.x when any of org, bucket or token is set, else 1.x. Takes
    /// the keys it uses out of `ro`.
    fn output_api(&self, key: &str, ro: &mut RawOutput) -> Result<OutputApi, ConfigError> {
        let k = |name: &str| format!("{key}.{name}");
        let v2 = ro.org.is_some()
            || ro.bucket.is_some()
            || ro.token_file.is_some()
            || ro.token_env.is_some();
        if v2 {
            if ro.database.is_some() {
                return Err(self.err(
                    k("database"),
                    "set either database (InfluxDB 1.x) or org/bucket/token_file (2.x), not both",
                ));
            }
            let token = self
                .secret(
                    &k("token"),
                    ro.token_file.as_deref(),
                    ro.token_env.as_deref(),
                )?
                .ok_or_else(|| self.err(k("token_file"), "is required with org and bucket"))?;
            Ok(OutputApi::V2 {
                org: self.required(&k("org"), ro.org.take())?,
                bucket: self.required(&k("bucket"), ro.bucket.take())?,
                token,
            })
        } else {
            let (username, password) = self.basic_auth(key, ro)?;
            Ok(OutputApi::V1 {
                database: ro.database.take().unwrap_or_else(|| "vsphere".into()),
                retention_policy: ro.retention_policy.take(),
                username,
                password,
            })
        }
    }
}

/// An output's name: it becomes a directory name and a label value.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
