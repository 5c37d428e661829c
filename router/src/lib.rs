//! joust-router is the front door of joust: it routes inference requests
//! for a model to its champion or its challenger according to the model's
//! open trial (modes off, split, shadow), forwards them to a pool of
//! serving nodes with the version pinned, and records paired comparisons
//! that it ships in batches to the registry for the trial report.
//!
//! Layout: `arm` (the pure arm choice: key hash, seeded RNG, shadow
//! sampling, debug pin), `table` (the routing table, an `ArcSwap`
//! snapshot), `decision` (which version answers, whether a shadow copy
//! is sent and the request recorded), `readiness` (what a node reports
//! serving) and `rollout` (make-before-break: which routes answer, from
//! what the registry wants and what the nodes hold) are transport-free;
//! `follower` keeps the table current from the registry's Watch;
//! `node_state` follows every node's serving-state stream; `served`
//! re-plans the answering routes and readiness health on every change;
//! `pool` (node channels, readiness-aware power of two choices, ejection,
//! DNS re-resolution) and `forward` talk to the nodes; `shipper` buffers and ships comparison records; `oip`,
//! `native` and `admin` are thin tonic handlers over `router`; `run`
//! wires them on a bound listener; `cli` is the `joust route` flags. It
//! knows nothing of model internals or of how the registry stores trials.

#![forbid(unsafe_code)]

pub mod admin;
pub mod arm;
pub mod cli;
pub mod config;
pub mod decision;
pub mod error;
pub mod follower;
pub mod forward;
pub mod metrics;
pub mod native;
pub mod node_state;
pub mod oip;
pub mod pool;
pub mod readiness;
pub mod recorder;
pub mod rollout;
pub mod router;
pub mod served;
pub mod shipper;
pub mod table;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use joust_proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use joust_proto::v1::inference_server::InferenceServer;
use joust_proto::v1::router_admin_server::RouterAdminServer;
use joust_runtime::{Listeners, RoleConfig, RoleServer, RuntimeError};
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tracing::info;

pub use arm::{Arm, Chooser};
pub use cli::RouteArgs;
pub use config::RouterConfig;
pub use error::RouterError;
pub use router::Router;
pub use table::{Route, RouteTable, TrialRoute};

/// Runs a router on `listeners` (gRPC and, when given, HTTP `/metrics`
/// and the OIP REST API) until `shutdown` resolves; then stops accepting, drains in-flight
/// requests (at most `drain_timeout`), sends the buffered records once
/// and returns. The server is assembled by joust-runtime's [`RoleServer`].
pub async fn run(
    listeners: impl Into<Listeners>,
    config: RouterConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RouterError> {
    config.validate()?;
    let registry = config
        .client
        .connect_lazy(&config.registry_url)
        .map_err(|e| RouterError::Config(format!("registry: {e}")))?;
    let metrics = Arc::new(metrics::Metrics::new());
    let (recorder, records_rx) = shipper::Recorder::new(
        config.record_capacity,
        config.instance_id.clone(),
        metrics.records.clone(),
    );
    let pool = pool::Pool::new(
        config.eject_initial,
        config.eject_max,
        config.seed,
        metrics.node_ejections.clone(),
    )
    .with_client(config.client.clone());
    pool.refresh(&config.nodes).await;
    let router = Arc::new(Router {
        table: RouteTable::default(),
        served: RouteTable::default(),
        rollouts: served::Rollouts::default(),
        chooser: Chooser::seeded(config.seed),
        pool,
        recorder: recorder.clone(),
        metrics: metrics.clone(),
        routes_loaded: AtomicBool::new(false),
        registry_connected: AtomicBool::new(false),
        watch_cursor: AtomicU64::new(0),
        config,
    });
    let server = RoleServer::new(
        "router",
        RoleConfig {
            security: router.config.security.clone(),
            max_message_bytes: router.config.max_message_bytes,
            drain_timeout: router.config.drain_timeout,
        },
    );
    let health_reporter = server.health();
    health_reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let node_followers = Arc::new(node_state::NodeFollowers::new(
        node_state::StreamTiming {
            retry_initial: router.config.retry_initial,
            retry_max: router.config.retry_max,
        },
        router.config.max_message_bytes,
        router.table.notifier(),
        stop_rx.clone(),
    ));
    node_followers.sync(&router.pool.members());
    let planner = tokio::spawn(served::keep_served(
        router.clone(),
        Some(registry.clone()),
        health_reporter.clone(),
        stop_rx.clone(),
    ));

    let follower = tokio::spawn(follower::follow(
        router.clone(),
        registry.clone(),
        stop_rx.clone(),
    ));
    let resolver = tokio::spawn(resolve_nodes(
        router.clone(),
        node_followers.clone(),
        stop_rx.clone(),
    ));
    let max = router.config.max_message_bytes;
    let shipper = tokio::spawn(shipper::ship(
        shipper::RegistrySink::new(registry, max),
        recorder,
        records_rx,
        shipper::ShipperSettings {
            batch: router.config.record_batch,
            flush: router.config.record_flush,
            retry_initial: router.config.retry_initial,
            retry_max: router.config.retry_max,
            retries: router.config.record_retries,
        },
        stop_rx,
    ));
    info!(
        nodes = ?router.config.nodes,
        registry = %router.config.registry_url,
        client = %router.config.client.describe(),
        "router starting"
    );
    let metrics = router.clone();
    let result = server
        .add_service(GrpcInferenceServiceServer::new(oip::OipService::new(
            router.clone(),
        )))
        // The same OIP handlers (routing, trials, records, metrics)
        // behind the REST form (when an HTTP listener is given).
        .oip_http(oip::OipService::new(router.clone()))
        .add_service(InferenceServer::new(native::NativeService::new(
            router.clone(),
        )))
        // Liveness (the helm chart probes it): SERVING as soon as the
        // process answers, routes or not; "" tracks readiness.
        .add_serving(RouterAdminServer::new(admin::AdminService::new(
            router.clone(),
        )))
        .metrics(move || {
            metrics
                .metrics
                .records_buffered
                .set(metrics.recorder.buffered() as i64);
            metrics.metrics.encode()
        })
        .on_shutdown(move || {
            let _ = stop_tx.send(true);
        })
        .serve(listeners, shutdown)
        .await;
    follower.abort();
    resolver.abort();
    planner.abort();
    node_followers.stop_all();
    let _ = shipper.await;
    info!(
        records_sent = router.recorder.counters.sent.get(),
        records_dropped = router.recorder.counters.dropped.get(),
        records_refused = router.recorder.counters.refused.get(),
        "router stopped"
    );
    result.map_err(|e| match e {
        RuntimeError::Config(m) => RouterError::Config(m),
        e @ RuntimeError::Serve(_) => RouterError::Internal(e.to_string()),
    })
}

/// Re-resolves the node names every `resolve_interval` (and follows the
/// serving-state stream of every member).
async fn resolve_nodes(
    router: Arc<Router>,
    followers: Arc<node_state::NodeFollowers>,
    stop: watch::Receiver<bool>,
) {
    let stop = stopped(stop);
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(router.config.resolve_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                router.pool.refresh(&router.config.nodes).await;
                let members = router.pool.members();
                followers.sync(&members);
                router.metrics.nodes.set(members.len() as i64);
            }
            _ = &mut stop => return,
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
