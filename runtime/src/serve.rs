//! The one way a role is served: [`RoleServer`] assembles the gRPC server
//! (TLS and authentication from the role's `ServerSecurity`, TCP_NODELAY,
//! the trace layer, explicit message sizes), health with per-service
//! status, reflection (v1 and v1alpha) listing exactly the services the
//! role serves, the optional `/metrics` listener, the optional HTTP API
//! listener (the OIP REST endpoints, [`crate::oip_http`]), UNIMPLEMENTED
//! with what to use instead for the OIP methods it does not serve
//! ([`crate::oip_unserved`]), and on
//! shutdown a drain bounded by a timeout.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use joust_security::ServerSecurity;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tracing::{info, warn};

use crate::limits::MessageLimits;
use crate::listen::Listeners;
use crate::metrics_http;
use crate::oip_unserved::{self, OipUnservedLayer};
use crate::rpc_metrics::{RpcMetrics, RpcMetricsLayer};

/// The gRPC health service's name (always served).
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The liveness entry of every role: health answers SERVING for this name
/// as long as the process answers, whatever the role's readiness (the
/// registry's follows its database). Kubernetes liveness probes ask for
/// it, so an outage of a dependency never restarts a pod.
pub const LIVENESS_SERVICE: &str = HEALTH_SERVICE;
/// The reflection services' names (always served).
pub const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
pub const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// What the runtime needs of every role's configuration.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    /// TLS, authentication, roles and limits of the gRPC listener.
    pub security: ServerSecurity,
    /// Largest gRPC message accepted or sent by every service, in bytes.
    pub max_message_bytes: usize,
    /// On shutdown, how long in-flight requests may take to finish; then
    /// connections still open (idle clients that never go away would
    /// otherwise hold the drain forever) are closed.
    pub drain_timeout: Duration,
}

impl Default for RoleConfig {
    fn default() -> Self {
        Self {
            security: ServerSecurity::default(),
            max_message_bytes: 8 << 20,
            drain_timeout: DEFAULT_DRAIN,
        }
    }
}

/// The drain timeout of every role unless configured.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(20);

impl RoleConfig {
    /// Plaintext, authentication off, `max_message_bytes`, the default
    /// drain.
    pub fn plain(max_message_bytes: usize) -> Self {
        Self {
            max_message_bytes,
            ..Self::default()
        }
    }
}

/// A failure to assemble or run a role's server.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Bad configuration (TLS material, a `/metrics` listener without
    /// metrics).
    #[error("{0}")]
    Config(String),
    /// The gRPC server stopped with an error.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

type Encoder = Arc<dyn Fn() -> String + Send + Sync>;
type Hook = Box<dyn FnOnce() + Send>;

/// Assembles one role's server. Build it, take [`health`](Self::health)
/// for the role's own status changes, add the role's services, then
/// [`serve`](Self::serve).
pub struct RoleServer {
    role: &'static str,
    config: RoleConfig,
    routes: RoutesBuilder,
    services: Vec<&'static str>,
    serving: Vec<&'static str>,
    health: HealthReporter,
    metrics: Option<Encoder>,
    rpc_metrics: Option<RpcMetrics>,
    http: Option<axum::Router>,
    refresh: Option<metrics_http::Refresh>,
    on_shutdown: Vec<Hook>,
}

