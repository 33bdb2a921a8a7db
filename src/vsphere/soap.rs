//! SOAP over HTTP: envelopes, the HTTP client (TLS policy), faults, and mapping every
//! transport failure to an [`Error`] that names the vCenter and the cause.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE, COOKIE, SET_COOKIE};

use super::error::Error;
use super::scan;
use super::xml::{self, Node};
use super::ClientOptions;

/// The cookie that carries the vCenter session (govmomi `soap.SessionCookieName`).
pub(crate) const SESSION_COOKIE: &str = "vmware_soap_session";

/// The SOAPAction version sent before the ServiceContent tells us the real one.
pub(crate) const DEFAULT_API_VERSION: &str = "6.0";

/// A managed object reference: `<x type="HostSystem">host-12</x>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct MoRef {
    pub ty: String,
    pub value: String,
}

impl MoRef {
    pub fn new(ty: &str, value: &str) -> Self {
        MoRef {
            ty: ty.to_string(),
            value: value.to_string(),
        }
    }

    /// From an element holding a MoRef (its `type` attribute and text).
    pub fn from_node(n: &Node) -> Option<MoRef> {
        Some(MoRef {
            ty: n.attr("type")?.to_string(),
            value: n.text.trim().to_string(),
        })
    }

    /// Writes `<tag type="T">value</tag>`, escaped.
    pub fn write(&self, out: &mut String, tag: &str) {
        MoRef::write_parts(out, tag, &self.ty, &self.value);
    }

    /// [`MoRef::write`] of a type and value not held in a `MoRef` (a QueryPerf body writes
    /// one per entity: no two `String`s each).
    pub fn write_parts(out: &mut String, tag: &str, ty: &str, value: &str) {
        out.push('<');
        out.push_str(tag);
        out.push_str(r#" type=""#);
        out.push_str(&xml::escape(ty));
        out.push_str(r#"">"#);
        out.push_str(&xml::escape(value));
        out.push_str("</");
        out.push_str(tag);
        out.push('>');
    }
}

/// The parts of `ServiceContent` vcollect uses.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceContent {
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub view_manager: MoRef,
    pub session_manager: MoRef,
    pub perf_manager: MoRef,
    /// Holds the custom attribute definitions; a standalone ESXi may have none.
    pub custom_fields_manager: Option<MoRef>,
    /// `setting`: the OptionManager holding vCenter's advanced settings
    /// (`config.vpxd.stats.maxQueryMetrics`); a standalone ESXi has one too.
    pub setting: Option<MoRef>,
    /// The EventManager (vCenter's events, `[collect] events`).
    pub event_manager: Option<MoRef>,
    /// `about.apiVersion`, for the SOAPAction header.
    pub api_version: String,
    /// `about.fullName`, for the log.
    pub full_name: String,
}

impl ServiceContent {
    pub fn from_returnval(rv: &Node) -> Result<Self, String> {
        let moref = |name: &str| {
            rv.child(name)
                .and_then(MoRef::from_node)
                .ok_or_else(|| format!("ServiceContent has no {name}"))
        };
        Ok(ServiceContent {
            root_folder: moref("rootFolder")?,
            property_collector: moref("propertyCollector")?,
            view_manager: moref("viewManager")?,
            session_manager: moref("sessionManager")?,
            perf_manager: moref("perfManager")?,
            custom_fields_manager: rv.child("customFieldsManager").and_then(MoRef::from_node),
            setting: rv.child("setting").and_then(MoRef::from_node),
            event_manager: rv.child("eventManager").and_then(MoRef::from_node),
            api_version: rv
                .text_at(&["about", "apiVersion"])
                .filter(|v| !v.is_empty())
                .unwrap_or(DEFAULT_API_VERSION)
                .to_string(),
            full_name: rv
                .text_at(&["about", "fullName"])
                .unwrap_or_default()
                .to_string(),
        })
    }
}

const ENVELOPE_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#;
const ENVELOPE_TAIL: &str = "</soapenv:Body></soapenv:Envelope>";

/// Wraps a body element in a SOAP 1.1 envelope.
pub(crate) fn envelope(body: &str) -> String {
    Envelope::wrap(body).into_string()
}

/// A SOAP 1.1 envelope whose body is written in place: a QueryPerf body is a few hundred
/// kilobytes a call, written once instead of written and then copied into the envelope.
pub(crate) struct Envelope(String);

impl Envelope {
    /// An envelope with room for a body of `body` bytes.
    pub(crate) fn with_capacity(body: usize) -> Envelope {
        let mut s = String::with_capacity(ENVELOPE_HEAD.len() + body + ENVELOPE_TAIL.len());
        s.push_str(ENVELOPE_HEAD);
        Envelope(s)
    }

