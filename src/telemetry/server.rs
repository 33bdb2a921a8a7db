//! The HTTP endpoint: `/metrics` (Prometheus text exposition) and `/healthz` (what
//! `vcollect health` decides, for load balancers and probes).
//!
//! When the cluster has a token, both answer only requests that carry it as
//! `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials_file: ... }`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::secret::Secret;

/// `Ok(one line)` when healthy, `Err(one line saying why not)`.
pub type HealthFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
/// Decides the health on each `/healthz` request.
pub type HealthCheck = Arc<dyn Fn() -> HealthFuture + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("metrics.listen {addr}: cannot listen: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct Ctx {
    token: Option<Secret>,
    health: HealthCheck,
}

/// Binds `addr` and serves until `shutdown`; returns the bound address (port 0 picks one).
pub async fn serve(
    addr: &str,
    token: Option<Secret>,
    health: HealthCheck,
    shutdown: CancellationToken,
) -> Result<SocketAddr, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(Ctx { token, health });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    tracing::info!(addr = %local, "serving /metrics and /healthz");
    Ok(local)
}

/// The request carries the token, or none is required.
fn authorized(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(token) = &ctx.token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = token.expose().as_bytes();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "the cluster token is required\n",
    )
        .into_response()
}

async fn metrics(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !authorized(&ctx, &headers) {
        return unauthorized();
    }
    match super::encode() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn healthz(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !authorized(&ctx, &headers) {
        return unauthorized();
    }
    match (ctx.health)().await {
        Ok(line) => (StatusCode::OK, format!("{line}\n")).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}
