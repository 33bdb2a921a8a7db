//! The `[cluster]` section: the Raft group this node joins, how its members authenticate
//! each other, and its timings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ranges, Check, ConfigError};
use crate::secret::Secret;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
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

impl Check<'_> {
    /// `[cluster]`: `None` for a standalone node.
    pub(super) fn cluster(
        &self,
        rc: Option<RawCluster>,
    ) -> Result<Option<ClusterConfig>, ConfigError> {
        let Some(rc) = rc else {
            return Ok(None);
        };
        let token = self.secret(
            "cluster.token",
            rc.token_file.as_deref(),
            rc.token_env.as_deref(),
        )?;
        let bootstrap_expect = self.number_in(
            "cluster.bootstrap_expect",
            rc.bootstrap_expect,
            rc.peers.len().max(1),
            ranges::BOOTSTRAP_EXPECT,
        )?;
        if !rc.peers.is_empty() && bootstrap_expect > rc.peers.len() {
            return Err(self.err(
                "cluster.bootstrap_expect",
                format!(
                    "is {bootstrap_expect} but only {} peers are listed",
                    rc.peers.len()
                ),
            ));
        }
        let heartbeat_interval = self.duration_in(
            "cluster.heartbeat_interval",
            rc.heartbeat_interval,
            Duration::from_millis(100),
            ranges::HEARTBEAT,
        )?;
        let election_timeout = self.duration_in(
            "cluster.election_timeout",
            rc.election_timeout,
            Duration::from_millis(300),
            ranges::ELECTION,
        )?;
        // Both are range-checked: the product cannot overflow.
        if election_timeout <= heartbeat_interval * 2 {
            return Err(self.err(
                "cluster.election_timeout",
                "must be more than twice cluster.heartbeat_interval",
            ));
        }
        let tls = self.cluster_tls(rc.tls_cert, rc.tls_key, rc.tls_ca)?;
        if token.is_none() && tls.is_none() {
            return Err(self.err(
                "cluster.token_file",
                "token_file or token_env (or mutual TLS) is required: \
                 every RPC between nodes must be authenticated",
            ));
        }
        Ok(Some(ClusterConfig {
            peers: rc.peers,
            bootstrap_expect,
            token,
            token_file: rc.token_file,
            failure_timeout: self.duration_in(
                "cluster.failure_timeout",
                rc.failure_timeout,
                Duration::from_secs(5),
                ranges::FAILURE,
            )?,
            max_voters: self.number_in(
                "cluster.max_voters",
                rc.max_voters,
                5,
                ranges::MAX_VOTERS,
            )?,
            heartbeat_interval,
            election_timeout,
            tls,
        }))
    }

    /// `tls_cert`, `tls_key` and `tls_ca`: all three or none, each readable.
    fn cluster_tls(
        &self,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        ca: Option<PathBuf>,
    ) -> Result<Option<ClusterTls>, ConfigError> {
        match (cert, key, ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => {
                for (k, p) in [("tls_cert", &cert), ("tls_key", &key), ("tls_ca", &ca)] {
                    if let Err(e) = std::fs::metadata(p) {
                        return Err(self.err(
                            format!("cluster.{k}"),
                            format!("cannot read {}: {e}", p.display()),
                        ));
                    }
                }
                Ok(Some(ClusterTls { cert, key, ca }))
            }
            _ => Err(self.err(
                "cluster.tls_cert",
                "tls_cert, tls_key and tls_ca go together",
            )),
        }
    }
}
