//! The sink's errors: each names the endpoint and the cause an operator can act on.

use std::path::PathBuf;
use std::time::Duration;

/// Why a write (or a check) failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// 401/403: the credentials are wrong or lack the right to write.
    #[error(
        "{endpoint} at {url} refused the write ({status}): authentication failed: check \
         token_file / username+password_file{}",
        detail(message)
    )]
    Auth {
        /// What answered: `InfluxDB` or `the remote-write receiver`.
        endpoint: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// Any other 4xx: the endpoint will refuse this request again (no such database or
    /// bucket, malformed line, field type conflict, body too large ...).
    #[error("{endpoint} at {url} refused the write ({status}): {message}")]
    Refused {
        endpoint: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// 5xx or 429: worth retrying.
    #[error("{endpoint} at {url} failed the write ({status}): {message}")]
    Server {
        endpoint: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint} at {url} did not answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        endpoint: &'static str,
        url: String,
        timeout: Duration,
    },
    /// Connection refused, DNS, TLS, reset ...: worth retrying.
    #[error("cannot reach {endpoint} at {url}: {cause}")]
    Unreachable {
        endpoint: &'static str,
        url: String,
        cause: String,
    },
    /// A batch could not be put in the endpoint's format (a damaged spool file: line
    /// protocol that does not parse).
    #[error("cannot encode the batch: {0}")]
    Encode(String),
    /// The options cannot work (bad URL ...).
    #[error("invalid sink settings: {0}")]
    Config(String),
    /// The on-disk spool could not be opened or written.
    #[error("spool {}: {source}", path.display())]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

impl SinkError {
    /// `true` when sending the same request again cannot succeed until someone changes the
    /// configuration or the server (4xx other than 429, bad settings); `false` for what a
    /// retry may fix (5xx, 429, timeouts, connection errors) and for spool I/O.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SinkError::Auth { .. }
                | SinkError::Refused { .. }
                | SinkError::Config(_)
                | SinkError::Encode(_)
        )
    }

    /// `true` when the batch itself is at fault (malformed line, type conflict, too large),
    /// not the endpoint's configuration: such a batch will never be accepted anywhere.
    pub fn is_bad_batch(&self) -> bool {
        matches!(self, SinkError::Refused { status, .. } if matches!(status, 400 | 413 | 422))
            || matches!(self, SinkError::Encode(_))
    }

    /// The HTTP status, when the endpoint answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SinkError::Auth { status, .. }
            | SinkError::Refused { status, .. }
            | SinkError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}
