//! The HTTP writer: InfluxDB 1.x `/write` (also Telegraf's `influxdb_listener` and
//! `http_listener_v2`) and InfluxDB 2.x `/api/v2/write` with gzip, Prometheus remote-write
//! ([`super::remote_write`]) or OTLP/HTTP ([`super::otlp`]); retries with backoff.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use super::error::SinkError;
use super::Precision;
use crate::secret::Secret;

/// Which write API the endpoint speaks.
#[derive(Clone, Debug)]
pub enum Api {
    /// InfluxDB 1.x (and Telegraf): `POST {url}/write?db=..&rp=..&precision=s`, HTTP Basic
    /// authentication when a username is given.
    V1 {
        database: String,
        retention_policy: Option<String>,
        username: Option<String>,
        password: Option<Secret>,
    },
    /// InfluxDB 2.x: `POST {url}/api/v2/write?org=..&bucket=..&precision=s` with
    /// `Authorization: Token <token>`.
    V2 {
        org: String,
        bucket: String,
        token: Secret,
    },
    /// Prometheus remote-write 1.0: `POST {url}` (the receiver's whole write URL, e.g.
    /// `http://prometheus:9090/api/v1/write`), a snappy-compressed protobuf body; HTTP Basic
    /// authentication when a username is given, else a bearer token when one is.
    RemoteWrite {
        username: Option<String>,
        password: Option<Secret>,
        bearer_token: Option<Secret>,
    },
    /// OTLP metrics over HTTP/protobuf: `POST {url}` (the receiver's whole metrics URL, e.g.
    /// `http://collector:4318/v1/metrics`), gzip-compressed when `gzip` is set; the same
    /// authentication as remote-write. With `grpc`, over gRPC to `{url}` (the receiver's
    /// address, e.g. `http://collector:4317`; [`super::otlp::grpc`]).
    Otlp {
        grpc: bool,
        username: Option<String>,
        password: Option<Secret>,
        bearer_token: Option<Secret>,
        /// The collecting node's name, sent as the resource attribute `host.name`.
        host_name: Option<String>,
        /// Telegraf's names, or OpenTelemetry's `vcenter.*` where one is exact.
        names: super::otlp::Names,
    },
}

impl Api {
    /// The output type, as `[output] type` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Api::V1 { .. } | Api::V2 { .. } => "influx",
            Api::RemoteWrite { .. } => "remote_write",
            Api::Otlp { .. } => "otlp",
        }
    }

    /// What answers, for messages.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Api::V1 { .. } | Api::V2 { .. } => "InfluxDB",
            Api::RemoteWrite { .. } => "the remote-write receiver",
            Api::Otlp { .. } => "the OTLP receiver",
        }
    }
}

/// Where and how to write.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Base URL, e.g. `http://127.0.0.1:8086` (a path prefix such as `/influx` is kept).
    pub url: String,
    pub api: Api,
    /// Per request (connect + send + answer).
    pub timeout: Duration,
    /// Send the body gzip-compressed (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Retries after the first attempt, for 5xx, 429, timeouts and connection errors.
    pub max_retries: u32,
    /// The first retry's delay; doubled for each further retry, capped at [`MAX_BACKOFF`].
    pub retry_backoff: Duration,
}

/// The longest delay between two retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Compression level for bodies and the spool: gzip's fastest level compresses line
/// protocol about 8:1 at several hundred MB/s; higher levels cost far more CPU than they save.
pub(crate) const GZIP_LEVEL: u32 = 1;

/// One batch of line protocol, ready to send: gzip-compressed when the writer gzips (then
/// the same bytes are also what the spool stores and every retry resends).
#[derive(Clone, Debug)]
pub struct Payload {
    pub data: Bytes,
    pub gzipped: bool,
    pub lines: usize,
    /// Uncompressed size.
    pub raw_len: usize,
    /// The unit of the timestamps.
    pub precision: Precision,
}

impl Payload {
    /// The same payload with timestamps in `precision`.
    pub fn at(self, precision: Precision) -> Payload {
        Payload { precision, ..self }
    }
}

