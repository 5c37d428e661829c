//! `joust registry`: the registry role.

use std::net::SocketAddr;

use anyhow::Context;
use joust_registry::{Limits, RegistryConfig, S3Options};

#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Metadata store: postgres://USER@HOST/DB or sqlite://PATH.
    #[arg(
        long,
        env = "JOUST_DATABASE_URL",
        default_value = "sqlite://./joust-data/registry.db"
    )]
    pub database_url: String,
    /// Read the database URL from this file instead (keeps the password out
    /// of the process list).
    #[arg(long, env = "JOUST_DATABASE_URL_FILE", conflicts_with = "database_url")]
    pub database_url_file: Option<std::path::PathBuf>,
    /// Blob store: file://DIR, s3://BUCKET[/PREFIX] or memory://.
    #[arg(long, env = "JOUST_BLOBS", default_value = "file://./joust-data/blobs")]
    pub blobs: String,
    /// gRPC listen address.
    #[arg(long, env = "JOUST_REGISTRY_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub s3: S3Args,
    /// Largest artifact accepted, in bytes.
    #[arg(long, env = "JOUST_MAX_ARTIFACT_BYTES", default_value_t = 256 << 20)]
    pub max_artifact_bytes: u64,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "JOUST_MAX_MESSAGE_BYTES", default_value_t = 8 << 20)]
    pub max_message_bytes: usize,
    /// Dashboard listen address (read-only web UI and JSON API over HTTP);
    /// '' or 'off' turns it off.
    #[arg(long, env = "JOUST_UI_LISTEN", default_value = joust_registry::dashboard::DEFAULT_LISTEN)]
    pub ui_listen: UiListen,
    /// Routers the dashboard's serving page asks what they answer with and
    /// which node holds which version (gRPC URLs or host:port,
    /// comma-separated or repeated); none: the page shows only the
    /// registry's side.
    #[arg(long, env = "JOUST_UI_ROUTERS", value_delimiter = ',')]
    pub ui_routers: Vec<String>,
    /// Roll a champion back by itself when a router reports that no node
    /// can serve it (a blocked rollout); off: the block is only recorded.
    #[arg(long, env = "JOUST_AUTO_ROLLBACK")]
    pub auto_rollback: bool,
    /// Seconds raw comparison records are kept (reports read per-minute
    /// rollups, so they stay complete); 0 keeps raw records forever.
    #[arg(long, env = "JOUST_RECORD_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub record_retention_secs: u64,
    /// Webhooks: a JSON file of endpoints ({"endpoints": [{"name", "url",
    /// "events": [...], "secret" or "secret_env"}], "max_attempts", ...})
    /// that receive audit events as signed JSON (docs/webhooks.md).
    #[arg(long, env = "JOUST_WEBHOOKS")]
    pub webhooks: Option<std::path::PathBuf>,
    /// Time between passes of the rollout controller over the open trials
    /// that have a plan (10s, 500ms, 1m).
    #[arg(long, env = "JOUST_CONTROLLER_INTERVAL", value_parser = humantime::parse_duration, default_value = "10s")]
    pub controller_interval: std::time::Duration,
    /// How long this replica keeps a trial's controller without renewing
    /// it; another replica takes the trial over once it lapses. Longer
    /// than --controller-interval.
    #[arg(long, env = "JOUST_CONTROLLER_LEASE", value_parser = humantime::parse_duration, default_value = "30s")]
    pub controller_lease: std::time::Duration,
    /// After a trial promotes its challenger, keep the replaced champion in
    /// shadow this long (30m, 2h) and roll back by itself if the new
    /// champion is proven worse under the trial's gates; off by default.
    #[arg(long, env = "JOUST_ROLLBACK_WATCH", value_parser = humantime::parse_duration)]
    pub rollback_watch: Option<std::time::Duration>,
    /// Turn the rollout controller off on this replica (plans then wait
    /// for a replica that runs it).
    #[arg(long, env = "JOUST_NO_CONTROLLER")]
    pub no_controller: bool,
    /// Prometheus `/metrics` listen address (OpenMetrics text: per-RPC
    /// request counts and latency); `off` (the default) disables it.
    #[arg(long, env = "JOUST_REGISTRY_METRICS_LISTEN", default_value = "off")]
    pub metrics_listen: joust_runtime::Listen,
    /// On shutdown, seconds in-flight requests may take to finish before
    /// open connections are closed.
    #[arg(long, env = "JOUST_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
    #[command(flatten)]
    pub security: joust_security::ServerArgs,
}

/// The dashboard's listen address, or none when it is turned off (the one
/// "ADDR or off" form of every listen flag).
pub use joust_runtime::Listen as UiListen;

/// S3 settings (standard AWS environment variables).
#[derive(Debug, Clone, clap::Args)]
pub struct S3Args {
    /// S3 endpoint (for S3-compatible servers); default: AWS.
    #[arg(long = "s3-endpoint", env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[arg(long = "s3-region", env = "AWS_REGION")]
    pub region: Option<String>,
    /// S3 access key id.
    #[arg(long = "s3-access-key-id", env = "AWS_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// S3 secret access key (never logged).
    #[arg(
        long = "s3-secret-access-key",
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,
    /// Read the S3 secret access key from this file.
    #[arg(long = "s3-secret-access-key-file", env = "AWS_SECRET_ACCESS_KEY_FILE")]
    pub secret_access_key_file: Option<std::path::PathBuf>,
    /// Allow plain-HTTP S3 endpoints.
    #[arg(long = "s3-allow-http", env = "AWS_ALLOW_HTTP")]
    pub allow_http: bool,
}

