//! joust-server is the serving node: it follows model refs in the
//! registry, loads the versions they point at (download, SHA-256 check,
//! decode, warm-up), publishes them in an `ArcSwap` snapshot keyed by
//! (model, version), and answers the Open Inference Protocol v2, the native
//! `joust.v1.Inference` API and the `joust.v1.ServingAdmin` RPCs, with
//! health, reflection and Prometheus metrics.
//!
//! Layout: `input`, `table`, `scoring`, `discovery` and `config` are
//! transport-free;
//! `loader` and `follower` talk to the registry; `oip`, `native` and
//! `admin` are thin tonic handlers; `run` wires them on a bound listener;
//! `cli` is the `joust serve` flags. It knows nothing of how models are
//! trained (joust-models owns that), of the registry's storage, or of
//! routing and trials.

#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod error;
pub mod follower;
pub mod input;
pub mod loader;
pub mod loadgen;
pub mod metrics;
pub mod native;
pub mod node;
pub mod oip;
pub mod scoring;
pub mod table;

use std::future::Future;
use std::sync::Arc;

use joust_proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use joust_proto::v1::inference_server::InferenceServer;
use joust_proto::v1::serving_admin_server::ServingAdminServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

pub use cli::ServeArgs;
pub use config::{ModelRef, NodeConfig};
pub use error::ServeError;
pub use node::Node;

/// Runs a serving node on `listener` (gRPC) and, when given,
/// `metrics_listener` (HTTP `/metrics`) until `shutdown` resolves; then
/// stops accepting, drains in-flight requests and returns.
pub async fn run(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    // Liveness (the helm chart probes it): the admin service is SERVING as
    // soon as the process answers, whatever is loaded; "" tracks readiness.
    health_reporter
        .set_serving::<ServingAdminServer<admin::AdminService>>()
        .await;
    let node = Arc::new(Node::new(config, health_reporter)?);
    node.refresh_health().await;
    let (stop_tx, stop_rx) = watch::channel(false);

    let follower = tokio::spawn(follower::follow(node.clone(), stop_rx.clone()));
    let metrics_task =
        metrics_listener.map(|l| tokio::spawn(serve_metrics(l, node.clone(), stop_rx.clone())));

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(joust_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Internal(format!("reflection: {e}")))?;
    let max = node.config.max_message_bytes;
    let addr = listener.local_addr().ok();
    info!(
        ?addr,
        models = ?node.config.models,
        registry = %node.config.registry_url,
        max_message_bytes = max,
        security = %node.config.security.describe(),
        client = %node.config.client.describe(),
        "serving node listening"
    );
    let security = node.config.security.clone();
    security.warn_if_open("serving node", addr);
    let server = security
        .server()
        .map_err(|e| ServeError::Config(e.to_string()))?
        .layer(joust_telemetry::GrpcTraceLayer)
        .layer(security.layer())
        .add_service(health)
        .add_service(reflection)
        .add_service(
            GrpcInferenceServiceServer::new(oip::OipService::new(node.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            InferenceServer::new(native::NativeService::new(node.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(ServingAdminServer::new(admin::AdminService::new(
            node.clone(),
        )))
        .serve_with_incoming_shutdown(joust_security::incoming(listener), stopped(stop_rx));
    tokio::pin!(server);
    let result = tokio::select! {
        r = &mut server => r,
        _ = shutdown => {
            info!("shutdown: draining in-flight requests");
            let _ = stop_tx.send(true);
            let drain = node.config.drain_timeout;
            tokio::time::timeout(drain, &mut server).await.unwrap_or_else(|_| {
                warn!(?drain, "shutdown: connections still open after the drain timeout; closing them");
                Ok(())
            })
        }
    };
    let _ = stop_tx.send(true);
    follower.abort();
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    info!("serving node stopped");
    result.map_err(|e| ServeError::Internal(format!("gRPC server: {e}")))
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn serve_metrics(listener: TcpListener, node: Arc<Node>, stop: watch::Receiver<bool>) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let node = node.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    node.metrics.encode(),
                )
            }
        }),
    );
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop))
        .await
    {
        tracing::warn!(%error, "metrics endpoint failed");
    }
}
