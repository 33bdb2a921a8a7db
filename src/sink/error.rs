//! The sink's errors: each names the endpoint and the cause an operator can act on.

use std::path::PathBuf;
use std::time::Duration;

/// Why a write (or a check) failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// 401/403: the credentials are wrong or lack the right to write.
    #[error(
        "InfluxDB at {url} refused the write ({status}): authentication failed: check \
         token_file / username+password_file{}",
        detail(message)
    )]
    Auth {
        url: String,
        status: u16,
        message: String,
    },
    /// Any other 4xx: the endpoint will refuse this request again (no such database or
    /// bucket, malformed line, field type conflict, body too large ...).
    #[error("InfluxDB at {url} refused the write ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    /// 5xx or 429: worth retrying.
    #[error("InfluxDB at {url} failed the write ({status}): {message}")]
    Server {
        url: String,
        status: u16,
        message: String,
    },
    #[error("InfluxDB at {url} did not answer within {}", humantime::format_duration(*timeout))]
    Timeout { url: String, timeout: Duration },
    /// Connection refused, DNS, TLS, reset ...: worth retrying.
    #[error("cannot reach InfluxDB at {url}: {cause}")]
    Unreachable { url: String, cause: String },
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
            SinkError::Auth { .. } | SinkError::Refused { .. } | SinkError::Config(_)
        )
    }

    /// `true` when the batch itself is at fault (malformed line, type conflict, too large),
    /// not the endpoint's configuration: such a batch will never be accepted anywhere.
    pub fn is_bad_batch(&self) -> bool {
        matches!(self, SinkError::Refused { status, .. } if matches!(status, 400 | 413 | 422))
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
