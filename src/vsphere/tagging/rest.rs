//! vCenter's REST API, as far as the tagging service needs it: a session of its own (the
//! SOAP session cookie is not valid there), and the two URL dialects.
//!
//! vCenter 7.0 U2 and later serve `/api/...` (plain JSON answers, `?action=`); 6.5 and 6.7,
//! and govmomi's simulator, only `/rest/com/vmware/...` (answers wrapped in `{"value": …}`,
//! `?~action=`, ids in the path as `id:<id>`). The session is asked of `/api` first; a 404
//! there selects the older dialect for the whole session.
//!
//! The HTTP client is the SOAP transport's: the same `ca_file`, `tls_thumbprint` and
//! `insecure` rules, the same timeouts.

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::vsphere::error::Error;
use crate::vsphere::soap::{self, Transport};
use crate::vsphere::ClientOptions;

/// The header that carries the REST session (both dialects).
const SESSION_HEADER: &str = "vmware-api-session-id";

/// The most of an answer read: a `list-attached-tags-on-objects` page of a few thousand
/// objects is well under a megabyte.
const MAX_BODY: usize = 32 << 20;

/// Which URL scheme this vCenter's REST API has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `/api/...`: vCenter 7.0 U2 and later.
    Api,
    /// `/rest/com/vmware/...`: vCenter 6.5 to 7.0 (still served by 8), govmomi's simulator.
    Rest,
}

impl Dialect {
    fn session(self) -> &'static str {
        match self {
            Dialect::Api => "/api/session",
            Dialect::Rest => "/rest/com/vmware/cis/session",
        }
    }

    /// The tagging resource `what` (`category`, `tag`, `tag-association`).
    pub fn resource(self, what: &str) -> String {
        match self {
            Dialect::Api => format!("/api/cis/tagging/{what}"),
            Dialect::Rest => format!("/rest/com/vmware/cis/tagging/{what}"),
        }
    }

    /// The path of one object of a resource.
    pub fn object(self, what: &str, id: &str) -> String {
        match self {
            Dialect::Api => format!("{}/{id}", self.resource(what)),
            Dialect::Rest => format!("{}/id:{id}", self.resource(what)),
        }
    }

    /// The query parameter naming an action.
    pub fn action(self, action: &str) -> (&'static str, String) {
        match self {
            Dialect::Api => ("action", action.to_string()),
            Dialect::Rest => ("~action", action.to_string()),
        }
    }

    /// The answer without the `/rest` dialect's `{"value": …}` wrapper; an absent `value`
    /// (govmomi's simulator omits an empty list) is `null`.
    pub fn unwrap(self, v: Value) -> Value {
        match (self, v) {
            (Dialect::Api, v) => v,
            (Dialect::Rest, Value::Object(mut m)) => m.remove("value").unwrap_or(Value::Null),
            (Dialect::Rest, v) => v,
        }
    }
}

/// A logged-in REST session at one vCenter.
pub(crate) struct RestSession {
    transport: Transport,
    base: Url,
    pub dialect: Dialect,
    id: String,
}

impl RestSession {
    /// Logs in with the vCenter's user name and password (HTTP basic), `/api` first.
    pub async fn login(opts: &ClientOptions) -> Result<RestSession, Error> {
        let transport = Transport::new(opts)?;
        let mut base = Url::parse(&opts.url).map_err(|e| Error::Config {
            vcenter: opts.name.clone(),
            detail: format!("invalid url {:?}: {e}", opts.url),
        })?;
        base.set_path("/");
        base.set_query(None);
        let mut s = RestSession {
            transport,
            base,
            dialect: Dialect::Api,
            id: String::new(),
        };
        let answer = match s.create_session(opts).await {
            Err(Error::Http { status: 404, .. }) => {
                s.dialect = Dialect::Rest;
                s.create_session(opts).await?
            }
            r => r?,
        };
        s.id = match s.dialect.unwrap(answer) {
            Value::String(id) if !id.is_empty() => id,
            other => {
                return Err(s.transport.malformed(
                    "REST session",
                    format!("expected a session id, got {}", excerpt(&other)),
                ))
            }
        };
        tracing::debug!(vcenter = %opts.name, dialect = ?s.dialect, "REST session created");
        Ok(s)
    }

    async fn create_session(&self, opts: &ClientOptions) -> Result<Value, Error> {
        let req = self
            .transport
            .http()
            .post(self.url(self.dialect.session(), None)?)
            .basic_auth(&opts.username, Some(opts.password.expose()))
            .header("vmware-use-header-authn", "true");
        match self.send("REST session", req).await {
            Err(Error::Http { status: 401, .. }) => Err(Error::InvalidLogin {
                vcenter: opts.name.clone(),
                user: opts.username.clone(),
                message: format!("{} answered 401", self.dialect.session()),
            }),
            r => r,
        }
    }

