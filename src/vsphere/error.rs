//! Errors of the vSphere client. Every variant names the vCenter (the configured `name`) so
//! that an operator watching several vCenters knows at once which one is failing and why.
//! No variant ever carries the password.

use std::time::Duration;

/// An error talking to one vCenter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `SessionManager.Login` refused the user name or password (SOAP fault `InvalidLogin`).
    #[error("vCenter {vcenter}: login refused for user {user}: {message}")]
    InvalidLogin {
        vcenter: String,
        user: String,
        message: String,
    },

    /// The user lacks a privilege (SOAP fault `NoPermission`).
    #[error("vCenter {vcenter}: {method}: permission denied (NoPermission): {message}")]
    NoPermission {
        vcenter: String,
        method: &'static str,
        message: String,
    },

    /// No TCP connection could be made (refused, DNS, routing).
    #[error("vCenter {vcenter} ({url}) is unreachable: {cause}")]
    Unreachable {
        vcenter: String,
        url: String,
        cause: String,
    },

    /// The TLS handshake failed, nearly always because the certificate is not trusted.
    #[error(
        "vCenter {vcenter} ({url}): TLS verification failed: {cause}; \
         set ca_file to the CA that signed the vCenter certificate (or to the certificate \
         itself), tls_thumbprint to its fingerprint, or insecure = true"
    )]
    Tls {
        vcenter: String,
        url: String,
        cause: String,
    },

    /// The call did not complete within the configured timeout.
    #[error("vCenter {vcenter}: {method} timed out after {timeout:?}")]
    Timeout {
        vcenter: String,
        method: &'static str,
        timeout: Duration,
    },

    /// Any other SOAP fault: `fault` is the vim25 fault type (`InvalidArgument`,
    /// `ManagedObjectNotFound`, `NotAuthenticated` ...), `message` the `faultstring`,
    /// `object` the moid the fault names, if any.
    #[error("vCenter {vcenter}: {method} failed with SOAP fault {fault}: {message}")]
    Fault {
        vcenter: String,
        method: &'static str,
        fault: String,
        message: String,
        object: Option<String>,
    },

    /// An HTTP status other than 200 without a SOAP fault in the body (a proxy, a 503 page).
    #[error("vCenter {vcenter}: {method}: HTTP {status}: {excerpt}")]
    Http {
        vcenter: String,
        method: &'static str,
        status: u16,
        /// The start of the body, whitespace collapsed.
        excerpt: String,
    },

    /// The response is not the XML we expect.
    #[error("vCenter {vcenter}: {method}: malformed response: {detail}")]
    Malformed {
        vcenter: String,
        method: &'static str,
        detail: String,
    },

    /// The response ended (or the connection broke) before the document was complete.
    /// For QueryPerf, `entities` results had already been sent on the channel: they are good,
    /// but the rest of the batch is missing, so the caller must not advance its watermarks.
    #[error(
        "vCenter {vcenter}: {method}: response truncated after {entities} complete entities: {detail}"
    )]
    Truncated {
        vcenter: String,
        method: &'static str,
        entities: usize,
        detail: String,
    },

    /// The options cannot be used (an unreadable `ca_file`, a bad URL).
    #[error("vCenter {vcenter}: {detail}")]
    Config { vcenter: String, detail: String },

    /// The receiver of QueryPerf results was dropped (the pipeline is shutting down).
    #[error("vCenter {vcenter}: {method}: the receiver of the results was dropped")]
    ReceiverClosed {
        vcenter: String,
        method: &'static str,
    },
}

impl Error {
    /// The vim25 fault type, for SOAP faults.
    pub fn fault_name(&self) -> Option<&str> {
        match self {
            Error::Fault { fault, .. } => Some(fault),
            Error::NoPermission { .. } => Some("NoPermission"),
            Error::InvalidLogin { .. } => Some("InvalidLogin"),
            _ => None,
        }
    }

    /// vCenter no longer knows an object we named: a view destroyed by a restart, a VM or
    /// host deleted since the last discovery. The caller should rediscover the inventory.
    pub fn is_stale_view(&self) -> bool {
        matches!(self.fault_name(), Some("ManagedObjectNotFound"))
    }

    /// A fault about one managed object of a call, which it may not name: the object is
    /// gone (`ManagedObjectNotFound`) or vCenter cannot reach the host that holds its
    /// statistics (`HostNotConnected`: the host is disconnected or not responding). The rest
    /// of the call can be answered without it.
    pub fn concerns_one_entity(&self) -> bool {
        matches!(
            self.fault_name(),
            Some("ManagedObjectNotFound" | "HostNotConnected" | "HostNotReachable")
        )
    }

    /// vCenter refused a call because of a limit its administrator set
    /// (`RestrictedByAdministrator`, e.g. `config.vpxd.stats.maxQueryMetrics`): the same
    /// request in smaller parts may pass.
    pub fn is_restricted(&self) -> bool {
        matches!(self.fault_name(), Some("RestrictedByAdministrator"))
    }

