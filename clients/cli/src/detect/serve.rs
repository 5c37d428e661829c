//! `joust detect serve`: the detection role's flags and startup.

use std::net::SocketAddr;

use anyhow::Context;
use joust_detect::{DetectConfig, ScorerConfig};

use super::backfill;
use crate::registry_cmd::{S3Args, redact};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Detection store: postgres://USER@HOST/DB or sqlite://PATH.
    #[arg(
        long,
        env = "JOUST_DETECT_DATABASE_URL",
        default_value = "sqlite://./joust-data/detect.db"
    )]
    pub database_url: String,
    /// Read the database URL from this file instead (keeps the password out
    /// of the process list and the environment).
    #[arg(
        long,
        env = "JOUST_DETECT_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<std::path::PathBuf>,
    /// The router's (or a serving node's) Open Inference Protocol address.
    #[arg(long, env = "JOUST_ROUTER", default_value = "http://127.0.0.1:7072")]
    pub router: String,
    /// The registry, for the SHA-256 of the scoring model.
    #[arg(long, env = "JOUST_REGISTRY", default_value = "http://127.0.0.1:7070")]
    pub registry: String,
    /// Model name to score with.
    #[arg(long, env = "JOUST_DETECT_MODEL", default_value = "anomaly_detector")]
    pub model: String,
    /// Pin a model version (default: what the router serves, the champion).
    #[arg(long, env = "JOUST_DETECT_MODEL_VERSION", default_value = "")]
    pub model_version: String,
    /// Rows per OIP request.
    #[arg(long, env = "JOUST_DETECT_BATCH_ROWS", default_value_t = 8192)]
    pub batch_rows: usize,
    /// OIP requests in flight per detection.
    #[arg(long, env = "JOUST_DETECT_SCORING_CONCURRENCY", default_value_t = 4)]
    pub scoring_concurrency: usize,
    /// gRPC listen address.
    #[arg(long, env = "JOUST_DETECT_LISTEN", default_value = "127.0.0.1:7073")]
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (OpenMetrics text: per-RPC
    /// request counts and latency); `off` (the default) disables it.
    #[arg(long, env = "JOUST_DETECT_METRICS_LISTEN", default_value = "off")]
    pub metrics_listen: joust_runtime::Listen,
    /// On shutdown, seconds in-flight requests may take to finish before
    /// open connections are closed (jobs in flight go back to the queue).
    #[arg(long, env = "JOUST_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "JOUST_DETECT_MAX_MESSAGE_BYTES", default_value_t = 64 << 20)]
    pub max_message_bytes: usize,
    /// Days to keep finished runs, whatever they found (their anomalies
    /// stay: see --anomaly-retention-days).
    #[arg(long, env = "JOUST_DETECT_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,
    /// Days to keep anomalies; 0 (the default) keeps them.
    #[arg(long, env = "JOUST_DETECT_ANOMALY_RETENTION_DAYS", default_value_t = 0)]
    pub anomaly_retention_days: u64,
    /// Minutes after which a run still in progress (outside a backfill
    /// job) is closed as failed by the retention purge.
    #[arg(long, env = "JOUST_DETECT_STALE_RUN_MINUTES", default_value_t = 60)]
    pub stale_run_minutes: u64,
    /// Seconds between retention purges.
    #[arg(long, env = "JOUST_DETECT_PURGE_EVERY_SECONDS", default_value_t = 3600)]
    pub purge_every_seconds: u64,
    /// Where each run's evidence (evidence/OWNER/RUN/detection.json) goes:
    /// file://DIR, s3://BUCKET[/PREFIX], or `off`.
    #[arg(
        long,
        env = "JOUST_DETECT_EVIDENCE_STORE",
        default_value = "file://./joust-data"
    )]
    pub evidence_store: String,
    /// The OWNER segment of evidence keys (team or tenant).
    #[arg(long, env = "JOUST_DETECT_EVIDENCE_OWNER", default_value = "joust")]
    pub evidence_owner: String,
    /// Milliseconds between health probes of the database, evidence store
    /// and scoring model (readiness follows them).
    #[arg(long, env = "JOUST_DETECT_HEALTH_INTERVAL_MS", default_value_t = 2000)]
    pub health_interval_ms: u64,
    /// Longest a health probe may take before its dependency counts as down.
    #[arg(long, env = "JOUST_DETECT_HEALTH_TIMEOUT_MS", default_value_t = 1500)]
    pub health_timeout_ms: u64,
    /// Webhook URL new anomalies (one event per run, after rules and
    /// whitelists) and queue alerts are POSTed to, signed like the
    /// registry's webhooks (X-Joust-Signature); unset: no notifications.
    #[arg(long, env = "JOUST_DETECT_NOTIFY_URL")]
    pub notify_url: Option<String>,
    /// The webhook's HMAC-SHA256 secret (at least 16 bytes).
    #[arg(long, env = "JOUST_DETECT_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<String>,
    /// Read the webhook secret from this file instead.
    #[arg(
        long,
        env = "JOUST_DETECT_NOTIFY_SECRET_FILE",
        conflicts_with = "notify_secret"
    )]
    pub notify_secret_file: Option<std::path::PathBuf>,
    /// Attempts before a notification is failed.
    #[arg(long, env = "JOUST_DETECT_NOTIFY_MAX_ATTEMPTS", default_value_t = 8)]
    pub notify_max_attempts: u32,
    /// Wait after the first failed attempt, in ms (doubled each time, at
    /// most 5 minutes).
    #[arg(long, env = "JOUST_DETECT_NOTIFY_BACKOFF_MS", default_value_t = 1000)]
    pub notify_backoff_ms: u64,
    /// Time one POST may take, in ms.
    #[arg(long, env = "JOUST_DETECT_NOTIFY_TIMEOUT_MS", default_value_t = 10_000)]
    pub notify_timeout_ms: u64,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub jobs: backfill::JobsFlags,
    #[command(flatten)]
    pub security: joust_security::ServerArgs,
}

