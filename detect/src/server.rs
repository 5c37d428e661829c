//! Running the detection role: open the store, serve `joust.v1.Detection`
//! through joust-runtime (health, reflection, trace layer, `/metrics`,
//! drain) on a bound listener until `shutdown`.

use std::future::Future;

use joust_proto::v1::detection_server::DetectionServer;
use joust_runtime::{Listeners, RoleConfig, RoleServer};

use crate::detector::{Detector, Retention};
use crate::domain::Clock;
use crate::error::{DetectError, Result};
use crate::evidence::{EvidenceConfig, EvidenceStore};
use crate::grpc::DetectionService;
use crate::health::HealthConfig;
use crate::jobs::JobsConfig;
use crate::scorer::{Scorer, ScorerConfig};
use crate::workers::Workers;

/// Everything the detection role needs; the binary builds it from flags.
/// Its `Debug` redacts the database password.
#[derive(Clone)]
pub struct DetectConfig {
    /// `postgres://…` or `sqlite://PATH`.
    pub database_url: String,
    /// The registry, for the SHA-256 of the scoring model (`None`: not
    /// recorded, with a warning at start-up).
    pub registry_url: Option<String>,
    pub scorer: ScorerConfig,
    /// Retention of finished runs without anomalies, and purge period.
    pub retention: Retention,
    /// Largest gRPC message accepted or sent by this service, in bytes.
    pub max_message_bytes: usize,
    /// Where each run's evidence artifact goes (`None`: none written).
    pub evidence: Option<EvidenceConfig>,
    /// Where run times come from (a fixed clock makes runs reproducible).
    pub clock: Clock,
    /// The backfill job queue and this service's workers.
    pub jobs: JobsConfig,
    /// How often health probes the database, object store and scoring
    /// endpoint.
    pub health: HealthConfig,
    /// The webhook new anomalies and queue alerts go to (`None`: none).
    pub notify: Option<crate::notify::NotifyConfig>,
}

impl std::fmt::Debug for DetectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectConfig")
            .field(
                "database_url",
                &joust_security::redact_url(&self.database_url),
            )
            .field("registry_url", &self.registry_url)
            .field("scorer", &self.scorer)
            .field("retention", &self.retention)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("jobs", &self.jobs)
            .field("evidence", &self.evidence)
            .field("clock", &self.clock)
            .field("health", &self.health)
            .field("notify", &self.notify)
            .finish()
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://./joust-data/detect.db".to_owned(),
            registry_url: Some("http://127.0.0.1:7070".to_owned()),
            scorer: ScorerConfig::default(),
            retention: Retention::default(),
            max_message_bytes: 64 << 20,
            jobs: JobsConfig::default(),
            evidence: Some(EvidenceConfig::default()),
            clock: Clock::System,
            health: HealthConfig::default(),
            notify: None,
        }
    }
}

/// The detection service's gRPC name (its health entry follows readiness).
pub const DETECTION_SERVICE: &str =
    <DetectionServer<DetectionService> as tonic::server::NamedService>::NAME;

/// Opens the store (migrating it) and builds the core.
pub async fn open(config: &DetectConfig) -> Result<Detector> {
    config.jobs.validate()?;
    let store = crate::store::open(&config.database_url).await?;
    if config.registry_url.is_none() {
        tracing::warn!("no registry configured: anomalies will not record the model's SHA-256");
    }
    let scorer = Scorer::new(config.scorer.clone(), config.registry_url.as_deref())?;
    let mut detector = Detector::new(store, scorer)
        .with_retention(config.retention)
        .with_clock(config.clock)
        .with_jobs(config.jobs.clone())
        .with_health(config.health);
    if let Some(notify) = &config.notify {
        detector = detector.with_notifier(crate::notify::Notifier::new(notify.clone())?);
    }
    match &config.evidence {
        Some(evidence) => detector = detector.with_evidence(EvidenceStore::open(evidence)?),
        None => tracing::warn!("no evidence store configured: runs write no evidence"),
    }
    Ok(detector)
}

/// The gRPC service with the configured message limits.
pub fn service(
    detector: Detector,
    workers: Workers,
    max_message_bytes: usize,
) -> DetectionServer<DetectionService> {
    DetectionServer::new(DetectionService::new(detector, workers))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

/// Opens everything from `config` and serves on `listeners` with `role`
/// until `shutdown` resolves (see [`serve`]).
pub async fn run(
    listeners: impl Into<Listeners>,
    config: DetectConfig,
    role: RoleConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let detector = open(&config).await?;
    serve(listeners, detector, role, shutdown).await
}

/// Serves an opened detector (for embedding next to other roles) on
/// `listeners` (gRPC and, when given, HTTP `/metrics`: per-RPC counters
/// and latency, runs, jobs by state, queue length, scoring latency; see
/// `crate::metrics`) with the TLS, authentication, message limits and drain
/// timeout of `role`, the periodic retention purge and, unless the
/// detector's jobs config says otherwise, the backfill workers running
/// until `shutdown`; then drains and stops the workers (jobs in flight go
/// back to the queue). The server is assembled by joust-runtime's
/// [`RoleServer`].
pub async fn serve(
    listeners: impl Into<Listeners>,
    detector: Detector,
    role: RoleConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let max_message_bytes = role.max_message_bytes;
    let purge = tokio::spawn(purge_loop(detector.clone()));
    let monitor = tokio::spawn(crate::queue::monitor_loop(detector.clone()));
    let notifications = tokio::spawn(crate::notify::deliver_loop(detector.clone()));
    let workers = Workers::new(detector.clone());
    if detector.jobs().start_workers {
        workers.start(None, None).await?;
    }
    let metrics = detector.metrics().clone();
    let refresher = detector.clone();
    let server = RoleServer::new("detection", role);
    // Readiness ("" and joust.v1.Detection) follows the dependencies;
    // until the first probe answers, not ready.
    let reporter = server.health();
    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let health = tokio::spawn(crate::health::follow_dependencies(
        detector.clone(),
        reporter,
        vec![DETECTION_SERVICE],
        detector.health(),
    ));
    let stop_health = health.abort_handle();
    let served = server
        .add_service(service(detector, workers.clone(), max_message_bytes))
        .on_shutdown(move || stop_health.abort())
        .metrics(move || metrics.encode())
        .refresh_metrics(move || {
            let detector = refresher.clone();
            async move { detector.refresh_metrics().await }
        })
        .rpc_metrics(crate::metrics::PREFIX)
        .serve(listeners, shutdown)
        .await
        .map_err(|e| DetectError::Config(e.to_string()));
    purge.abort();
    monitor.abort();
    notifications.abort();
    health.abort();
    if let Err(error) = workers.stop().await {
        tracing::warn!(%error, "stopping the backfill workers");
    }
    served
}

/// Runs the retention purge every `purge_every` (the first at start-up).
async fn purge_loop(detector: Detector) {
    let every = detector
        .retention()
        .purge_every
        .max(std::time::Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = detector.purge(None, None).await {
            tracing::warn!(%error, "retention purge failed; retrying at the next period");
        }
    }
}