    /// vpxd refused the request for its size before reading it as a call: more than
    /// 500,000 XML elements ("XML document element count exceeds configured maximum
    /// 500000") or a body over 20,000,000 bytes ("Length of HTTP request body exceeds
    /// configured maximum"). A plain SOAP fault with no typed detail; the same request in
    /// smaller parts passes.
    pub fn is_request_too_large(&self) -> bool {
        matches!(self, Error::Fault { message, .. } if message.contains("exceeds configured maximum"))
    }

    /// vCenter (its reverse proxy) turned the call away before processing it: HTTP 503 (the
    /// proxy's upstream saturated), 429, or a refused connection. The same call may be
    /// sent again after a backoff.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Http { status, .. } => *status == 503 || *status == 429,
            Error::Unreachable { cause, .. } => cause.to_ascii_lowercase().contains("refused"),
            _ => false,
        }
    }

    /// The `fault` label of `vcollect_queryperf_faults_total`: the vim25 fault type, or
    /// `request_too_large`, `http_<status>`, `connection_refused`, else the cause word.
    pub fn fault_kind(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            _ if self.is_request_too_large() => Cow::Borrowed("request_too_large"),
            Error::Http { status, .. } => Cow::Owned(format!("http_{status}")),
            Error::Unreachable { .. } if self.is_busy() => Cow::Borrowed("connection_refused"),
            _ => self
                .fault_name()
                .map_or(Cow::Borrowed(self.cause()), Cow::Borrowed),
        }
    }

    /// The one managed object (moid) a fault blames, e.g. the VM a `ManagedObjectNotFound`
    /// names: the rest of the call can be asked again without it.
    pub fn blamed_object(&self) -> Option<&str> {
        match self {
            Error::Fault {
                object: Some(o), ..
            } => Some(o),
            _ => None,
        }
    }

    /// One word for the kind of failure: the `cause` label of `vcollect_errors_total`.
    pub fn cause(&self) -> &'static str {
        match self {
            Error::InvalidLogin { .. } => "login",
            Error::NoPermission { .. } => "permission",
            Error::Unreachable { .. } => "unreachable",
            Error::Tls { .. } => "tls",
            Error::Timeout { .. } => "timeout",
            Error::Fault { .. } => "fault",
            Error::Http { .. } => "http",
            Error::Malformed { .. } | Error::Truncated { .. } => "malformed",
            Error::Config { .. } => "config",
            Error::ReceiverClosed { .. } => "internal",
        }
    }

    /// The session is gone (expired or the vCenter restarted): log in again.
    pub(crate) fn is_not_authenticated(&self) -> bool {
        matches!(self.fault_name(), Some("NotAuthenticated"))
    }

    /// A transient failure: the same call may succeed later (next cycle, after a backoff).
    /// Login, permission, TLS and configuration errors are not: they need an operator.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } | Error::Truncated { .. } => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429,
            Error::Fault { fault, .. } => matches!(
                fault.as_str(),
                "SystemError"
                    | "RequestCanceled"
                    | "HostCommunication"
                    | "NotAuthenticated"
                    | "ManagedObjectNotFound"
                    | "TooManyConcurrentRequests"
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(fault: &str, message: &str) -> Error {
        Error::Fault {
            vcenter: "vc".into(),
            method: "QueryPerf",
            fault: fault.into(),
            message: message.into(),
            object: None,
        }
    }

    #[test]
    fn busy_and_too_large_answers_are_told_apart_and_labelled() {
        let http = |status| Error::Http {
            vcenter: "vc".into(),
            method: "QueryPerf",
            status,
            excerpt: String::new(),
        };
        let unreachable = |cause: &str| Error::Unreachable {
            vcenter: "vc".into(),
            url: "https://vc/sdk".into(),
            cause: cause.into(),
        };
        assert!(http(503).is_busy() && http(429).is_busy() && !http(500).is_busy());
        assert_eq!(http(503).fault_kind(), "http_503");
        let refused = unreachable("tcp connect error: Connection refused (os error 111)");
        assert!(refused.is_busy());
        assert_eq!(refused.fault_kind(), "connection_refused");
        let dns = unreachable("dns error: failed to lookup address information");
        assert!(!dns.is_busy());
        assert_eq!(dns.fault_kind(), "unreachable");
        // vpxd's parser limits: a fault without a typed detail (faultcode only).
        let elements = fault(
            "ServerFaultCode",
            "XML document element count exceeds configured maximum 500000\n\nwhile parsing ...",
        );
        assert!(elements.is_request_too_large() && !elements.is_busy());
        assert_eq!(elements.fault_kind(), "request_too_large");
        let body = fault(
            "ServerFaultCode",
            "Length of HTTP request body exceeds configured maximum; 20000462 > 20000000",
        );
        assert!(body.is_request_too_large());
        let gone = fault(
            "ManagedObjectNotFound",
            "The object 'vim.VirtualMachine:vm-1' ...",
        );
        assert!(!gone.is_request_too_large());
        assert_eq!(gone.fault_kind(), "ManagedObjectNotFound");
    }
}
