//! gRPC plumbing shared by the server and the clients: the generated code, the cluster-token
//! check, mutual TLS, and one reused channel per peer.
//!
//! Every call carries `authorization: Bearer <token>`; the server compares it in constant time
//! and refuses anything else with `UNAUTHENTICATED`, logging the caller's address. With mutual
//! TLS configured the connection itself is authenticated too (the peer must present a
//! certificate signed by the cluster CA).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use subtle::ConstantTimeEq;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};
use tonic::{Request, Status};

use super::error::Error;
use crate::config::{ClusterConfig, ClusterTls};
use crate::secret::Secret;

/// The code generated from `proto/vcollect.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("vcollect");
}

/// Largest message accepted (big log batches; the unary `InstallSnapshot` of release 0.1:
/// snapshots otherwise travel in chunks, [`super::snapshot_stream`]).
pub const MAX_MESSAGE: usize = 64 << 20;

const AUTHORIZATION: &str = "authorization";

/// PEM contents for mutual TLS, loaded once.
#[derive(Clone)]
pub struct TlsPem {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub ca: Vec<u8>,
}

impl TlsPem {
    pub fn load(files: &ClusterTls) -> Result<TlsPem, Error> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::Tls(format!("cannot read {}: {e}", p.display())))
        };
        Ok(TlsPem {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
            ca: read(&files.ca)?,
        })
    }

    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
    }

    fn client_config(&self, host: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
            .domain_name(host.to_string())
    }
}

/// Turns a configured endpoint into a channel over another network than TCP: the
/// simulation's. `None` in [`ClientOptions`]: TCP.
pub type Dial = Arc<dyn Fn(Endpoint) -> Channel + Send + Sync>;

/// How this process talks to nodes: the token, TLS, and the per-call deadline.
#[derive(Clone)]
pub struct ClientOptions {
    pub token: Option<Secret>,
    pub tls: Option<TlsPem>,
    /// Deadline of one call unless the caller gives a shorter one.
    pub timeout: Duration,
    /// The network channels connect over; `None`: TCP.
    pub dial: Option<Dial>,
}

impl ClientOptions {
    pub fn new(token: Option<Secret>, timeout: Duration) -> Self {
        ClientOptions {
            token,
            tls: None,
            timeout,
            dial: None,
        }
    }

    pub fn from_config(cc: &ClusterConfig) -> Result<Self, Error> {
        Ok(ClientOptions {
            token: cc.token.clone(),
            tls: cc.tls.as_ref().map(TlsPem::load).transpose()?,
            timeout: Duration::from_secs(2),
            dial: None,
        })
    }

    /// A lazily connected channel to `addr` (`host:port`).
    pub fn channel(&self, addr: &str) -> Result<Channel, Error> {
        let bad = |message: String| Error::BadAddress {
            addr: addr.to_string(),
            message,
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut ep = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            // Pings also while no call is open: a connection that died while this node had
            // nothing to say to the peer (it was a follower; the peer restarted behind a
            // partition) is found out before the node needs it, not by its first calls
            // timing out one after another.
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            let host = addr
                .rsplit_once(':')
                .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
                .unwrap_or(addr);
            ep = ep
                .tls_config(tls.client_config(host))
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(match &self.dial {
            None => ep.connect_lazy(),
            Some(dial) => dial(ep),
        })
    }

    fn interceptor(&self) -> AddToken {
        AddToken(self.token.as_ref().and_then(|t| {
            MetadataValue::try_from(format!("Bearer {}", t.expose()))
                .ok()
                .map(Arc::new)
        }))
    }

    pub fn raft_client(&self, channel: Channel) -> RaftClient {
        pb::raft_client::RaftClient::with_interceptor(channel, self.interceptor())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    pub fn cluster_client(&self, channel: Channel) -> ClusterClient {
        pb::cluster_client::ClusterClient::with_interceptor(channel, self.interceptor())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }
}

/// Adds the cluster token to every outgoing call.
#[derive(Clone)]
pub struct AddToken(Option<Arc<MetadataValue<Ascii>>>);

impl Interceptor for AddToken {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(AUTHORIZATION, (**v).clone());
        }
        Ok(req)
    }
}

pub type RaftClient = pb::raft_client::RaftClient<InterceptedService<Channel, AddToken>>;
pub type ClusterClient = pb::cluster_client::ClusterClient<InterceptedService<Channel, AddToken>>;

/// One reused channel per peer address (cheap to clone, multiplexed, reconnects by itself).
pub struct Peers {
    opts: ClientOptions,
    channels: Mutex<HashMap<String, Channel>>,
}

impl Peers {
    pub fn new(opts: ClientOptions) -> Self {
        Peers {
            opts,
            channels: Mutex::new(HashMap::new()),
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    fn channel(&self, addr: &str) -> Result<Channel, Error> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let c = self.opts.channel(addr)?;
        map.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    pub fn raft(&self, addr: &str) -> Result<RaftClient, Error> {
        Ok(self.opts.raft_client(self.channel(addr)?))
    }

    pub fn cluster(&self, addr: &str) -> Result<ClusterClient, Error> {
        Ok(self.opts.cluster_client(self.channel(addr)?))
    }
}

/// Server side: refuses calls without the right token.
#[derive(Clone)]
pub struct CheckToken(Option<Arc<[u8]>>);

impl CheckToken {
    pub fn new(token: Option<&Secret>) -> Self {
        CheckToken(token.map(|t| Arc::from(format!("Bearer {}", t.expose()).into_bytes())))
    }
}

impl Interceptor for CheckToken {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            // No token configured: mutual TLS authenticates the peer (config requires one).
            return Ok(req);
        };
        let given = req
            .metadata()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        // Length is not secret (it is the token's length plus 7); the bytes are compared in
        // constant time.
        if given.len() == expected.len() && bool::from(given.ct_eq(expected)) {
            return Ok(req);
        }
        tracing::warn!(
            peer = %req.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown".into()),
            token = if given.is_empty() { "missing" } else { "wrong" },
            "refused an RPC without the right cluster token"
        );
        Err(Status::unauthenticated("missing or wrong cluster token"))
    }
}

/// Sends `req` with a deadline: `grpc-timeout` for the server and a local timer for us.
pub async fn call<T, R, F, Fut>(addr: &str, timeout: Duration, msg: T, f: F) -> Result<R, Error>
where
    F: FnOnce(Request<T>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<R>, Status>>,
{
    let mut req = Request::new(msg);
    req.set_timeout(timeout);
    match tokio::time::timeout(timeout, f(req)).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(status)) if status.code() == tonic::Code::Unauthenticated => {
            Err(Error::Unauthenticated {
                addr: addr.to_string(),
            })
        }
        Ok(Err(status)) => Err(Error::Rpc {
            addr: addr.to_string(),
            status,
        }),
        Err(_) => Err(Error::Timeout {
            addr: addr.to_string(),
            timeout,
        }),
    }
}
