//! joust-server is the serving node: it follows model refs in the
//! registry, loads the versions they point at (download, SHA-256 check,
//! decode, warm-up), publishes them in an `ArcSwap` snapshot keyed by
//! (model, version), and answers the Open Inference Protocol v2, the native
//! `joust.v1.Inference` API and the `joust.v1.ServingAdmin` RPCs, with
//! health, reflection and Prometheus metrics.
//!
//! Layout: `input`, `table`, `serving_state`, `scoring`, `discovery` and
//! `config` are transport-free;
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
pub mod serving_state;
pub mod table;

use std::future::Future;
use std::sync::Arc;

use joust_proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use joust_proto::v1::inference_server::InferenceServer;
use joust_proto::v1::serving_admin_server::ServingAdminServer;
use joust_runtime::{Listeners, RoleConfig, RoleServer, RuntimeError};
use tokio::sync::watch;
use tracing::info;

pub use cli::ServeArgs;
pub use config::{ModelRef, NodeConfig};
pub use error::ServeError;
pub use node::Node;

/// Runs a serving node on `listeners` (gRPC and, when given, HTTP
/// `/metrics` and the OIP REST API) until `shutdown` resolves; then stops accepting, drains
/// in-flight requests (at most `drain_timeout`) and returns. The server
/// is assembled by joust-runtime's [`RoleServer`].
pub async fn run(
    listeners: impl Into<Listeners>,
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let role = RoleConfig {
        security: config.security.clone(),
        max_message_bytes: config.max_message_bytes,
        drain_timeout: config.drain_timeout,
    };
    let server = RoleServer::new("serving node", role);
    let node = Arc::new(Node::new(config, server.health())?);
    node.refresh_health().await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let follower = tokio::spawn(follower::follow(node.clone(), stop_rx));
    let sweeper = {
        let node = node.clone();
        tokio::spawn(async move { node.sweep_unbound().await })
    };
    info!(
        models = ?node.config.models,
        registry = %node.config.registry_url,
        client = %node.config.client.describe(),
        "serving node starting"
    );
    let metrics = node.clone();
    let closing = node.clone();
    let result = server
        .add_service(GrpcInferenceServiceServer::new(oip::OipService::new(
            node.clone(),
        )))
        // The same OIP handlers behind the REST form (when an HTTP
        // listener is given).
        .oip_http(oip::OipService::new(node.clone()))
        .add_service(InferenceServer::new(native::NativeService::new(
            node.clone(),
        )))
        // Liveness (the helm chart probes it): the admin service is SERVING
        // as soon as the process answers, whatever is loaded; "" tracks
        // readiness.
        .add_serving(ServingAdminServer::new(admin::AdminService::new(
            node.clone(),
        )))
        .metrics(move || metrics.metrics.encode())
        .on_shutdown(move || {
            let _ = stop_tx.send(true);
            closing.close();
        })
        .serve(listeners, shutdown)
        .await;
    node.close();
    follower.abort();
    sweeper.abort();
    info!("serving node stopped");
    result.map_err(|e| match e {
        RuntimeError::Config(m) => ServeError::Config(m),
        e @ RuntimeError::Serve(_) => ServeError::Internal(e.to_string()),
    })
}