impl S3Args {
    pub fn into_options(self) -> anyhow::Result<S3Options> {
        let secret = match self.secret_access_key_file {
            Some(p) => Some(
                std::fs::read_to_string(&p)
                    .with_context(|| format!("--s3-secret-access-key-file {}", p.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => self.secret_access_key,
        };
        Ok(S3Options {
            endpoint: self.endpoint,
            region: self.region,
            access_key_id: self.access_key_id,
            secret_access_key: secret,
            allow_http: self.allow_http,
        })
    }
}

/// A URL with its password replaced, for logs.
pub fn redact(url: &str) -> String {
    joust_security::redact_url(url)
}

impl RegistryArgs {
    pub fn into_config(self) -> anyhow::Result<(SocketAddr, RegistryConfig)> {
        let database_url = match &self.database_url_file {
            Some(p) => std::fs::read_to_string(p)
                .with_context(|| format!("--database-url-file {}", p.display()))?
                .trim()
                .to_owned(),
            None => self.database_url.clone(),
        };
        let webhooks = match &self.webhooks {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("--webhooks {}", p.display()))?;
                Some(
                    joust_registry::webhooks::WebhookConfig::parse(&text, |v| {
                        std::env::var(v).ok()
                    })
                    .with_context(|| format!("--webhooks {}", p.display()))?,
                )
            }
            None => None,
        };
        let mut controller = joust_registry::trials::controller::ControllerConfig::new(
            self.controller_interval,
            self.controller_lease,
        );
        controller.rollback_watch = self.rollback_watch.filter(|d| !d.is_zero());
        controller
            .validate()
            .map_err(|e| anyhow::anyhow!("--controller-interval/--controller-lease: {e}"))?;
        let limits = Limits {
            max_artifact_bytes: self.max_artifact_bytes,
            ..Limits::default()
        };
        Ok((
            self.listen,
            RegistryConfig {
                database_url,
                blobs_url: self.blobs,
                s3: self.s3.into_options()?,
                limits,
                max_message_bytes: self.max_message_bytes,
                auto_rollback: self.auto_rollback,
                record_retention: (self.record_retention_secs > 0)
                    .then(|| std::time::Duration::from_secs(self.record_retention_secs)),
                webhooks,
                controller: (!self.no_controller).then_some(controller),
            },
        ))
    }
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    let UiListen(ui_listen) = args.ui_listen;
    let ui_routers = joust_registry::dashboard::Routers {
        urls: args.ui_routers.clone(),
        security: crate::security::client(),
    };
    let metrics_listen = args.metrics_listen;
    let drain_timeout = std::time::Duration::from_secs(args.drain_timeout_secs);
    let security = args
        .security
        .config(&crate::security::credentials())
        .load()?;
    let (listen, config) = args.into_config()?;
    tracing::info!(
        database_url = %redact(&config.database_url),
        blobs = %redact(&config.blobs_url),
        s3_endpoint = ?config.s3.endpoint,
        s3_secret = if config.s3.secret_access_key.is_some() { "set (redacted)" } else { "unset" },
        %listen,
        ui_listen = ?ui_listen,
        max_message_bytes = config.max_message_bytes,
        max_artifact_bytes = config.limits.max_artifact_bytes,
        security = %security.describe(),
        controller = ?config.controller.as_ref().map(|c| (c.interval, c.lease, c.rollback_watch)),
        webhooks = ?config.webhooks.as_ref().map(|w| w.endpoints.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()),
        "starting registry"
    );
    let registry = joust_registry::server::open(&config)
        .await
        .context("opening the registry stores")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let metrics = metrics_listen
        .bind()
        .await
        .with_context(|| format!("binding --metrics-listen {metrics_listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, metrics = %metrics_listen, "registry listening");
    announce!("joust registry listening on {addr}");
    let ui = match ui_listen {
        Some(ui_addr) => {
            let l = tokio::net::TcpListener::bind(ui_addr)
                .await
                .with_context(|| format!("binding --ui-listen {ui_addr}"))?;
            let ui_addr = l.local_addr()?;
            tracing::info!(%ui_addr, "dashboard listening");
            // A reader that stopped after the first line must not stop
            // the registry.
            announce!("joust dashboard listening on http://{ui_addr}");
            Some(l)
        }
        None => None,
    };
    let shutdown = futures::FutureExt::shared(Box::pin(crate::shutdown::signal()));
    let door = security.authenticator().map(std::sync::Arc::new);
    let role = joust_runtime::RoleConfig {
        security,
        max_message_bytes: config.max_message_bytes,
        drain_timeout,
    };
    let grpc = joust_registry::run(
        joust_runtime::Listeners::new(listener).with_metrics(metrics),
        registry.clone(),
        role,
        shutdown.clone(),
    );
    match ui {
        Some(l) => {
            let ui = joust_registry::dashboard::serve_full(l, registry, door, ui_routers, shutdown);
            tokio::try_join!(grpc, ui)?;
        }
        None => grpc.await?,
    }
    Ok(())
}