    /// Ends the session (best effort: vCenter expires an idle one anyway).
    pub async fn logout(self) {
        let Ok(url) = self.url(self.dialect.session(), None) else {
            return;
        };
        let req = self
            .transport
            .http()
            .request(Method::DELETE, url)
            .header(SESSION_HEADER, &self.id);
        if let Err(e) = self.send("REST logout", req).await {
            tracing::debug!(vcenter = %self.transport.name, error = %e, "REST logout failed");
        }
    }

    /// GETs `path` and decodes the unwrapped answer.
    pub async fn get<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
    ) -> Result<T, Error> {
        let req = self
            .transport
            .http()
            .get(self.url(path, None)?)
            .header(SESSION_HEADER, &self.id);
        self.decode(method, self.send(method, req).await?)
    }

    /// POSTs `body` to `path` with `query` and decodes the unwrapped answer.
    pub async fn post<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        query: (&str, String),
        body: &Value,
    ) -> Result<T, Error> {
        let req = self
            .transport
            .http()
            .post(self.url(path, Some(query))?)
            .header(SESSION_HEADER, &self.id)
            .json(body);
        self.decode(method, self.send(method, req).await?)
    }

    fn decode<T: DeserializeOwned>(&self, method: &'static str, v: Value) -> Result<T, Error> {
        let v = self.dialect.unwrap(v);
        let shown = excerpt(&v);
        serde_json::from_value(v)
            .map_err(|e| self.transport.malformed(method, format!("{e} in {shown}")))
    }

    fn url(&self, path: &str, query: Option<(&str, String)>) -> Result<Url, Error> {
        let mut url = self.base.join(path).map_err(|e| {
            self.transport
                .malformed("REST url", format!("{path:?}: {e}"))
        })?;
        if let Some((k, v)) = query {
            url.query_pairs_mut().append_pair(k, &v);
        }
        Ok(url)
    }

    /// Sends a request; a 2xx answer is read as JSON (an empty body is `null`), anything
    /// else is an error naming the status and the start of the body.
    async fn send(
        &self,
        method: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, Error> {
        let t = &self.transport;
        let resp = match tokio::time::timeout(t.timeout, req.send()).await {
            Err(_) => return Err(timeout(t, method)),
            Ok(Err(e)) => return Err(t.classify(method, &e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let body = match tokio::time::timeout(t.timeout, soap::read_capped(resp, MAX_BODY)).await {
            Err(_) => return Err(timeout(t, method)),
            Ok(Err(e)) => return Err(t.classify(method, &e)),
            Ok(Ok((_, true))) => {
                return Err(t.malformed(method, format!("answer larger than {MAX_BODY} bytes")))
            }
            Ok(Ok((b, false))) => b,
        };
        if status == StatusCode::FORBIDDEN {
            return Err(Error::NoPermission {
                vcenter: t.name.clone(),
                method,
                message: soap::excerpt(&body),
            });
        }
        if !status.is_success() {
            return Err(Error::Http {
                vcenter: t.name.clone(),
                method,
                status: status.as_u16(),
                excerpt: soap::excerpt(&body),
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| t.malformed(method, format!("not JSON ({e}): {}", soap::excerpt(&body))))
    }
}

fn timeout(t: &Transport, method: &'static str) -> Error {
    Error::Timeout {
        vcenter: t.name.clone(),
        method,
        timeout: t.timeout,
    }
}

/// The start of a JSON value, for error messages.
fn excerpt(v: &Value) -> String {
    soap::excerpt(v.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_two_dialects_name_the_same_things() {
        let (api, rest) = (Dialect::Api, Dialect::Rest);
        assert_eq!(api.resource("category"), "/api/cis/tagging/category");
        assert_eq!(
            rest.object("tag", "urn:x:1"),
            "/rest/com/vmware/cis/tagging/tag/id:urn:x:1"
        );
        assert_eq!(api.object("tag", "urn:x:1"), "/api/cis/tagging/tag/urn:x:1");
        assert_eq!(api.action("a").0, "action");
        assert_eq!(rest.action("a").0, "~action");
        assert_eq!(rest.unwrap(json!({"value": ["a"]})), json!(["a"]));
        assert_eq!(rest.unwrap(json!({})), Value::Null);
        assert_eq!(api.unwrap(json!(["a"])), json!(["a"]));
    }
}
