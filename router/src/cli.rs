//! `joust route`: the flags (clap derive, `long` + `env` on each) and the
//! entry point that binds the listeners and runs the router until the
//! shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::RouterConfig;
use crate::error::RouterError;

/// Run a router.
#[derive(Debug, Clone, clap::Args)]
pub struct RouteArgs {
    /// Registry gRPC URL (routes, trials, comparison records).
    #[arg(long, env = "JOUST_REGISTRY", default_value = "http://127.0.0.1:7070")]
    pub registry: String,
    /// Serving nodes, `host:port`, comma-separated or repeated. A DNS name
    /// that resolves to several addresses (a Kubernetes headless Service)
    /// adds each of them, re-resolved every --resolve-secs.
    #[arg(
        long,
        env = "JOUST_NODES",
        value_delimiter = ',',
        default_value = "127.0.0.1:7071"
    )]
    pub nodes: Vec<String>,
    /// gRPC listen address.
    #[arg(long, env = "JOUST_ROUTER_LISTEN", default_value = "127.0.0.1:7072")]
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (OpenMetrics text); `off`
    /// disables it.
    #[arg(
        long,
        env = "JOUST_ROUTER_METRICS_LISTEN",
        default_value = "127.0.0.1:9092"
    )]
    pub metrics_listen: joust_runtime::Listen,
    /// HTTP listen address of the Open Inference Protocol REST API (KServe
    /// v2: `/v2/health/ready`, `/v2/models/NAME/infer`, …), routed like
    /// gRPC; `off` disables it.
    #[arg(
        long,
        env = "JOUST_ROUTER_HTTP_LISTEN",
        default_value = "127.0.0.1:8072"
    )]
    pub http_listen: joust_runtime::Listen,
    /// On shutdown, seconds in-flight requests may take to finish before
    /// open connections are closed and buffered records are shipped.
    #[arg(long, env = "JOUST_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
    /// Threads of the router's async runtime (1..=1024; default: one per
    /// CPU). A router sharing a machine with nodes can be kept to a few.
    #[arg(
        long,
        env = "JOUST_ROUTER_WORKER_THREADS",
        value_parser = clap::value_parser!(u16).range(1..=1024)
    )]
    pub worker_threads: Option<u16>,
    /// Seconds between full re-reads of routes from the registry (besides
    /// Watch).
    #[arg(long, env = "JOUST_RECONCILE_SECS", default_value_t = 30)]
    pub reconcile_secs: u64,
    /// Seconds between re-resolutions of node names.
    #[arg(long, env = "JOUST_RESOLVE_SECS", default_value_t = 10)]
    pub resolve_secs: u64,
    /// Comparison records per batch sent to the registry (≤ 10000).
    #[arg(long, env = "JOUST_RECORD_BATCH", default_value_t = 1000)]
    pub record_batch: usize,
    /// Longest a record waits for its batch to fill, in milliseconds.
    #[arg(long, env = "JOUST_RECORD_FLUSH_MS", default_value_t = 200)]
    pub record_flush_ms: u64,
    /// Comparison records held in memory; beyond it they are dropped and
    /// counted (a prediction never waits for recording).
    #[arg(long, env = "JOUST_RECORD_BUFFER", default_value_t = 100_000)]
    pub record_buffer: usize,
    /// Retries (with backoff) of a batch the registry did not take
    /// (unreachable, overloaded) before its records are dropped and
    /// counted; records the registry refuses as invalid are never retried.
    #[arg(long, env = "JOUST_RECORD_RETRIES", default_value_t = 5)]
    pub record_retries: u32,
    /// Longest a shadow copy may take, in milliseconds (then recorded as
    /// DEADLINE_EXCEEDED).
    #[arg(long, env = "JOUST_SHADOW_TIMEOUT_MS", default_value_t = 10_000)]
    pub shadow_timeout_ms: u64,
    /// Seed of the RNG for unkeyed split requests and shadow sampling.
    #[arg(long, env = "JOUST_ROUTER_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "JOUST_MAX_MESSAGE_BYTES", default_value_t = 16 << 20)]
    pub max_message_bytes: usize,
    /// Make-before-break: after a promotion, rollback or trial change the
    /// previous version keeps answering until the new one is ready on this
    /// many nodes.
    #[arg(long, env = "JOUST_MIN_READY_NODES", default_value_t = 1)]
    pub min_ready_nodes: usize,
    /// Seconds a new champion may stay unready on every node before its
    /// rollout counts as blocked (one every reporting node refused is
    /// blocked at once); the previous champion keeps answering.
    #[arg(long, env = "JOUST_ROLLOUT_BLOCK_SECS", default_value_t = 60)]
    pub rollout_block_secs: u64,
    #[command(flatten)]
    pub security: joust_security::ServerArgs,
}

impl RouteArgs {
    /// The router configuration, validated; `credentials` are the
    /// process's certificate, CA and token (global flags).
    pub fn into_config(
        self,
        credentials: &joust_security::CredentialArgs,
    ) -> Result<RouterConfig, RouterError> {
        let security = self
            .security
            .config(credentials)
            .load()
            .map_err(|e| RouterError::Config(e.to_string()))?;
        let client = credentials
            .client()
            .load()
            .map_err(|e| RouterError::Config(e.to_string()))?;
        let config = RouterConfig {
            registry_url: self.registry,
            nodes: self.nodes,
            reconcile_interval: Duration::from_secs(self.reconcile_secs),
            resolve_interval: Duration::from_secs(self.resolve_secs),
            record_batch: self.record_batch,
            record_flush: Duration::from_millis(self.record_flush_ms),
            record_capacity: self.record_buffer,
            record_retries: self.record_retries,
            shadow_timeout: Duration::from_millis(self.shadow_timeout_ms),
            seed: self.seed,
            max_message_bytes: self.max_message_bytes,
            min_ready_nodes: self.min_ready_nodes,
            rollout_block_after: Duration::from_secs(self.rollout_block_secs),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            security,
            client,
            ..RouterConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// `joust route`: validates the flags, binds the listeners, and runs the
/// router until `shutdown` resolves, then drains and returns.
pub async fn route(
    args: RouteArgs,
    credentials: &joust_security::CredentialArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RouterError> {
    let listen = args.listen;
    let metrics_addr = args.metrics_listen.0;
    let http_addr = args.http_listen.0;
    let config = args.into_config(credentials)?;
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| RouterError::Config(format!("cannot listen on {addr}: {e}")))
    };
    let listener = bind(listen).await?;
    let metrics_listener = match metrics_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let http_listener = match http_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let bound = listener
        .local_addr()
        .map_err(|e| RouterError::Internal(format!("listener address: {e}")))?;
    info!(listen = %bound, metrics = ?metrics_addr, http = ?http_addr, nodes = ?config.nodes, instance = %config.instance_id, "starting router");
    // Scripts (and tests using port 0) read the bound address here.
    println!("joust router listening on {bound}");
    if let Some(addr) = http_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        println!("joust router http on {addr}");
    }
    let listeners = joust_runtime::Listeners::new(listener)
        .with_metrics(metrics_listener)
        .with_http(http_listener);
    crate::run(listeners, config, shutdown).await
}