/// gzip at the sink's level, one member (RFC 1952) of `raw`.
///
/// The deflate state (about 300 KB: the window, the hash chains, the pending buffer) is kept
/// per thread and reset for each batch rather than allocated and initialised anew: once per
/// batch, that was about 1 % of a steady cycle's CPU (`flate2::mem::Compress::new`). The
/// header is flate2's own (no name, no time, XFL 4 for the fastest level, OS unknown).
pub fn gzip(raw: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, Crc};
    thread_local! {
        static DEFLATE: std::cell::RefCell<Option<Compress>> = const { std::cell::RefCell::new(None) };
    }
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
    let mut out = Vec::with_capacity(raw.len() / 6 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with_borrow_mut(|d| {
        let d = d.get_or_insert_with(|| Compress::new(Compression::new(GZIP_LEVEL), false));
        d.reset();
        deflate_all(d, raw, &mut out);
    });
    let mut crc = Crc::new();
    crc.update(raw);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

/// All of `raw` through `d` into `out`, to the end of the deflate stream.
fn deflate_all(d: &mut flate2::Compress, raw: &[u8], out: &mut Vec<u8>) {
    use flate2::{FlushCompress, Status};
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let done = usize::try_from(d.total_in()).map_or(raw.len(), |n| n.min(raw.len()));
        match d.compress_vec(&raw[done..], out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return,
            Ok(Status::Ok | Status::BufError) => {}
            // Deflate into memory has no failure but a broken stream state, which a reset
            // state is not: say so rather than send a truncated body.
            Err(e) => panic!("deflate of an in-memory batch failed: {e}"),
        }
    }
}

/// Decompresses a whole gzip member (an error for corrupt or truncated data).
pub fn gunzip(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(gz.len() * 6);
    flate2::read::GzDecoder::new(gz).read_to_end(&mut out)?;
    Ok(out)
}

/// Writes batches to one endpoint.
#[derive(Debug)]
pub struct Writer {
    client: reqwest::Client,
    write_url: Url,
    /// `write_url` with `precision=ms` (InfluxDB).
    write_url_ms: Url,
    /// The base URL, for messages and logs.
    url: String,
    opts: HttpOptions,
    /// OTLP over gRPC: its connection (the HTTP client is then unused).
    grpc: Option<super::otlp::grpc::Exporter>,
    /// Remote-write and OTLP: the encoder, kept between batches with what it derived from
    /// each series (one batch is converted at a time; the lock is never held across I/O).
    encoder: Encoder,
}

/// A remote-write or OTLP output's encoder.
#[derive(Debug)]
enum Encoder {
    None,
    RemoteWrite(std::sync::Mutex<super::remote_write::Encoder>),
    Otlp(std::sync::Mutex<super::otlp::Encoder>),
}

