//! Running the registry role: open the stores, serve `joust.v1.Registry`
//! and `joust.v1.Trials` through joust-runtime (health, reflection,
//! `/metrics`, drain) on a bound listener until `shutdown`.

use std::future::Future;
use std::sync::Arc;

use joust_proto::v1::registry_server::RegistryServer;
use joust_proto::v1::trials_server::TrialsServer;
use joust_runtime::{Listeners, RoleConfig, RoleServer};
use tonic::server::NamedService;

use crate::blob::BlobStore;
use crate::error::{RegistryError, Result};
use crate::grpc::RegistryService;
use crate::registry::{Limits, Registry};
use crate::store::MetadataStore;
use crate::trials::grpc::TrialsService;
use crate::trials::{self, Trials};
use joust_storage::S3Options;

/// Everything the registry role needs; the binary builds it from flags.
/// Its `Debug` redacts the database password.
#[derive(Clone)]
pub struct RegistryConfig {
    /// `postgres://…` or `sqlite://PATH`.
    pub database_url: String,
    /// `file://DIR`, `memory://` or `s3://bucket[/prefix]`.
    pub blobs_url: String,
    pub s3: S3Options,
    pub limits: Limits,
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// Roll a champion back by itself when a router reports its rollout
    /// blocked (`--auto-rollback`).
    pub auto_rollback: bool,
    /// How long raw comparison records are kept (reports read rollups);
    /// `None` keeps them forever (`--record-retention-secs`, default 7 days).
    pub record_retention: Option<std::time::Duration>,
    /// Endpoints that receive audit events as signed JSON (`--webhooks`).
    pub webhooks: Option<crate::webhooks::WebhookConfig>,
    /// The rollout controller that runs trial plans (`--controller-interval`,
    /// `--controller-lease`); `None` turns it off on this replica.
    pub controller: Option<trials::controller::ControllerConfig>,
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field(
                "database_url",
                &joust_security::redact_url(&self.database_url),
            )
            .field("blobs_url", &joust_security::redact_url(&self.blobs_url))
            .field("s3", &self.s3)
            .field("limits", &self.limits)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("auto_rollback", &self.auto_rollback)
            .field("record_retention", &self.record_retention)
            .field("webhooks", &self.webhooks)
            .field("controller", &self.controller)
            .finish()
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://./joust-data/registry.db".to_owned(),
            blobs_url: "file://./joust-data/blobs".to_owned(),
            s3: S3Options::default(),
            limits: Limits::default(),
            max_message_bytes: 8 << 20,
            auto_rollback: false,
            record_retention: Some(DEFAULT_RECORD_RETENTION),
            webhooks: None,
            controller: Some(trials::controller::ControllerConfig::default()),
        }
    }
}

/// Raw records are kept 7 days by default.
pub const DEFAULT_RECORD_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

/// Opens the metadata store (migrating it) and the blob store.
pub async fn open(config: &RegistryConfig) -> Result<Registry> {
    let db = joust_storage::open(&config.database_url).await?;
    let webhooks = config
        .webhooks
        .clone()
        .map(|w| crate::webhooks::Webhooks::new(w, &db))
        .transpose()?;
    // One pool for the metadata store, the trial store and the webhooks.
    let (store, trial_store): (Arc<dyn MetadataStore>, Arc<dyn trials::store::TrialStore>) =
        match db {
            joust_storage::Database::Postgres(pool) => {
                let s = Arc::new(crate::store::PgStore::with_pool(pool).await?);
                (s.clone(), s)
            }
            joust_storage::Database::Sqlite(pool) => {
                let s = Arc::new(crate::store::SqliteStore::with_pool(pool).await?);
                (s.clone(), s)
            }
        };
    let blobs = BlobStore::open(&config.blobs_url, &config.s3)?;
    let mut registry = Registry::new(store, blobs, config.limits.clone())
        .with_trials(
            Trials::new(trial_store)
                .with_record_retention(config.record_retention)
                .with_controller(config.controller.clone()),
        )
        .with_auto_rollback(config.auto_rollback);
    if let Some(w) = webhooks {
        registry = registry.with_webhooks(w);
    }
    Ok(registry)
}

/// The registry's gRPC service with the configured message limits.
pub fn service(registry: Registry, max_message_bytes: usize) -> RegistryServer<RegistryService> {
    RegistryServer::new(RegistryService::new(registry))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

/// Serves the registry on `listeners` (gRPC and, when given, HTTP
/// `/metrics`: per-RPC counters and latency, store latency, Watch
/// subscribers, records ingested, report time; see `crate::metrics`) with the TLS,
/// authentication, message limits and drain timeout of `role`, until
/// `shutdown` resolves; then closes the Watch streams and drains
/// in-flight requests. The server is assembled by joust-runtime's
/// [`RoleServer`].
pub async fn run(
    listeners: impl Into<Listeners>,
    registry: Registry,
    role: RoleConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let max_message_bytes = role.max_message_bytes;
    let trials_service = registry
        .trials()
        .map(|t| trials::grpc::service(t.clone(), max_message_bytes));
    let mut services = vec![<RegistryServer<RegistryService> as NamedService>::NAME];
    if trials_service.is_some() {
        services.push(<TrialsServer<TrialsService> as NamedService>::NAME);
    }
    let retention_task = registry.trials().and_then(|t| {
        t.record_retention()
            .map(|keep| AbortOnDrop(tokio::spawn(trials::retention::run(t.clone(), keep))))
    });
    let compaction_task = registry
        .trials()
        .map(|t| AbortOnDrop(tokio::spawn(trials::retention::compact(t.clone()))));
    // The rollout controller (one replica per trial at a time: a lease).
    let controller_task = registry.trials().and_then(|t| {
        t.controller().map(|c| {
            AbortOnDrop(tokio::spawn(trials::controller::run(
                t.clone(),
                c.clone(),
                std::future::pending(),
            )))
        })
    });
    // Webhook delivery tasks (cursors start before the port is served,
    // so every event after start-up is delivered).
    let webhook_tasks: Vec<AbortOnDrop> = match registry.webhooks() {
        Some(w) => w
            .start(registry.store().hub().clone(), registry.metrics().clone())
            .await?
            .into_iter()
            .map(AbortOnDrop)
            .collect(),
        None => Vec::new(),
    };
    let closer = registry.clone();
    let store = registry.store().clone();
    let metrics = registry.metrics().clone();
    let mut server = RoleServer::new("registry", role)
        .add_serving(service(registry, max_message_bytes))
        .metrics(move || metrics.encode())
        .rpc_metrics(crate::metrics::PREFIX)
        .on_shutdown(move || closer.close_streams());
    if let Some(trials) = trials_service {
        server = server.add_serving(trials);
    }
    // Health follows the database.
    let health_task = AbortOnDrop(tokio::spawn(crate::health::follow_database(
        store,
        server.health(),
        services,
        crate::health::PING_INTERVAL,
        crate::health::PING_TIMEOUT,
    )));
    let served = server
        .serve(listeners, shutdown)
        .await
        .map_err(|e| RegistryError::Config(e.to_string()));
    drop(health_task);
    drop(retention_task);
    drop(compaction_task);
    drop(controller_task);
    drop(webhook_tasks);
    served
}

/// Aborts the task when the server future ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
