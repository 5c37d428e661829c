//! The `/metrics` HTTP endpoint every role serves the same way: the
//! role's OpenMetrics text with the OpenMetrics content type.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

/// The content type of `/metrics` (the body is OpenMetrics text, ending
/// in `# EOF`).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    encode: Arc<dyn Fn() -> String + Send + Sync>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let encode = encode.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, OPENMETRICS)], encode()) }
        }),
    );
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(%error, "metrics endpoint failed");
    }
}
