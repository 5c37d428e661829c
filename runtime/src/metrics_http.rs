//! The `/metrics` HTTP endpoint every role serves the same way: the
//! role's OpenMetrics text with the OpenMetrics content type.
//!
//! prometheus-client encodes OpenMetrics text only (it has no encoder for
//! the classic `text/plain; version=0.0.4` format), so the answer is
//! OpenMetrics whatever the `Accept` header says; Prometheus asks for it
//! first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

/// The content type of `/metrics` (the body is OpenMetrics text, ending
/// in `# EOF`).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The longest a role's refresh may hold a scrape.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// Run before each scrape (gauges read from a database).
pub type Refresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Serves `GET /metrics` on `listener` until `stop` resolves; `refresh`,
/// when given, runs before each answer.
pub async fn serve(
    listener: TcpListener,
    encode: Arc<dyn Fn() -> String + Send + Sync>,
    refresh: Option<Refresh>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let encode = encode.clone();
            let refresh = refresh.clone();
            async move {
                if let Some(refresh) = refresh
                    && tokio::time::timeout(REFRESH_TIMEOUT, refresh()).await.is_err()
                {
                    tracing::warn!(timeout = ?REFRESH_TIMEOUT, "metrics refresh timed out; serving the previous values");
                }
                ([(axum::http::header::CONTENT_TYPE, OPENMETRICS)], encode())
            }
        }),
    );
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(%error, "metrics endpoint failed");
    }
}
