//! The nodes' gRPC over turmoil's simulated network: a listener's connections as the server's
//! incoming stream, and channels whose connector dials a simulated host.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;
use tonic::transport::{Endpoint, Uri};

use crate::cluster::rpc::Dial;

/// One simulated TCP connection, as tonic's server takes it.
pub struct Conn(turmoil::net::TcpStream);

impl Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The connections accepted on `port` of the calling simulated host.
pub async fn incoming(
    port: u16,
) -> io::Result<impl futures::Stream<Item = io::Result<Conn>> + Send + 'static> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
    Ok(futures::stream::unfold(listener, |l| async move {
        let conn = l.accept().await.map(|(s, _)| Conn(s));
        Some((conn, l))
    }))
}

/// Channels that connect to the endpoint's `host:port` on the simulated network.
///
/// The one setting changed from production's: how long h2 remembers a stream this side
/// reset (a call cancelled at its deadline), so that a late answer on it is dropped quietly.
/// h2 counts that second (its default) on the real clock, `std::time::Instant`, not on
/// tokio's: when the machine stalled the run for a second between a cancel and the late
/// answer, h2 had forgotten the stream and sent one more `RST_STREAM`; one more message on
/// turmoil's network drew one more latency from the seed's generator, and the rest of the
/// run differed (regression seed 12, loaded). Never forgotten by time, such a stream is
/// forgotten by count only (h2's 50 per connection), which does not depend on the machine.
///
/// The servers' h2 keeps the same real-time second for the streams it resets (a call whose
/// deadline passed before its body arrived), and neither tonic nor hyper lets a server set
/// it: that remains (docs/architecture.md, "The simulation").
pub fn dial() -> Dial {
    Arc::new(|ep: Endpoint| {
        ep.http2_reset_stream_duration(Duration::MAX)
            .connect_with_connector_lazy(tower::service_fn(|uri: Uri| async move {
                let host = uri.host().unwrap_or_default().to_string();
                let port = uri.port_u16().unwrap_or(80);
                let s = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
                Ok::<_, io::Error>(TokioIo::new(s))
            }))
    })
}