impl ServeArgs {
    /// The notification settings (`None` without `--notify-url`).
    pub fn notify(&self) -> anyhow::Result<Option<joust_detect::NotifyConfig>> {
        let Some(url) = &self.notify_url else {
            return Ok(None);
        };
        let secret = match (&self.notify_secret, &self.notify_secret_file) {
            (Some(s), _) => s.clone(),
            (None, Some(p)) => std::fs::read_to_string(p)
                .with_context(|| format!("--notify-secret-file {}", p.display()))?
                .trim()
                .to_owned(),
            (None, None) => anyhow::bail!(
                "notify-secret: --notify-url needs a secret (--notify-secret-file FILE or JOUST_DETECT_NOTIFY_SECRET)"
            ),
        };
        let mut config = joust_detect::NotifyConfig::new(url, &secret)?;
        config.max_attempts = self.notify_max_attempts;
        config.backoff_initial = std::time::Duration::from_millis(self.notify_backoff_ms);
        config.timeout = std::time::Duration::from_millis(self.notify_timeout_ms);
        config.validate()?;
        Ok(Some(config))
    }

    /// The evidence settings (`None` for `--evidence-store off`).
    pub fn evidence(&self) -> anyhow::Result<Option<joust_detect::EvidenceConfig>> {
        if self.evidence_store == "off" {
            return Ok(None);
        }
        Ok(Some(joust_detect::EvidenceConfig {
            url: self.evidence_store.clone(),
            owner: self.evidence_owner.clone(),
            s3: self.s3.clone().into_options()?,
        }))
    }
}

pub(super) async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let security = a.security.config(&crate::security::credentials()).load()?;
    let database_url = match &a.database_url_file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("--database-url-file {}", p.display()))?
            .trim()
            .to_owned(),
        None => a.database_url.clone(),
    };
    let evidence = a.evidence()?;
    let notify = a.notify()?;
    let config = DetectConfig {
        database_url,
        registry_url: Some(a.registry),
        scorer: ScorerConfig {
            router_url: a.router,
            model: a.model,
            model_version: a.model_version,
            batch_rows: a.batch_rows,
            concurrency: a.scoring_concurrency,
            client: crate::security::client(),
            ..ScorerConfig::default()
        },
        retention: joust_detect::Retention {
            keep: std::time::Duration::from_secs(a.retention_days.saturating_mul(86_400)),
            keep_anomalies: (a.anomaly_retention_days > 0).then(|| {
                std::time::Duration::from_secs(a.anomaly_retention_days.saturating_mul(86_400))
            }),
            stale_after: std::time::Duration::from_secs(
                a.stale_run_minutes.max(1).saturating_mul(60),
            ),
            purge_every: std::time::Duration::from_secs(a.purge_every_seconds.max(1)),
        },
        max_message_bytes: a.max_message_bytes,
        jobs: a.jobs.config(),
        evidence,
        clock: joust_detect::Clock::System,
        notify,
        health: joust_detect::HealthConfig {
            interval: std::time::Duration::from_millis(a.health_interval_ms.max(10)),
            timeout: std::time::Duration::from_millis(a.health_timeout_ms.max(10)),
        },
    };
    tracing::info!(
        database_url = %redact(&config.database_url),
        evidence_store = %a.evidence_store,
        evidence_owner = %a.evidence_owner,
        router = %config.scorer.router_url,
        registry = ?config.registry_url,
        model = %config.scorer.model,
        backfill = ?config.jobs,
        listen = %a.listen,
        max_message_bytes = config.max_message_bytes,
        security = %security.describe(),
        client = %config.scorer.client.describe(),
        "starting detection service"
    );
    let detector = joust_detect::server::open(&config)
        .await
        .context("opening the detection store")?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    let metrics = a
        .metrics_listen
        .bind()
        .await
        .with_context(|| format!("binding --metrics-listen {}", a.metrics_listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, metrics = %a.metrics_listen, "detection service listening");
    announce!("joust detect listening on {addr}");
    let role = joust_runtime::RoleConfig {
        security,
        max_message_bytes: config.max_message_bytes,
        drain_timeout: std::time::Duration::from_secs(a.drain_timeout_secs),
    };
    joust_detect::server::serve(
        joust_runtime::Listeners::new(listener).with_metrics(metrics),
        detector,
        role,
        crate::shutdown::signal(),
    )
    .await?;
    Ok(())
}