    /// An envelope around a copy of `body`.
    fn wrap(body: &str) -> Envelope {
        let mut e = Envelope::with_capacity(body.len());
        e.body().push_str(body);
        e
    }

    /// Where the body element is written (after the envelope's head).
    pub(crate) fn body(&mut self) -> &mut String {
        &mut self.0
    }

    /// The whole document.
    pub(crate) fn into_string(mut self) -> String {
        self.0.push_str(ENVELOPE_TAIL);
        self.0
    }
}

/// What a call's builder returns: a body element (wrapped, a copy) or an [`Envelope`]
/// written in place.
impl From<String> for Envelope {
    fn from(body: String) -> Envelope {
        Envelope::wrap(&body)
    }
}

/// A SOAP fault: the vim25 fault type, the `faultstring`, and the managed object it names
/// (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FaultInfo {
    pub fault: String,
    pub message: String,
    /// The moid a fault names: the `obj` of a `ManagedObjectNotFound` detail, else the
    /// `'vim.VirtualMachine:vm-42'` of its faultstring. Lets a caller drop that one entity
    /// from a QueryPerf call instead of losing the whole call.
    pub object: Option<String>,
}

/// The moid in a faultstring such as vCenter's "The object 'vim.VirtualMachine:vm-42' has
/// already been deleted or has not been completely created".
pub(crate) fn object_in_message(message: &str) -> Option<String> {
    let quoted = message.split('\'').nth(1)?;
    let (ty, moid) = quoted.strip_prefix("vim.")?.rsplit_once(':')?;
    (!ty.is_empty() && !moid.is_empty() && !moid.contains(char::is_whitespace))
        .then(|| moid.to_string())
}

impl FaultInfo {
    /// From a `<Fault>` element: the type is the detail child's `xsi:type`, else its element
    /// name without the `Fault` suffix (`NotAuthenticatedFault` → `NotAuthenticated`), else
    /// the `faultcode`.
    pub fn from_node(f: &Node) -> FaultInfo {
        let detail = f.child("detail").and_then(|d| d.children.first());
        let fault = detail
            .and_then(|d| {
                d.xsi_type()
                    .map(str::to_string)
                    .or_else(|| Some(d.name.strip_suffix("Fault").unwrap_or(&d.name).to_string()))
            })
            .or_else(|| f.child("faultcode").map(|c| c.text.trim().to_string()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "UnknownFault".to_string());
        let message = f
            .child("faultstring")
            .map(|s| s.text.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "(no faultstring)".to_string());
        let object = detail
            .and_then(|d| d.child("obj"))
            .map(|o| o.text.trim().to_string())
            .filter(|o| !o.is_empty())
            .or_else(|| object_in_message(&message));
        FaultInfo {
            fault,
            message,
            object,
        }
    }
}

/// What the body of a SOAP answer holds.
pub(crate) enum Answer {
    /// The `<MethodResponse>` element.
    Response(Node),
    Fault(FaultInfo),
}

/// Parses a complete SOAP envelope.
pub(crate) fn parse_answer(doc: &[u8]) -> Result<Answer, String> {
    answer_of(xml::parse(doc)?)
}

/// The answer a parsed envelope holds. The response element is moved out, not copied (a
/// copy of a large property page was, for a moment, a second tree as large as the first).
fn answer_of(env: Node) -> Result<Answer, String> {
    if env.name != "Envelope" {
        return Err(format!("expected a SOAP Envelope, found <{}>", env.name));
    }
    let body = env
        .children
        .into_iter()
        .find(|c| c.name == "Body")
        .ok_or("SOAP envelope without Body")?;
    let first = body.children.into_iter().next().ok_or("empty SOAP Body")?;
    if first.name == "Fault" {
        Ok(Answer::Fault(FaultInfo::from_node(&first)))
    } else {
        Ok(Answer::Response(first))
    }
}

/// The start of an error page, whitespace collapsed, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4000)]);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return "(empty body)".to_string();
    }
    match collapsed.char_indices().nth(200) {
        Some((i, _)) => format!("{} ...", &collapsed[..i]),
        None => collapsed,
    }
}

