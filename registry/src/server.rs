//! Running the registry role: open the stores, serve `joust.v1.Registry`
//! and `joust.v1.Trials` with health and reflection on a bound listener
//! until `shutdown`.

use std::future::Future;
use std::sync::Arc;

use joust_proto::v1::registry_server::RegistryServer;
use joust_proto::v1::trials_server::TrialsServer;
use joust_security::ServerSecurity;
use tokio::net::TcpListener;
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
        }
    }
}

/// Opens the metadata store (migrating it) and the blob store.
pub async fn open(config: &RegistryConfig) -> Result<Registry> {
    let (store, trial_store): (Arc<dyn MetadataStore>, _) =
        trials::store::open(&config.database_url).await?;
    let blobs = BlobStore::open(&config.blobs_url, &config.s3)?;
    Ok(Registry::new(store, blobs, config.limits.clone())
        .with_trials(Trials::new(trial_store))
        .with_auto_rollback(config.auto_rollback))
}

/// The registry's gRPC service with the configured message limits.
pub fn service(registry: Registry, max_message_bytes: usize) -> RegistryServer<RegistryService> {
    RegistryServer::new(RegistryService::new(registry))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

/// Serves the registry on `listener` (plaintext, authentication off)
/// until `shutdown` resolves, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    registry: Registry,
    max_message_bytes: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    run_secure(
        listener,
        registry,
        max_message_bytes,
        ServerSecurity::default(),
        shutdown,
    )
    .await
}

/// [`run`] with TLS, authentication, roles and limits from `security`.
pub async fn run_secure(
    listener: TcpListener,
    registry: Registry,
    max_message_bytes: usize,
    security: ServerSecurity,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<RegistryServer<RegistryService>>()
        .await;
    let trials_service = registry
        .trials()
        .map(|t| trials::grpc::service(t.clone(), max_message_bytes));
    if trials_service.is_some() {
        reporter.set_serving::<TrialsServer<TrialsService>>().await;
    }
    let mut services = vec![<RegistryServer<RegistryService> as NamedService>::NAME];
    if trials_service.is_some() {
        services.push(<TrialsServer<TrialsService> as NamedService>::NAME);
    }
    let health_task = AbortOnDrop(tokio::spawn(crate::health::follow_database(
        registry.store().clone(),
        reporter,
        services,
        crate::health::PING_INTERVAL,
        crate::health::PING_TIMEOUT,
    )));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(joust_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| RegistryError::Config(format!("reflection: {e}")))?;
    security.warn_if_open("registry", listener.local_addr().ok());
    let closer = registry.clone();
    let shutdown = async move {
        shutdown.await;
        closer.close_streams();
    };
    security
        .server()
        .map_err(|e| RegistryError::Config(e.to_string()))?
        .layer(joust_telemetry::GrpcTraceLayer)
        .layer(security.layer())
        .add_service(health)
        .add_service(reflection)
        .add_service(service(registry, max_message_bytes))
        .add_optional_service(trials_service)
        .serve_with_incoming_shutdown(joust_security::incoming(listener), shutdown)
        .await
        .map_err(|e| RegistryError::Config(format!("gRPC server: {e}")))?;
    drop(health_task);
    Ok(())
}

/// Aborts the task when the server future ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
