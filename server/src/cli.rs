//! `joust serve`: the flags (clap derive, `long` + `env` on each) and the
//! entry point that binds the listeners, installs SIGTERM / ctrl-c
//! handling and runs the node.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::NodeConfig;
use crate::error::ServeError;

/// Run a serving node.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Registry gRPC URL.
    #[arg(long, env = "JOUST_REGISTRY", default_value = "http://127.0.0.1:7070")]
    pub registry: String,
    /// Ref to follow: `name@champion`, `name@challenger`, `name:7` or
    /// `name`. Repeat for several; the first ref of a model answers
    /// requests that do not pin a version.
    #[arg(long = "model", env = "JOUST_MODELS", value_delimiter = ',')]
    pub models: Vec<String>,
    /// Follow every model in the registry: `name@champion` and
    /// `name@challenger` of each, loading new ones as they appear and
    /// dropping a challenger when its alias goes (besides any `--model`).
    #[arg(long, env = "JOUST_FOLLOW_ALL")]
    pub follow_all: bool,
    /// gRPC listen address.
    #[arg(long, env = "JOUST_LISTEN", default_value = "127.0.0.1:7071")]
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (OpenMetrics text); `off`
    /// disables it.
    #[arg(long, env = "JOUST_METRICS_LISTEN", default_value = "127.0.0.1:9091")]
    pub metrics_listen: joust_runtime::Listen,
    /// HTTP listen address of the Open Inference Protocol REST API (KServe
    /// v2: `/v2/health/ready`, `/v2/models/NAME/infer`, …); `off`
    /// disables it.
    #[arg(long, env = "JOUST_HTTP_LISTEN", default_value = "127.0.0.1:8071")]
    pub http_listen: joust_runtime::Listen,
    /// On shutdown, seconds in-flight requests may take to finish before
    /// open connections are closed.
    #[arg(long, env = "JOUST_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
    /// How long a version that lost its last ref keeps answering requests
    /// pinned to it (DRAINING in the serving state) before it is dropped,
    /// so routers that still pin it converge first: `30s`, `500ms`, `2m`;
    /// `0s` drops it at once.
    #[arg(long, env = "JOUST_UNBOUND_GRACE", default_value = "30s", value_parser = parse_grace)]
    pub unbound_grace: Duration,
    /// Seconds between full re-resolutions of every ref (besides Watch).
    #[arg(long, env = "JOUST_RECONCILE_SECS", default_value_t = 30)]
    pub reconcile_secs: u64,
    /// Most rows accepted in one request.
    #[arg(long, env = "JOUST_MAX_ROWS", default_value_t = 10_000)]
    pub max_rows: usize,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "JOUST_MAX_MESSAGE_BYTES", default_value_t = 16 << 20)]
    pub max_message_bytes: usize,
    /// Batches up to this many rows are scored inline; larger ones on the
    /// blocking pool.
    #[arg(long, env = "JOUST_INLINE_ROWS", default_value_t = 64)]
    pub inline_rows: usize,
    /// Large batches scored at once; one more answers RESOURCE_EXHAUSTED.
    #[arg(long, env = "JOUST_MAX_BLOCKING_BATCHES", default_value_t = 4)]
    pub max_blocking_batches: usize,
    #[command(flatten)]
    pub security: joust_security::ServerArgs,
}

impl ServeArgs {
    /// The node configuration, validated; `credentials` are the process's
    /// certificate, CA and token (global flags).
    pub fn into_config(
        self,
        credentials: &joust_security::CredentialArgs,
    ) -> Result<NodeConfig, ServeError> {
        let security = self
            .security
            .config(credentials)
            .load()
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let client = credentials
            .client()
            .load()
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let config = NodeConfig {
            registry_url: self.registry,
            models: self.models,
            follow_all: self.follow_all,
            reconcile_interval: Duration::from_secs(self.reconcile_secs),
            unbound_grace: self.unbound_grace,
            max_rows: self.max_rows,
            max_message_bytes: self.max_message_bytes,
            inline_rows: self.inline_rows,
            max_blocking_batches: self.max_blocking_batches,
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            security,
            client,
            ..NodeConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// A duration with its unit (`30s`, `500ms`, `1m 30s`), as
/// `--unbound-grace` takes it.
pub fn parse_grace(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("expected a duration with a unit like 30s, 500ms or 2m ({e})"))
}

/// `joust serve`: validates the flags, binds the listeners, and runs the
/// node until SIGTERM or ctrl-c, then drains and returns.
pub async fn serve(
    args: ServeArgs,
    credentials: &joust_security::CredentialArgs,
) -> Result<(), ServeError> {
    let listen = args.listen;
    let metrics_addr = args.metrics_listen.0;
    let http_addr = args.http_listen.0;
    let config = args.into_config(credentials)?;
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Config(format!("cannot listen on {addr}: {e}")))
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
    info!(%listen, metrics = ?metrics_addr, http = ?http_addr, "starting serving node");
    if let Ok(addr) = listener.local_addr() {
        // Like `joust registry`: the bound address on stdout, for scripts
        // and tests that listen on port 0.
        println!("joust serve listening on {addr}");
    }
    if let Some(addr) = http_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        println!("joust serve http on {addr}");
    }
    let listeners = joust_runtime::Listeners::new(listener)
        .with_metrics(metrics_listener)
        .with_http(http_listener);
    crate::run(listeners, config, shutdown_signal()).await
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn grace(args: &[&str]) -> Result<Duration, String> {
        let argv = std::iter::once("joust-serve").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.serve.unbound_grace)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn unbound_grace_defaults_to_30s_and_takes_units() {
        assert_eq!(grace(&[]), Ok(Duration::from_secs(30)));
        assert_eq!(
            grace(&["--unbound-grace", "500ms"]),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            grace(&["--unbound-grace", "2m"]),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(grace(&["--unbound-grace", "0s"]), Ok(Duration::ZERO));
    }

    #[test]
    fn unbound_grace_without_a_unit_is_refused_naming_the_flag() {
        for bad in ["30", "soon", "-1s"] {
            let e = grace(&[&format!("--unbound-grace={bad}")]).unwrap_err();
            assert!(
                e.contains("--unbound-grace") && e.contains("expected a duration"),
                "{bad}: {e}"
            );
        }
    }
}
