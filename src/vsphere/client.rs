//! The session: connect, login, transparent re-login, logout.
//!
//! A session expires when idle and disappears when vCenter restarts. Rather than probing it
//! before every call (Telegraf sends a `CurrentTime` before each one), vcollect sends the call
//! and, on a `NotAuthenticated` fault, logs in again and repeats the call once. Concurrent
//! callers that see the same expired session must not all log in: a generation counter says
//! whether someone else already did it while we waited for the login lock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::secret::Secret;

use super::error::Error;
use super::soap::{self, MoRef, Service, ServiceContent, Transport};
use super::xml::{self, Node};

/// How to reach and log in to one vCenter.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The vCenter's name (the `vcenter` tag), used in every error and log line.
    pub name: String,
    /// The SDK URL, e.g. `https://vc1.example.com/sdk`.
    pub url: String,
    pub username: String,
    pub password: Secret,
    /// A PEM CA bundle to trust **instead of** the system roots; it may hold the vCenter's
    /// own self-signed certificate.
    pub ca_file: Option<PathBuf>,
    /// Pin the vCenter's certificate by its SHA-256 or SHA-1 fingerprint (`AB:CD:…`).
    pub tls_thumbprint: Option<String>,
    /// Accept any certificate (explicit opt-in).
    pub insecure: bool,
    /// Connect timeout, per-read timeout, and the time a small call may take.
    pub timeout: Duration,
}

/// The live session: cookie, service content, and a generation bumped by every login.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub cookie: Option<String>,
    pub generation: u64,
    pub sc: Arc<ServiceContent>,
}

pub(crate) struct Inner {
    pub transport: Transport,
    username: String,
    password: Secret,
    session: Mutex<Session>,
    /// Held while logging in, so that only one re-login runs at a time.
    login_lock: tokio::sync::Mutex<()>,
}

