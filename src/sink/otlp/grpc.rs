//! OTLP metrics over gRPC (`protocol = "grpc"`): the `ExportMetricsServiceRequest` that
//! [`super::encode`] already produced is sent as it is to
//! `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` (a small tonic codec
//! passes the bytes through instead of decoding and re-encoding them), compressed with
//! `grpc-encoding: gzip` when the output gzips.
//!
//! The answer's gRPC status decides what happens to the batch, as the OTLP specification's
//! "Failures" section says: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE
//! and DATA_LOSS are retried (with the output's backoff, then spooled), RESOURCE_EXHAUSTED
//! only when the server sent a `google.rpc.RetryInfo` (else it is a limit that a retry will
//! hit again); every other status refuses the batch for good.

use std::time::Duration;

use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use tonic::codec::{Codec, CompressionEncoding, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use crate::sink::error::SinkError;

/// The OTLP metrics service's one method.
const EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// `google.rpc.RetryInfo`'s type URL in a status' details.
const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// A connection to one OTLP/gRPC receiver, opened at the first export (a tonic channel
/// needs a runtime; the writer is built before one may run) and reconnecting by itself.
pub struct Exporter {
    endpoint: Endpoint,
    channel: tokio::sync::OnceCell<Channel>,
    gzip: bool,
    /// `authorization` metadata: `Basic ...` or `Bearer ...`.
    authorization: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for Exporter {
    /// Without the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("uri", self.endpoint.uri())
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// `url` is `http://host:port` or `https://host:port` (TLS with the system's roots).
    pub fn new(
        url: &str,
        timeout: Duration,
        gzip: bool,
        authorization: Option<String>,
    ) -> Result<Exporter, SinkError> {
        let bad = |e: &dyn std::fmt::Display| SinkError::Config(format!("output url {url:?}: {e}"));
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| bad(&e))?
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("vcollect/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| bad(&e))?;
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|e| bad(&e))?;
        }
        let authorization = authorization
            .map(|a| MetadataValue::try_from(a.as_str()))
            .transpose()
            .map_err(|_| SinkError::Config("the credentials are not valid header text".into()))?;
        Ok(Exporter {
            endpoint,
            channel: tokio::sync::OnceCell::new(),
            gzip,
            authorization,
        })
    }

    /// One `Export` call with an encoded `ExportMetricsServiceRequest`.
    pub async fn export(&self, request: Vec<u8>) -> Result<ExportMetricsServiceResponse, Status> {
        let channel = self
            .channel
            .get_or_init(|| async { self.endpoint.connect_lazy() })
            .await
            .clone();
        let mut grpc = tonic::client::Grpc::new(channel);
        if self.gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut req = tonic::Request::new(Bytes::from(request));
        if let Some(a) = &self.authorization {
            req.metadata_mut().insert("authorization", a.clone());
        }
        let resp = grpc
            .unary(req, PathAndQuery::from_static(EXPORT), PassThrough)
            .await?;
        Ok(resp.into_inner())
    }
}

/// Sends already-encoded request bytes; decodes the response with prost.
struct PassThrough;

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = ExportMetricsServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<ExportMetricsServiceResponse>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        Default::default()
    }
}

/// What a failed call means for the batch: retryable statuses become
/// [`SinkError::Server`] (or [`SinkError::Timeout`]), credentials [`SinkError::Auth`], the
/// rest [`SinkError::Refused`]. `status` carries the HTTP status gRPC's own mapping gives
/// the code; the message names the gRPC code.
pub fn error(s: &Status, endpoint: &'static str, url: &str, timeout: Duration) -> SinkError {
    let url = url.to_string();
    let code = s.code();
    if code == Code::Cancelled && s.message().contains("Timeout expired") {
        return SinkError::Timeout {
            endpoint,
            url,
            timeout,
        };
    }
    let status = http_status(code);
    let mut message = format!("gRPC status {code:?}: {}", s.message());
    // A transport failure's cause (connection refused, TLS ...) is only in the source chain.
    let mut src = std::error::Error::source(s);
    while let Some(e) = src {
        let cause = e.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
        src = e.source();
    }
    match code {
        Code::Unauthenticated | Code::PermissionDenied => SinkError::Auth {
            endpoint,
            url,
            status,
            message,
        },
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => SinkError::Server {
            endpoint,
            url,
            status,
            message,
        },
        Code::ResourceExhausted if has_retry_info(s.details()) => SinkError::Server {
            endpoint,
            url,
            status,
            message,
        },
        _ => SinkError::Refused {
            endpoint,
            url,
            status,
            message,
        },
    }
}

/// The HTTP status gRPC's status-code mapping (grpc-gateway's) gives a code.
fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::InvalidArgument | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::Unauthenticated => 401,
        Code::ResourceExhausted => 429,
        Code::FailedPrecondition => 412,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// `google.rpc.Status` as a status' binary details carry it (only what is read here).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(message, repeated, tag = "3")]
    details: Vec<RpcAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// Whether the details hold a `google.rpc.RetryInfo`: RESOURCE_EXHAUSTED is retryable then.
fn has_retry_info(details: &[u8]) -> bool {
    <RpcStatus as prost::Message>::decode(details)
        .is_ok_and(|s| s.details.iter().any(|d| d.type_url == RETRY_INFO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: Status) -> SinkError {
        error(
            &s,
            "the OTLP receiver",
            "http://c:4317",
            Duration::from_secs(1),
        )
    }

    #[test]
    fn the_spec_s_retryable_statuses_are_retried_and_the_others_are_not() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert!(!err(Status::new(code, "x")).is_permanent(), "{code:?}");
        }
        for code in [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Internal,
            Code::Unauthenticated,
        ] {
            assert!(err(Status::new(code, "x")).is_permanent(), "{code:?}");
        }
        let e = err(Status::invalid_argument("bad point"));
        assert!(e.is_bad_batch(), "{e}");
        assert!(e.to_string().contains("InvalidArgument: bad point"), "{e}");
        assert!(matches!(
            err(Status::cancelled("Timeout expired")),
            SinkError::Timeout { .. }
        ));
    }

    #[test]
    fn resource_exhausted_is_retried_only_with_retry_info() {
        let details = prost::Message::encode_to_vec(&RpcStatus {
            details: vec![RpcAny {
                type_url: RETRY_INFO.into(),
                value: vec![0x0a, 0x02, 0x08, 0x01],
            }],
        });
        let s = Status::with_details(Code::ResourceExhausted, "slow down", details.into());
        assert!(!err(s).is_permanent());
        let s = Status::with_details(
            Code::ResourceExhausted,
            "quota",
            b"\xff\xff".to_vec().into(),
        );
        assert!(err(s).is_permanent());
    }

    #[tokio::test]
    async fn a_receiver_that_is_not_listening_is_retried() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let x = Exporter::new(&url, Duration::from_secs(2), true, None).unwrap();
        let s = x.export(Vec::new()).await.unwrap_err();
        let e = error(&s, "the OTLP receiver", &url, Duration::from_secs(2));
        assert!(!e.is_permanent(), "{s:?} -> {e}");
        assert!(e.to_string().contains("refused"), "the cause is named: {e}");
    }
}