impl Writer {
    pub fn new(opts: HttpOptions) -> Result<Writer, SinkError> {
        let base = opts.url.trim_end_matches('/');
        let parsed = Url::parse(base)
            .map_err(|e| SinkError::Config(format!("output url {:?}: {e}", opts.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SinkError::Config(format!(
                "output url {:?}: the scheme must be http or https",
                opts.url
            )));
        }
        let mut write_url = match &opts.api {
            Api::V1 { .. } => Url::parse(&format!("{base}/write")),
            Api::V2 { .. } => Url::parse(&format!("{base}/api/v2/write")),
            Api::RemoteWrite { .. } | Api::Otlp { .. } => Ok(parsed.clone()),
        }
        .map_err(|e| SinkError::Config(format!("output url {:?}: {e}", opts.url)))?;
        if matches!(opts.api, Api::V1 { .. } | Api::V2 { .. }) {
            let mut q = write_url.query_pairs_mut();
            match &opts.api {
                Api::V1 {
                    database,
                    retention_policy,
                    ..
                } => {
                    if database.is_empty() {
                        return Err(SinkError::Config("output database is empty".into()));
                    }
                    q.append_pair("db", database);
                    if let Some(rp) = retention_policy.as_deref().filter(|r| !r.is_empty()) {
                        q.append_pair("rp", rp);
                    }
                }
                Api::V2 { org, bucket, .. } => {
                    q.append_pair("org", org);
                    q.append_pair("bucket", bucket);
                }
                Api::RemoteWrite { .. } | Api::Otlp { .. } => {}
            }
        }
        let mut write_url_ms = write_url.clone();
        if matches!(opts.api, Api::V1 { .. } | Api::V2 { .. }) {
            for (url, p) in [
                (&mut write_url, Precision::Seconds),
                (&mut write_url_ms, Precision::Millis),
            ] {
                url.query_pairs_mut().append_pair("precision", p.param());
            }
        }
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("vcollect/", env!("CARGO_PKG_VERSION")))
            // The system's root certificates only where TLS is spoken: reading and parsing
            // them costs each client about 10 ms of CPU (2.5 % of a `vcollect once` of 2,000
            // VMs), for nothing on a plain-HTTP output such as a local InfluxDB or Telegraf.
            .tls_built_in_root_certs(parsed.scheme() == "https")
            .build()
            .map_err(|e| SinkError::Config(format!("building the HTTP client: {e}")))?;
        let grpc = match &opts.api {
            Api::Otlp { grpc: true, .. } => Some(super::otlp::grpc::Exporter::new(
                base,
                opts.timeout,
                opts.gzip,
                authorization(&opts.api),
            )?),
            _ => None,
        };
        let encoder = match &opts.api {
            Api::RemoteWrite { .. } => Encoder::RemoteWrite(Default::default()),
            Api::Otlp { names, .. } => {
                Encoder::Otlp(std::sync::Mutex::new(super::otlp::Encoder::new(*names)))
            }
            Api::V1 { .. } | Api::V2 { .. } => Encoder::None,
        };
        Ok(Writer {
            client,
            write_url,
            write_url_ms,
            url: base.to_string(),
            opts,
            grpc,
            encoder,
        })
    }

    /// The endpoint's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bodies are gzip-compressed here: line protocol for InfluxDB. Remote-write and OTLP
    /// convert the line protocol at send time and compress what they send then.
    pub fn gzip(&self) -> bool {
        self.opts.gzip && matches!(self.opts.api, Api::V1 { .. } | Api::V2 { .. })
    }

    /// Turns a body into what this writer sends (compressing once if it gzips).
    pub fn payload(&self, body: Vec<u8>, lines: usize) -> Payload {
        let raw_len = body.len();
        if self.gzip() {
            Payload {
                data: Bytes::from(gzip(&body)),
                gzipped: true,
                lines,
                raw_len,
                precision: Precision::Seconds,
            }
        } else {
            Payload {
                data: Bytes::from(body),
                gzipped: false,
                lines,
                raw_len,
                precision: Precision::Seconds,
            }
        }
    }