/// A logged-in vSphere client for one vCenter. Cheap to clone (an `Arc` inside); every
/// method takes `&self`, so one client serves concurrent QueryPerf calls.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.inner.transport.name)
            .field("url", &self.inner.transport.url)
            .field("username", &self.inner.username)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the HTTP client (TLS policy), reads the ServiceContent and logs in.
    pub async fn connect(opts: ClientOptions) -> Result<Client, Error> {
        let transport = Transport::new(&opts)?;
        let inner = Inner {
            transport,
            username: opts.username,
            password: opts.password,
            session: Mutex::new(Session {
                cookie: None,
                generation: 0,
                sc: Arc::new(ServiceContent::default()),
            }),
            login_lock: tokio::sync::Mutex::new(()),
        };
        let client = Client {
            inner: Arc::new(inner),
        };
        {
            let _guard = client.inner.login_lock.lock().await;
            client.login(0).await?;
        }
        Ok(client)
    }

    /// The vCenter's name, as configured.
    pub fn name(&self) -> &str {
        &self.inner.transport.name
    }

    /// Bumped by every (re-)login. Counter keys and MoRefs may differ after a vCenter
    /// restart, so a caller that caches the counter catalogue can reload it when this moves.
    pub fn session_generation(&self) -> u64 {
        self.session().generation
    }

    pub(crate) fn session(&self) -> Session {
        match self.inner.session.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_session(&self, s: Session) {
        match self.inner.session.lock() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    /// RetrieveServiceContent + Login, with a fresh cookie. Caller holds `login_lock`.
    async fn login(&self, generation: u64) -> Result<(), Error> {
        let t = &self.inner.transport;
        let started = Instant::now();
        let mut body = String::from(r#"<RetrieveServiceContent xmlns="urn:vim25">"#);
        MoRef::new("ServiceInstance", "ServiceInstance").write(&mut body, "_this");
        body.push_str("</RetrieveServiceContent>");
        let resp = t
            .post(
                "RetrieveServiceContent",
                soap::DEFAULT_API_VERSION,
                None,
                soap::envelope(&body),
            )
            .await?;
        let mut cookie = soap::session_cookie(&resp);
        let answer = t.read_answer("RetrieveServiceContent", resp).await?;
        let rv = answer
            .child("returnval")
            .ok_or_else(|| t.malformed("RetrieveServiceContent", "no returnval"))?;
        let sc = ServiceContent::from_returnval(rv)
            .map_err(|d| t.malformed("RetrieveServiceContent", d))?;

        let mut body = String::from(r#"<Login xmlns="urn:vim25">"#);
        sc.session_manager.write(&mut body, "_this");
        body.push_str("<userName>");
        body.push_str(&xml::escape(&self.inner.username));
        body.push_str("</userName><password>");
        body.push_str(&xml::escape(self.inner.password.expose()));
        body.push_str("</password></Login>");
        let resp = t
            .post(
                "Login",
                &sc.api_version,
                cookie.as_deref(),
                soap::envelope(&body),
            )
            .await
            .map_err(|e| match e {
                Error::Fault { fault, message, .. }
                    if fault == "InvalidLogin" || fault == "PasswordExpired" =>
                {
                    Error::InvalidLogin {
                        vcenter: t.name.clone(),
                        user: self.inner.username.clone(),
                        message: if fault == "InvalidLogin" {
                            message
                        } else {
                            format!("{fault}: {message}")
                        },
                    }
                }
                e => e,
            })?;
        if let Some(c) = soap::session_cookie(&resp) {
            cookie = Some(c);
        }
        t.read_answer("Login", resp).await?;
        if cookie.is_none() {
            return Err(t.malformed(
                "Login",
                format!("no {} cookie in the answer", soap::SESSION_COOKIE),
            ));
        }
        tracing::info!(
            vcenter = %t.name,
            user = %self.inner.username,
            server = %sc.full_name,
            api_version = %sc.api_version,
            generation = generation + 1,
            duration_ms = started.elapsed().as_millis() as u64,
            "logged in"
        );
        self.set_session(Session {
            cookie,
            generation: generation + 1,
            sc: Arc::new(sc),
        });
        Ok(())
    }

    /// Logs in again unless another caller already did since `seen` was the generation.
    pub(crate) async fn relogin(&self, seen: u64) -> Result<(), Error> {
        let _guard = self.inner.login_lock.lock().await;
        let current = self.session().generation;
        if current != seen {
            return Ok(());
        }
        tracing::warn!(vcenter = %self.inner.transport.name, "session expired or vCenter restarted: logging in again");
        self.login(current).await
    }

    /// Sends one call built by `build` for the current session; on `NotAuthenticated`,
    /// re-logs in and sends it once more (rebuilt: MoRefs may change with the session).
    pub(crate) async fn send<F, B>(
        &self,
        method: &'static str,
        build: F,
    ) -> Result<reqwest::Response, Error>
    where
        F: Fn(&ServiceContent) -> B,
        B: Into<soap::Envelope>,
    {
        self.send_to(Service::Vim, method, build).await
    }

    /// [`Self::send`] to one of the vCenter's SOAP services (vSAN's shares the session).
    pub(crate) async fn send_to<F, B>(
        &self,
        service: Service,
        method: &'static str,
        build: F,
    ) -> Result<reqwest::Response, Error>
    where
        F: Fn(&ServiceContent) -> B,
        B: Into<soap::Envelope>,
    {
        let s = self.session();
        let t = &self.inner.transport;
        let first = t
            .post_to(
                service,
                method,
                &s.sc.api_version,
                s.cookie.as_deref(),
                build(&s.sc).into().into_string(),
            )
            .await;
        match first {
            Err(e) if e.is_not_authenticated() => {
                self.relogin(s.generation).await?;
                let s = self.session();
                t.post_to(
                    service,
                    method,
                    &s.sc.api_version,
                    s.cookie.as_deref(),
                    build(&s.sc).into().into_string(),
                )
                .await
            }
            r => r,
        }
    }

    /// [`Self::send`], then reads the (small) answer whole and returns its response element.
    pub(crate) async fn invoke<F>(&self, method: &'static str, build: F) -> Result<Node, Error>
    where
        F: Fn(&ServiceContent) -> String,
    {
        let resp = self.send(method, build).await?;
        self.inner.transport.read_answer(method, resp).await
    }

    /// vCenter's clock (`ServiceInstance.CurrentTime`), in unix seconds. Windows are computed
    /// on server time so that a skewed collector clock cannot cause gaps.
    pub async fn current_time(&self) -> Result<i64, Error> {
        let n = self
            .invoke("CurrentTime", |_| {
                let mut b = String::from(r#"<CurrentTime xmlns="urn:vim25">"#);
                MoRef::new("ServiceInstance", "ServiceInstance").write(&mut b, "_this");
                b.push_str("</CurrentTime>");
                b
            })
            .await?;
        let text = n.text_at(&["returnval"]).unwrap_or_default().trim();
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp())
            .map_err(|e| {
                self.inner
                    .transport
                    .malformed("CurrentTime", format!("bad dateTime {text:?}: {e}"))
            })
    }

    /// Ends the session (best effort: errors are logged at debug level only).
    pub async fn logout(&self) {
        // Sent directly, not through `invoke`: an expired session must not be re-logged in
        // only to be logged out.
        let s = self.session();
        let t = &self.inner.transport;
        let mut b = String::from(r#"<Logout xmlns="urn:vim25">"#);
        s.sc.session_manager.write(&mut b, "_this");
        b.push_str("</Logout>");
        let r = match t
            .post(
                "Logout",
                &s.sc.api_version,
                s.cookie.as_deref(),
                soap::envelope(&b),
            )
            .await
        {
            Ok(resp) => t.read_answer("Logout", resp).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match r {
            Ok(_) => tracing::info!(vcenter = %self.inner.transport.name, "logged out"),
            Err(e) => {
                tracing::debug!(vcenter = %self.inner.transport.name, error = %e, "logout failed")
            }
        }
    }
}