/// The `vmware_soap_session` cookie value from a response's `Set-Cookie` headers.
pub(crate) fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let first = v.split(';').next()?.trim();
        let (name, value) = first.split_once('=')?;
        (name.trim() == SESSION_COOKIE).then(|| value.trim().to_string())
    })
}

/// The SOAP services of one vCenter: vim25 on the SDK URL, and vSAN's health and
/// performance service on `/vsanHealth` of the same host (namespace `urn:vsan`, the same
/// session cookie, TLS policy and connection pool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Vim,
    Vsan,
}

/// The HTTP side: one reqwest client (connection pool, TLS policy) for one vCenter.
pub(crate) struct Transport {
    http: reqwest::Client,
    pub name: String,
    pub url: String,
    /// `url` parsed once: reqwest parses (and IDNA-maps) a string URL on every request, a
    /// good part of a small call's cost (docs/benchmarks.md, vSAN).
    sdk_endpoint: reqwest::Url,
    /// The vSAN service's URL: the SDK URL with the path `/vsanHealth`, parsed once too.
    vsan_endpoint: reqwest::Url,
    pub timeout: Duration,
}

impl Transport {
    /// Builds the HTTP client. TLS policy:
    /// * default: verify against the system's root certificates;
    /// * `ca_file`: verify against that PEM file **instead of** the system roots (explicit
    ///   pinning: a vCenter signed by its own VMCA should not also be trusted via any public
    ///   CA, and a public CA should not be able to impersonate it); a self-signed vCenter
    ///   certificate in it is trusted as itself (see [`super::tls`]);
    /// * `tls_thumbprint`: trust exactly the certificate with that fingerprint;
    /// * `insecure = true`: accept any certificate (explicit opt-in, logged as a warning).
    pub fn new(opts: &ClientOptions) -> Result<Transport, Error> {
        let config_err = |detail: String| Error::Config {
            vcenter: opts.name.clone(),
            detail,
        };
        let parsed = reqwest::Url::parse(&opts.url)
            .map_err(|e| config_err(format!("invalid url {:?}: {e}", opts.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(config_err(format!(
                "invalid url {:?}: scheme must be https (or http)",
                opts.url
            )));
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(opts.timeout)
            // A per-read timeout, not a total one: a QueryPerf body is read as fast as the
            // pipeline consumes it, and a slow consumer must not look like a dead vCenter.
            .read_timeout(opts.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("vcollect/", env!("CARGO_PKG_VERSION")))
            // The system's root certificates only for an https vCenter (its REST API for
            // tags shares this client and its scheme): reading and parsing them costs about
            // 10 ms of CPU a client, for nothing over plain HTTP.
            .tls_built_in_root_certs(parsed.scheme() == "https");
        if opts.insecure {
            tracing::warn!(vcenter = %opts.name, "TLS certificate verification is disabled (insecure = true)");
            b = b.danger_accept_invalid_certs(true);
        } else if let Some(tls) = super::tls::for_options(opts).map_err(config_err)? {
            b = b.use_preconfigured_tls(tls);
        }
        let http = b
            .build()
            .map_err(|e| config_err(format!("cannot build the HTTP client: {e}")))?;
        let mut vsan = parsed.clone();
        vsan.set_path("/vsanHealth");
        vsan.set_query(None);
        Ok(Transport {
            http,
            name: opts.name.clone(),
            url: opts.url.clone(),
            sdk_endpoint: parsed,
            vsan_endpoint: vsan,
            timeout: opts.timeout,
        })
    }

    /// The HTTP client with this vCenter's TLS policy, for its REST API (vSphere tags).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Maps a reqwest error to the cause an operator can act on.
    pub fn classify(&self, method: &'static str, e: &reqwest::Error) -> Error {
        let chain = error_chain(e);
        let lower = chain.to_ascii_lowercase();
        if e.is_timeout() || lower.contains("timed out") {
            return Error::Timeout {
                vcenter: self.name.clone(),
                method,
                timeout: self.timeout,
            };
        }
        if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("ssl")
        {
            return Error::Tls {
                vcenter: self.name.clone(),
                url: self.url.clone(),
                cause: chain,
            };
        }
        Error::Unreachable {
            vcenter: self.name.clone(),
            url: self.url.clone(),
            cause: chain,
        }
    }

    /// POSTs one SOAP call and returns the response if it is a 200. A 500 with a SOAP fault
    /// becomes [`Error::Fault`] (or [`Error::NoPermission`]), anything else [`Error::Http`].
    /// The body of a 200 is left unread so that QueryPerf can stream it.
    pub async fn post(
        &self,
        method: &'static str,
        api_version: &str,
        cookie: Option<&str>,
        body: String,
    ) -> Result<reqwest::Response, Error> {
        self.post_to(Service::Vim, method, api_version, cookie, body)
            .await
    }

    /// [`Self::post`] to one of the vCenter's SOAP services.
    pub async fn post_to(
        &self,
        service: Service,
        method: &'static str,
        api_version: &str,
        cookie: Option<&str>,
        body: String,
    ) -> Result<reqwest::Response, Error> {
        let started = Instant::now();
        let len = body.len();
        let (url, namespace) = match service {
            Service::Vim => (&self.sdk_endpoint, "vim25"),
            Service::Vsan => (&self.vsan_endpoint, "vsan"),
        };
        let mut req = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", format!("urn:{namespace}/{api_version}"))
            .body(body);
        if let Some(c) = cookie {
            if let Ok(v) = HeaderValue::from_str(&format!("{SESSION_COOKIE}={c}")) {
                req = req.header(COOKIE, v);
            }
        }
        let retry = req.try_clone();
        let mut result = tokio::time::timeout(self.timeout, req.send()).await;
        if let (Ok(Err(e)), Some(retry)) = (&result, retry) {
            // A pooled keep-alive connection the server has closed (vCenter restarted, a
            // load balancer's idle timeout): the request never reached it, so sending it
            // once more on a fresh connection is safe.
            if is_stale_connection(e) {
                tracing::debug!(vcenter = %self.name, method, "stale pooled connection: resending");
                result = tokio::time::timeout(self.timeout, retry.send()).await;
            }
        }
        let resp = match result {
            Err(_) => {
                return Err(Error::Timeout {
                    vcenter: self.name.clone(),
                    method,
                    timeout: self.timeout,
                })
            }
            Ok(Err(e)) => return Err(self.classify(method, &e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        tracing::debug!(
            vcenter = %self.name,
            method,
            status = status.as_u16(),
            request_bytes = len,
            duration_ms = started.elapsed().as_millis() as u64,
            "SOAP call answered"
        );
        if status.is_success() {
            return Ok(resp);
        }
        // Error bodies are small (a fault or an error page): read their start only, a
        // broken proxy may send anything.
        let bytes =
            match tokio::time::timeout(self.timeout, read_capped(resp, MAX_ERROR_BODY)).await {
                Ok(Ok((b, _))) => b,
                _ => Default::default(),
            };
        if let Ok(Answer::Fault(f)) = parse_answer(&bytes) {
            return Err(self.fault(method, f));
        }
        Err(Error::Http {
            vcenter: self.name.clone(),
            method,
            status: status.as_u16(),
            excerpt: excerpt(&bytes),
        })
    }

    pub fn fault(&self, method: &'static str, f: FaultInfo) -> Error {
        if f.fault == "NoPermission" {
            Error::NoPermission {
                vcenter: self.name.clone(),
                method,
                message: f.message,
            }
        } else {
            Error::Fault {
                vcenter: self.name.clone(),
                method,
                fault: f.fault,
                message: f.message,
                object: f.object,
            }
        }
    }

    pub fn malformed(&self, method: &'static str, detail: impl Into<String>) -> Error {
        Error::Malformed {
            vcenter: self.name.clone(),
            method,
            detail: detail.into(),
        }
    }

    /// Reads a (small) 200 body whole and returns the response element.
    pub async fn read_answer(
        &self,
        method: &'static str,
        resp: reqwest::Response,
    ) -> Result<Node, Error> {
        let bytes = match tokio::time::timeout(self.timeout, read_capped(resp, MAX_ANSWER)).await {
            Ok(Ok((b, false))) => b,
            Ok(Ok((_, true))) => return Err(self.read_error(method, None)),
            Ok(Err(e)) => return Err(self.read_error(method, Some(Ok(e)))),
            Err(e) => return Err(self.read_error(method, Some(Err(e)))),
        };
        self.answer(method, parse_answer(&bytes))
    }

    /// Why a whole answer was not read: `None` past [`MAX_ANSWER`], else the read's error or
    /// its timeout.
    fn read_error(
        &self,
        method: &'static str,
        why: Option<Result<reqwest::Error, tokio::time::error::Elapsed>>,
    ) -> Error {
        match why {
            None => self.malformed(method, format!("answer larger than {MAX_ANSWER} bytes")),
            Some(Err(_)) => Error::Timeout {
                vcenter: self.name.clone(),
                method,
                timeout: self.timeout,
            },
            Some(Ok(e)) => Error::Truncated {
                vcenter: self.name.clone(),
                method,
                entities: 0,
                detail: error_chain(&e),
            },
        }
    }

    /// Like [`Self::read_answer`] for an answer that may be large (a property collector
    /// page): parsed as it arrives, the events of each element named `split.1` at depth
    /// `split.0` handed to `capture` (see [`xml::parse_stream_with`]); the same bounds (time, [`MAX_ANSWER`] bytes) and
    /// the same errors. Returns the response element without the elements handed out.
    pub async fn read_answer_split(
        &self,
        method: &'static str,
        resp: reqwest::Response,
        split: (usize, &str),
        capture: impl xml::Capture,
    ) -> Result<Node, Error> {
        use futures::StreamExt;
        let mut read = 0usize;
        let body = resp.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(|e| std::io::Error::other(error_chain(&e)))?;
            read += chunk.len();
            if read > MAX_ANSWER {
                return Err(std::io::Error::other(TooLarge));
            }
            Ok(chunk)
        });
        let input =
            tokio::io::BufReader::with_capacity(64 << 10, tokio_util::io::StreamReader::new(body));
        let parsed =
            match tokio::time::timeout(self.timeout, xml::parse_stream_with(input, split, capture))
                .await
            {
                Err(_) => {
                    return Err(Error::Timeout {
                        vcenter: self.name.clone(),
                        method,
                        timeout: self.timeout,
                    })
                }
                Ok(Err(e)) if e.get_ref().is_some_and(|e| e.is::<TooLarge>()) => {
                    return Err(
                        self.malformed(method, format!("answer larger than {MAX_ANSWER} bytes"))
                    )
                }
                Ok(Err(e)) => {
                    return Err(Error::Truncated {
                        vcenter: self.name.clone(),
                        method,
                        entities: 0,
                        detail: e.to_string(),
                    })
                }
                Ok(Ok(parsed)) => parsed,
            };
        self.answer(method, parsed.and_then(answer_of))
    }

    /// Like [`Self::read_answer_split`], with the elements named `split.1` at depth `split.0`
    /// handed to `out` as bytes, never parsed into a tree here (see [`scan::Cutter`]): for an
    /// answer whose elements the caller reads faster itself. The rest of the document (the
    /// envelope, or a fault) is parsed as [`Self::read_answer`] parses it.
    pub async fn read_answer_cut(
        &self,
        method: &'static str,
        mut resp: reqwest::Response,
        split: (usize, &str),
        mut out: impl FnMut(&[u8]),
    ) -> Result<Node, Error> {
        let mut cutter = scan::Cutter::new(split.0, split.1);
        let mut read = 0usize;
        let body = async {
            while let Some(chunk) = resp.chunk().await? {
                read += chunk.len();
                if read > MAX_ANSWER {
                    return Ok(false);
                }
                cutter.push(&chunk, &mut out);
            }
            Ok::<_, reqwest::Error>(true)
        };
        match tokio::time::timeout(self.timeout, body).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(self.read_error(method, None)),
            Ok(Err(e)) => return Err(self.read_error(method, Some(Ok(e)))),
            Err(e) => return Err(self.read_error(method, Some(Err(e)))),
        }
        self.answer(method, parse_answer(&cutter.finish()))
    }

    /// The response element of a parsed answer, or its fault or parse error.
    fn answer(&self, method: &'static str, parsed: Result<Answer, String>) -> Result<Node, Error> {
        match parsed {
            Ok(Answer::Response(n)) => Ok(n),
            Ok(Answer::Fault(f)) => Err(self.fault(method, f)),
            Err(detail) if detail.contains("ended inside") => Err(Error::Truncated {
                vcenter: self.name.clone(),
                method,
                entities: 0,
                detail,
            }),
            Err(detail) => Err(self.malformed(method, detail)),
        }
    }
}

/// The read error of an answer past [`MAX_ANSWER`] bytes.
#[derive(Debug, thiserror::Error)]
#[error("answer larger than {MAX_ANSWER} bytes")]
struct TooLarge;

/// The most of a non-2xx body read: enough for any SOAP fault and an error page's excerpt.
pub(crate) const MAX_ERROR_BODY: usize = 64 << 10;

/// The largest answer read whole (every call but QueryPerf, which streams). A property
/// collector page of 1,000 objects is a few MB.
pub(crate) const MAX_ANSWER: usize = 64 << 20;

/// Reads a body up to `limit` bytes; the flag says there was more (left unread).
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await? {
        let room = limit - out.len();
        if c.len() > room {
            out.extend_from_slice(&c[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&c);
    }
    Ok((out, false))
}

/// A send failure on a reused connection that the peer had already closed.
fn is_stale_connection(e: &reqwest::Error) -> bool {
    if e.is_connect() || e.is_timeout() {
        return false;
    }
    let chain = error_chain(e).to_ascii_lowercase();
    chain.contains("connection closed before message completed")
        || chain.contains("connection reset")
        || chain.contains("broken pipe")
}

/// An error and its sources, joined with ": " (reqwest's own Display hides the cause).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vanished entity's fault names it, in the detail (govmomi, vCenter) or only in the
    /// faultstring (vCenter's text): either way the caller learns which entity to drop.
    #[test]
    fn a_fault_names_its_managed_object() {
        let doc = br#"<Envelope><Body><Fault><faultcode>ServerFaultCode</faultcode><faultstring>The object 'vim.VirtualMachine:vm-42' has already been deleted or has not been completely created</faultstring><detail><ManagedObjectNotFoundFault xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">vm-43</obj></ManagedObjectNotFoundFault></detail></Fault></Body></Envelope>"#;
        match parse_answer(doc).unwrap() {
            Answer::Fault(f) => {
                assert_eq!(f.fault, "ManagedObjectNotFound");
                assert_eq!(f.object.as_deref(), Some("vm-43"));
            }
            Answer::Response(_) => panic!("expected a fault"),
        }
        let msg = "The object 'vim.VirtualMachine:vm-42' has already been deleted";
        assert_eq!(object_in_message(msg).as_deref(), Some("vm-42"));
        assert_eq!(
            object_in_message("restricted - 'vpxd.stats.maxQueryMetrics'"),
            None
        );
        assert_eq!(object_in_message("no quotes"), None);
    }

    #[test]
    fn fault_type_from_xsi_type_or_element() {
        let doc = br#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The session is not authenticated.</faultstring><detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><object type="Folder">group-d1</object></NotAuthenticatedFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        match parse_answer(doc).unwrap() {
            Answer::Fault(f) => {
                assert_eq!(f.fault, "NotAuthenticated");
                assert_eq!(f.message, "The session is not authenticated.");
            }
            Answer::Response(_) => panic!("expected a fault"),
        }
        let doc = br#"<Envelope><Body><Fault><faultcode>x</faultcode><faultstring></faultstring><detail><InvalidLoginFault/></detail></Fault></Body></Envelope>"#;
        match parse_answer(doc).unwrap() {
            Answer::Fault(f) => {
                assert_eq!(f.fault, "InvalidLogin");
                assert_eq!(f.message, "(no faultstring)");
            }
            Answer::Response(_) => panic!("expected a fault"),
        }
    }

    #[test]
    fn deeply_nested_answers_are_malformed_not_an_abort() {
        let n = 7_000;
        let inner = format!("{}{}", "<x>".repeat(n), "</x>".repeat(n));
        let doc = envelope(&format!(
            "<RetrieveServiceContentResponse>{inner}</RetrieveServiceContentResponse>"
        ));
        let err = parse_answer(doc.as_bytes()).err().expect("refused");
        assert!(err.contains("nested deeper"), "{err}");
        let html = format!("<html>{}</html>", "<div>".repeat(n));
        assert!(parse_answer(html.as_bytes()).is_err());
    }

    #[test]
    fn excerpt_collapses_and_cuts() {
        assert_eq!(
            excerpt(b"<html>\n  <b>503</b>\n</html>"),
            "<html> <b>503</b> </html>"
        );
        assert_eq!(excerpt(&[b'x'; 5000]).len(), 204);
        assert_eq!(excerpt(b""), "(empty body)");
    }

    #[test]
    fn envelope_holds_escaped_moref() {
        let mut s = String::new();
        MoRef::new("Folder", "a<&>").write(&mut s, "_this");
        assert_eq!(s, r#"<_this type="Folder">a&lt;&amp;&gt;</_this>"#);
        assert!(envelope(&s).contains("<soapenv:Body><_this"));
    }
}