    /// Sends with retries: up to `1 + max_retries` attempts for retryable failures, with
    /// exponential backoff. Returns the last error.
    pub async fn write(&self, p: &Payload) -> Result<(), SinkError> {
        let mut backoff = self.opts.retry_backoff;
        let attempts = self.opts.max_retries.saturating_add(1);
        let mut attempt = 1;
        let started = std::time::Instant::now();
        let metrics = crate::telemetry::metrics();
        loop {
            let sent = self.send(p).await;
            if sent.is_ok() || attempt >= attempts || sent.as_ref().is_err_and(|e| e.is_permanent())
            {
                metrics.sink_write(started.elapsed());
            }
            match sent {
                Ok(()) => {
                    tracing::trace!(sink = %self.url, lines = p.lines, bytes = p.data.len(), attempt, "batch written");
                    return Ok(());
                }
                Err(e) if e.is_permanent() || attempt >= attempts => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        sink = %self.url,
                        lines = p.lines,
                        bytes = p.data.len(),
                        attempt,
                        retry_in = %humantime::format_duration(backoff),
                        error = %e,
                        "write failed, retrying"
                    );
                    metrics.sink_retry();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF.max(self.opts.retry_backoff));
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt.
    pub async fn send(&self, p: &Payload) -> Result<(), SinkError> {
        match &self.opts.api {
            Api::RemoteWrite { .. } => return self.send_remote_write(&p.data, p.precision).await,
            Api::Otlp { host_name, .. } => {
                return self
                    .send_otlp(&p.data, host_name.as_deref(), p.precision)
                    .await
            }
            Api::V1 { .. } | Api::V2 { .. } => {}
        }
        let url = match p.precision {
            Precision::Seconds => &self.write_url,
            Precision::Millis => &self.write_url_ms,
        };
        let req = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(p.data.clone());
        let req = if p.gzipped {
            req.header(CONTENT_ENCODING, "gzip")
        } else {
            req
        };
        self.post(req).await.map(drop)
    }

    /// Remote-write: the line protocol converted and sent. A receiver that refuses samples
    /// for their order or age (400) stores nothing of the request (Prometheus rolls it
    /// back), so the halves are sent again, down to single lines; a line refused alone is
    /// left out, counted and logged. The rest arrives; the same batch would otherwise be
    /// refused for ever.
    async fn send_remote_write(&self, lp: &[u8], precision: Precision) -> Result<(), SinkError> {
        let mut todo = vec![lp];
        while let Some(part) = todo.pop() {
            let e = match &self.encoder {
                Encoder::RemoteWrite(enc) => enc
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .encode(part, precision)?,
                _ => super::remote_write::encode_at(part, precision)?,
            };
            let req = self
                .client
                .post(self.write_url.clone())
                .header(CONTENT_TYPE, "application/x-protobuf")
                .header(CONTENT_ENCODING, "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(e.body);
            match self.post(req).await {
                Ok(_) => {}
                Err(SinkError::Refused {
                    status: 400,
                    message,
                    ..
                }) if super::remote_write::refused_for_order(&message) => {
                    if let Some((a, b)) = super::remote_write::halves(part) {
                        todo.push(b);
                        todo.push(a);
                        continue;
                    }
                    crate::telemetry::metrics().sink_refused_for_order();
                    tracing::warn!(sink = %self.url, %message, line = %String::from_utf8_lossy(part).trim_end(),
                        "the receiver refused a line's samples as out of order, too old or duplicate: \
                         left out (see the out-of-order settings in docs/configuration.md)");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// OTLP/HTTP: the line protocol converted to an `ExportMetricsServiceRequest`. A partial
    /// success (the receiver took the request but refused some points) is logged with the
    /// receiver's reason: resending would be refused the same way.
    async fn send_otlp(
        &self,
        lp: &[u8],
        host: Option<&str>,
        precision: Precision,
    ) -> Result<(), SinkError> {
        // Over HTTP the encoder compresses while it writes the request; over gRPC tonic
        // compresses (at its own level, 6: tonic has no setting for it).
        let gzip_here = self.grpc.is_none() && self.opts.gzip;
        let encode = |enc: &mut super::otlp::Encoder| {
            if gzip_here {
                enc.encode_gzip(lp, host, precision)
            } else {
                enc.encode(lp, host, precision)
            }
        };
        // The lock is released before the request is sent.
        let e = match &self.encoder {
            Encoder::Otlp(enc) => encode(&mut enc.lock().unwrap_or_else(|e| e.into_inner()))?,
            _ => encode(&mut super::otlp::Encoder::new(super::otlp::Names::Telegraf))?,
        };
        if let Some(grpc) = &self.grpc {
            let resp = grpc.export(e.body).await.map_err(|s| {
                super::otlp::grpc::error(&s, self.opts.api.endpoint(), &self.url, self.opts.timeout)
            })?;
            if let Some((rejected, message)) = super::otlp::partial(resp) {
                tracing::warn!(sink = %self.url, points = e.points, rejected, %message,
                    "the OTLP receiver took the batch but refused some of its points (partial success)");
            }
            return Ok(());
        }
        let req = self
            .client
            .post(self.write_url.clone())
            .header(CONTENT_TYPE, "application/x-protobuf");
        let req = if gzip_here {
            req.header(CONTENT_ENCODING, "gzip").body(e.body)
        } else {
            req.body(e.body)
        };
        let resp = self.post(req).await?;
        let body = read_prefix(resp, ERROR_BODY_LIMIT)
            .await
            .map_err(|e| self.transport_error(e))?;
        if let Some((rejected, message)) = super::otlp::partial_success(&body) {
            tracing::warn!(sink = %self.url, points = e.points, rejected, %message,
                "the OTLP receiver took the batch but refused some of its points (partial success)");
        }
        Ok(())
    }

    /// Authenticates and sends one request; the answer when it is a success.
    async fn post(&self, mut req: reqwest::RequestBuilder) -> Result<reqwest::Response, SinkError> {
        match &self.opts.api {
            Api::V1 {
                username: Some(u),
                password,
                ..
            }
            | Api::RemoteWrite {
                username: Some(u),
                password,
                ..
            }
            | Api::Otlp {
                username: Some(u),
                password,
                ..
            } => {
                req = req.basic_auth(u, password.as_ref().map(|p| p.expose()));
            }
            Api::V2 { token, .. } => {
                req = req.header(AUTHORIZATION, format!("Token {}", token.expose()));
            }
            Api::RemoteWrite {
                bearer_token: Some(t),
                ..
            }
            | Api::Otlp {
                bearer_token: Some(t),
                ..
            } => {
                req = req.bearer_auth(t.expose());
            }
            Api::V1 { .. } | Api::RemoteWrite { .. } | Api::Otlp { .. } => {}
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = match read_prefix(resp, ERROR_BODY_LIMIT).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return Err(self.transport_error(e)),
        };
        Err(self.status_error(status, &text))
    }

    /// A zero-line write: proves the endpoint answers, the credentials work and (1.x) the
    /// database exists, without writing anything.
    pub async fn check(&self) -> Result<(), SinkError> {
        self.send(&Payload {
            data: Bytes::new(),
            gzipped: false,
            lines: 0,
            raw_len: 0,
            precision: Precision::Seconds,
        })
        .await
    }

    fn transport_error(&self, e: reqwest::Error) -> SinkError {
        if e.is_timeout() {
            return SinkError::Timeout {
                endpoint: self.opts.api.endpoint(),
                url: self.url.clone(),
                timeout: self.opts.timeout,
            };
        }
        // reqwest's own message ("error sending request for url ...") hides the cause.
        let mut cause = String::new();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            if !cause.is_empty() {
                cause.push_str(": ");
            }
            cause.push_str(&s.to_string());
            src = s.source();
        }
        if cause.is_empty() {
            cause = e.to_string();
        }
        SinkError::Unreachable {
            endpoint: self.opts.api.endpoint(),
            url: self.url.clone(),
            cause,
        }
    }

    fn status_error(&self, status: StatusCode, body: &str) -> SinkError {
        let message = error_message(status, body);
        let url = self.url.clone();
        let code = status.as_u16();
        let endpoint = self.opts.api.endpoint();
        match code {
            401 | 403 => SinkError::Auth {
                endpoint,
                url,
                status: code,
                message,
            },
            429 => SinkError::Server {
                endpoint,
                url,
                status: code,
                message,
            },
            400..=499 => SinkError::Refused {
                endpoint,
                url,
                status: code,
                message,
            },
            _ => SinkError::Server {
                endpoint,
                url,
                status: code,
                message,
            },
        }
    }
}

/// The `Authorization` value remote-write and OTLP send: HTTP Basic when a username is
/// given, else a bearer token when one is (what [`Writer::post`] adds over HTTP).
fn authorization(api: &Api) -> Option<String> {
    use base64::Engine as _;
    match api {
        Api::RemoteWrite {
            username: Some(u),
            password,
            ..
        }
        | Api::Otlp {
            username: Some(u),
            password,
            ..
        } => {
            let p = password.as_ref().map_or("", |p| p.expose());
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            Some(format!("Basic {b}"))
        }
        Api::RemoteWrite {
            bearer_token: Some(t),
            ..
        }
        | Api::Otlp {
            bearer_token: Some(t),
            ..
        } => Some(format!("Bearer {}", t.expose())),
        _ => None,
    }
}

/// The cause from an error answer: InfluxDB 1.x sends `{"error":"..."}`, 2.x
/// `{"code":"...","message":"..."}`; anything else is shown as text (or the status' name).
fn error_message(status: StatusCode, body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for key in ["error", "message"] {
            if let Some(s) = v.get(key).and_then(|s| s.as_str()) {
                return s.trim().to_string();
            }
        }
    }
    let t = body.trim();
    if t.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_string()
    } else {
        t.chars().take(300).collect()
    }
}

/// What of a refusal's body goes into the error: enough for InfluxDB's JSON message.
const ERROR_BODY_LIMIT: usize = 4096;

/// Reads at most `limit` bytes of an answer's body and drops the rest unread: the sink, or a
/// proxy in front of it, may answer an error with a body of any size, even an endless one.
async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await? {
            Some(c) => out.extend_from_slice(&c[..c.len().min(limit - out.len())]),
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(
                StatusCode::NOT_FOUND,
                r#"{"error":"database not found: \"vsphere\""}"#
            ),
            r#"database not found: "vsphere""#
        );
        assert_eq!(
            error_message(
                StatusCode::NOT_FOUND,
                r#"{"code":"not found","message":"bucket \"b\" not found"}"#
            ),
            r#"bucket "b" not found"#
        );
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, ""), "Bad Gateway");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, " oops \n"), "oops");
    }

    fn v1(url: &str) -> HttpOptions {
        HttpOptions {
            url: url.into(),
            api: Api::V1 {
                database: "vs phere".into(),
                retention_policy: Some("autogen".into()),
                username: None,
                password: None,
            },
            timeout: Duration::from_secs(1),
            gzip: true,
            max_retries: 0,
            retry_backoff: Duration::from_millis(10),
        }
    }

    #[test]
    fn write_urls() {
        let w = Writer::new(v1("http://h:8086/")).unwrap();
        assert_eq!(
            w.write_url.as_str(),
            "http://h:8086/write?db=vs+phere&rp=autogen&precision=s"
        );
        let mut o = v1("https://h/influx");
        o.api = Api::V2 {
            org: "my org".into(),
            bucket: "b&c".into(),
            token: Secret::new("t"),
        };
        let w = Writer::new(o).unwrap();
        assert_eq!(
            w.write_url.as_str(),
            "https://h/influx/api/v2/write?org=my+org&bucket=b%26c&precision=s"
        );
        assert!(Writer::new(v1("ftp://h")).is_err());
        assert!(Writer::new(v1("not a url")).is_err());
    }

    #[test]
    fn gzip_round_trip() {
        let raw = b"m f=1i 1\n".repeat(100);
        let gz = gzip(&raw);
        assert!(gz.len() < raw.len());
        assert_eq!(gunzip(&gz).unwrap(), raw);
        assert!(gunzip(&gz[..gz.len() - 3]).is_err());
    }

    #[test]
    fn gzip_with_a_reused_state_round_trips_each_batch() {
        use std::io::Write;
        // Batches of different sizes one after the other on one thread (the state is
        // reset between them), empty and larger than the window included; each is a whole
        // gzip member with flate2's header, as large as flate2's own within a few bytes
        // (flate2 feeds deflate in pieces, so its blocks end elsewhere).
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| {
                format!(
                    "vsphere_vm_cpu,moid=vm-{} usage_average={i}i {i}\n",
                    i % 977
                )
                .into_bytes()
            })
            .collect();
        for raw in [&b""[..], b"m f=1i 1\n", &big, b"m f=2i 2\n"] {
            let mut enc =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
            enc.write_all(raw).unwrap();
            let theirs = enc.finish().unwrap();
            let ours = gzip(raw);
            assert_eq!(ours[..10], theirs[..10], "the header");
            assert!(
                ours.len() <= theirs.len() + 64,
                "{} against {}",
                ours.len(),
                theirs.len()
            );
            assert!(
                gunzip(&ours).unwrap() == raw,
                "{} bytes round trip",
                raw.len()
            );
        }
    }
}