impl std::fmt::Debug for RoleServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleServer")
            .field("role", &self.role)
            .field("config", &self.config)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl RoleServer {
    /// A server for `role` (named in logs: "registry", "serving node", …).
    /// Health starts with "" (the whole server) SERVING, and
    /// [`LIVENESS_SERVICE`] stays SERVING while the process runs.
    pub fn new(role: &'static str, config: RoleConfig) -> Self {
        Self {
            role,
            config,
            routes: RoutesBuilder::default(),
            services: Vec::new(),
            serving: Vec::new(),
            health: HealthReporter::new(),
            metrics: None,
            rpc_metrics: None,
            http: None,
            refresh: None,
            on_shutdown: Vec::new(),
        }
    }

    /// The health handle: the role flips "" (readiness) and its services.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// The role's configuration.
    pub fn config(&self) -> &RoleConfig {
        &self.config
    }

    /// Serves `service` with the role's message limits; health leaves its
    /// status to the role.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: MessageLimits
            + tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes
            .add_service(service.limited(self.config.max_message_bytes));
        self.services.push(S::NAME);
        self
    }

    /// [`add_service`](Self::add_service), SERVING in health from the start (a liveness
    /// service: up as soon as the process answers).
    pub fn add_serving<S>(self, service: S) -> Self
    where
        S: MessageLimits
            + tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let mut me = self.add_service(service);
        me.serving.push(S::NAME);
        me
    }

    /// The role's own metrics, in OpenMetrics text, for `/metrics`.
    pub fn metrics(mut self, encode: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(encode));
        self
    }

    /// Counts and times every RPC (`<prefix>_grpc_*`, `prefix` being the
    /// role's, e.g. `joust_registry`), for roles without request metrics
    /// of their own; served on `/metrics`.
    pub fn rpc_metrics(mut self, prefix: &str) -> Self {
        self.rpc_metrics = Some(RpcMetrics::new(prefix));
        self
    }

    /// Runs before every `/metrics` answer (for gauges read from a
    /// database, e.g. jobs by state), for at most
    /// [`metrics_http::REFRESH_TIMEOUT`]; a slow refresh serves the
    /// values it had.
    pub fn refresh_metrics<F, Fut>(mut self, refresh: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.refresh = Some(Arc::new(move || Box::pin(refresh())));
        self
    }

    /// Serves the Open Inference Protocol's REST form over `service` (the
    /// role's own `inference.GRPCInferenceService`) on the HTTP listener,
    /// admitted by the role's security policy, bodies capped at the role's
    /// message limit.
    pub fn oip_http<S>(mut self, service: S) -> Self
    where
        S: joust_proto::inference::grpc_inference_service_server::GrpcInferenceService,
    {
        self.http = Some(crate::oip_http::router(
            service,
            self.config.security.layer(),
            self.config.max_message_bytes,
        ));
        self
    }

    /// Runs when shutdown begins, before the drain (close long streams,
    /// stop background work that would hold requests open).
    pub fn on_shutdown(mut self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.on_shutdown.push(Box::new(hook));
        self
    }

    /// The services reflection lists: the role's, health and reflection.
    pub fn listed_services(&self) -> Vec<&'static str> {
        let mut names = self.services.clone();
        names.extend([HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA]);
        names
    }

    /// Serves until `shutdown` resolves; then runs the shutdown hooks,
    /// marks every service NOT_SERVING, stops accepting, lets in-flight
    /// requests finish for at most the drain timeout, and returns.
    pub async fn serve(
        self,
        listeners: impl Into<Listeners>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), RuntimeError> {
        let Listeners {
            grpc,
            metrics,
            http: http_listener,
        } = listeners.into();
        let listed = self.listed_services();
        let Self {
            role,
            config,
            mut routes,
            services,
            serving,
            health,
            metrics: role_metrics,
            rpc_metrics,
            http,
            refresh,
            on_shutdown,
        } = self;
        for name in std::iter::once(&LIVENESS_SERVICE).chain(&serving) {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        routes.add_service(HealthServer::new(HealthService::from_health_reporter(
            health.clone(),
        )));
        let reflection = || {
            listed.iter().fold(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(joust_proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
                |b, name| b.with_service_name(*name),
            )
        };
        let bad_reflection = |e| RuntimeError::Config(format!("reflection: {e}"));
        routes.add_service(reflection().build_v1().map_err(bad_reflection)?);
        routes.add_service(reflection().build_v1alpha().map_err(bad_reflection)?);

        let encoder = combine(role_metrics, rpc_metrics.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics_task = match (metrics, encoder) {
            (Some(listener), Some(encode)) => Some(tokio::spawn(metrics_http::serve(
                listener,
                encode,
                refresh,
                stopped(stop_rx.clone()),
            ))),
            (Some(_), None) => {
                return Err(RuntimeError::Config(format!(
                    "metrics-listen: the {role} has no metrics to serve; use `off`"
                )));
            }
            (None, _) => None,
        };

        let http_task = match (http_listener, http) {
            (Some(listener), Some(app)) => {
                let http_addr = listener.local_addr().ok();
                if config.security.tls() {
                    warn!(
                        role,
                        ?http_addr,
                        "the HTTP API is plaintext while gRPC uses TLS: terminate TLS in front of it, or turn it off (--http-listen off)"
                    );
                }
                info!(
                    role,
                    ?http_addr,
                    "HTTP API (Open Inference Protocol REST) listening"
                );
                let stop = stopped(stop_rx.clone());
                Some(tokio::spawn(async move {
                    let served = axum::serve(
                        listener.tap_io(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        }),
                        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                    )
                    .with_graceful_shutdown(stop)
                    .await;
                    if let Err(error) = served {
                        warn!(%error, "HTTP API failed");
                    }
                }))
            }
            (Some(_), None) => {
                return Err(RuntimeError::Config(format!(
                    "http-listen: the {role} has no HTTP API; use `off`"
                )));
            }
            (None, _) => None,
        };

        let oip_unserved = OipUnservedLayer {
            on: services.contains(&oip_unserved::SERVICE),
        };
        let addr = grpc.local_addr().ok();
        let security = config.security;
        security.warn_if_open(role, addr);
        info!(
            role,
            ?addr,
            services = ?services,
            max_message_bytes = config.max_message_bytes,
            drain_timeout = ?config.drain_timeout,
            security = %security.describe(),
            "listening"
        );
        let server = security
            .server()
            .map_err(|e| RuntimeError::Config(e.to_string()))?
            .layer(joust_telemetry::GrpcTraceLayer)
            .layer(RpcMetricsLayer(rpc_metrics))
            .layer(security.layer())
            .layer(oip_unserved)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(joust_security::incoming(grpc), stopped(stop_rx));
        tokio::pin!(server);
        let result = tokio::select! {
            r = &mut server => r,
            _ = shutdown => {
                info!(role, "shutdown: draining in-flight requests");
                for hook in on_shutdown {
                    hook();
                }
                health.set_service_status("", ServingStatus::NotServing).await;
                for name in &services {
                    health.set_service_status(*name, ServingStatus::NotServing).await;
                }
                let _ = stop_tx.send(true);
                let drain = config.drain_timeout;
                tokio::time::timeout(drain, &mut server).await.unwrap_or_else(|_| {
                    warn!(role, ?drain, "shutdown: connections still open after the drain timeout; closing them");
                    Ok(())
                })
            }
        };
        let _ = stop_tx.send(true);
        if let Some(mut task) = http_task {
            // In-flight HTTP calls finish within the same drain timeout.
            if tokio::time::timeout(config.drain_timeout, &mut task)
                .await
                .is_err()
            {
                warn!(
                    role,
                    "shutdown: HTTP API connections still open after the drain timeout; closing them"
                );
                task.abort();
            }
        }
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        result.map_err(RuntimeError::from)
    }
}

/// The role's metrics followed by the RPC metrics, one OpenMetrics body.
fn combine(role: Option<Encoder>, rpc: Option<RpcMetrics>) -> Option<Encoder> {
    match (role, rpc) {
        (None, None) => None,
        (Some(role), None) => Some(role),
        (None, Some(rpc)) => Some(Arc::new(move || rpc.encode())),
        (Some(role), Some(rpc)) => Some(Arc::new(move || {
            let mut text = role();
            if let Some(stripped) = text.strip_suffix("# EOF\n") {
                text.truncate(stripped.len());
            }
            text + &rpc.encode()
        })),
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
