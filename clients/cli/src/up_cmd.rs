//! `joust up`: the embedded platform in one process. A registry (SQLite
//! file and local blob directory under `--data-dir`), a serving node that
//! follows every model's champion and challenger, and a router in front of
//! that node (champion, split or shadow per open trial), the trial
//! dashboard over the registry, and the detection service (SQLite and
//! evidence under `--data-dir`, scoring through the router). Each role runs on
//! its own bound listener with one shared shutdown: Ctrl-C or SIGTERM
//! drains all of them; if one role fails, the others are stopped too.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use joust_registry::RegistryConfig;
use joust_router::RouterConfig;
use joust_server::NodeConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use joust_runtime::{Listen, Listeners, RoleConfig, parse_listen};

use crate::registry_cmd::UiListen;

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Folder holding the registry's SQLite file (`registry.db`) and blobs
    /// (`blobs/`); created if missing. State survives restarts.
    #[arg(long, env = "JOUST_DATA_DIR", default_value = "./joust-data")]
    pub data_dir: PathBuf,
    /// Registry gRPC listen address (port 0: any free port).
    #[arg(
        long,
        env = "JOUST_UP_REGISTRY_LISTEN",
        default_value = "127.0.0.1:7070"
    )]
    pub registry_listen: SocketAddr,
    /// Serving node gRPC listen address (port 0: any free port).
    #[arg(long, env = "JOUST_UP_NODE_LISTEN", default_value = "127.0.0.1:7071")]
    pub node_listen: SocketAddr,
    /// Serving node Prometheus `/metrics` address; `off` disables it.
    #[arg(
        long,
        env = "JOUST_UP_NODE_METRICS_LISTEN",
        default_value = "127.0.0.1:9091"
    )]
    pub node_metrics_listen: Listen,
    /// Serving node HTTP address of the Open Inference Protocol REST API
    /// (KServe v2); `off` disables it.
    #[arg(
        long,
        env = "JOUST_UP_NODE_HTTP_LISTEN",
        default_value = "127.0.0.1:8071"
    )]
    pub node_http_listen: Listen,
    /// How long the node keeps a version that lost its last ref (the old
    /// champion after a promotion) answering pinned requests before it is
    /// dropped, as `joust serve --unbound-grace`.
    #[arg(long, env = "JOUST_UNBOUND_GRACE", default_value = "30s", value_parser = joust_server::cli::parse_grace)]
    pub unbound_grace: std::time::Duration,
    /// Router gRPC listen address (port 0: any free port).
    #[arg(long, env = "JOUST_UP_ROUTER_LISTEN", default_value = "127.0.0.1:7072")]
    pub router_listen: SocketAddr,
    /// Router Prometheus `/metrics` address; `off` disables it.
    #[arg(
        long,
        env = "JOUST_UP_ROUTER_METRICS_LISTEN",
        default_value = "127.0.0.1:9092"
    )]
    pub router_metrics_listen: Listen,
    /// Router HTTP address of the Open Inference Protocol REST API (KServe
    /// v2, routed like gRPC); `off` disables it.
    #[arg(
        long,
        env = "JOUST_UP_ROUTER_HTTP_LISTEN",
        default_value = "127.0.0.1:8072"
    )]
    pub router_http_listen: Listen,
    /// Registry Prometheus `/metrics` address (per-RPC counts and
    /// latency); `off` (the default) disables it.
    #[arg(long, env = "JOUST_UP_REGISTRY_METRICS_LISTEN", default_value = "off")]
    pub registry_metrics_listen: Listen,
    /// Detection Prometheus `/metrics` address (per-RPC counts and
    /// latency); `off` (the default) disables it.
    #[arg(long, env = "JOUST_UP_DETECT_METRICS_LISTEN", default_value = "off")]
    pub detect_metrics_listen: Listen,
    /// On shutdown, seconds every role's in-flight requests may take to
    /// finish before open connections are closed.
    #[arg(long, env = "JOUST_UP_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
    /// Dashboard (read-only web UI over HTTP) listen address; `off`
    /// disables it.
    #[arg(long, env = "JOUST_UP_UI_LISTEN", default_value = joust_registry::dashboard::DEFAULT_LISTEN)]
    pub ui_listen: UiListen,
    /// Listener security of every role (authentication is OFF unless a
    /// tokens file or a JWT key is given). With authentication on, give
    /// the roles a token for their calls to each other (--token-file,
    /// roles reader,operator,predictor or admin); with TLS, --tls-ca.
    #[command(flatten)]
    pub security: joust_security::ServerArgs,
    /// Detection service gRPC listen address (port 0: any free port); `off`
    /// leaves the detection role out. Its store is `detect.db` and its
    /// evidence `evidence/` under --data-dir; it scores through the router.
    #[arg(long, env = "JOUST_UP_DETECT_LISTEN", default_value = "127.0.0.1:7073")]
    pub detect_listen: String,
}

impl UpArgs {
    fn registry_config(&self) -> RegistryConfig {
        let dir = self.data_dir.display();
        RegistryConfig {
            database_url: format!("sqlite://{dir}/registry.db"),
            blobs_url: format!("file://{dir}/blobs"),
            ..RegistryConfig::default()
        }
    }

    /// The detection role: SQLite and evidence under the data folder,
    /// scoring through the router, SHA-256 from the registry.
    fn detect_config(
        &self,
        registry: SocketAddr,
        router: SocketAddr,
        scheme: &str,
        client: joust_security::ClientSecurity,
    ) -> joust_detect::DetectConfig {
        let dir = self.data_dir.display();
        joust_detect::DetectConfig {
            database_url: format!("sqlite://{dir}/detect.db"),
            registry_url: Some(format!("{scheme}://{registry}")),
            scorer: joust_detect::ScorerConfig {
                router_url: format!("{scheme}://{router}"),
                client,
                ..joust_detect::ScorerConfig::default()
            },
            evidence: Some(joust_detect::EvidenceConfig {
                url: format!("file://{dir}"),
                ..joust_detect::EvidenceConfig::default()
            }),
            ..joust_detect::DetectConfig::default()
        }
    }
}

/// The address clients on this machine reach a listener at (an unspecified
/// address such as 0.0.0.0 is reached through loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

async fn bind(role: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{role}: cannot listen on {addr}"))
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// A started embedded platform: the addresses its roles listen on (as
/// reachable from this machine) and the handle that stops them.
#[derive(Debug)]
pub struct Platform {
    pub registry: SocketAddr,
    pub node: SocketAddr,
    pub router: SocketAddr,
    pub node_metrics: Option<SocketAddr>,
    pub router_metrics: Option<SocketAddr>,
    /// The OIP REST APIs (HTTP), unless turned off.
    pub node_http: Option<SocketAddr>,
    pub router_http: Option<SocketAddr>,
    /// The dashboard (HTTP), unless turned off.
    pub ui: Option<SocketAddr>,
    /// `https` when the roles serve TLS, else `http`.
    pub scheme: &'static str,
    /// Whether the roles require a token.
    pub auth: bool,
    /// The detection service, unless turned off.
    pub detect: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    roles: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

/// Spawns one role; its error is named after the role.
fn spawn_role<E>(
    role: &'static str,
    run: impl Future<Output = Result<(), E>> + Send + 'static,
) -> (&'static str, JoinHandle<anyhow::Result<()>>)
where
    E: std::error::Error + Send + Sync + 'static,
{
    (
        role,
        tokio::spawn(async move { run.await.with_context(|| role.to_owned()) }),
    )
}

impl Platform {
    /// Validates the flags, binds every listener (so an address in use fails
    /// before any role starts), opens the registry and detection stores and
    /// starts the registry, the dashboard, the serving node, the router and
    /// the detection service in this process.
    pub async fn start(args: &UpArgs) -> anyhow::Result<Self> {
        let metrics_addr = args.node_metrics_listen.0;
        let router_metrics_addr = args.router_metrics_listen.0;
        let detect_addr = parse_listen("detect-listen", &args.detect_listen)?;
        let drain_timeout = std::time::Duration::from_secs(args.drain_timeout_secs);
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("--data-dir {}", args.data_dir.display()))?;
        let registry_config = args.registry_config();
        let credentials = crate::security::credentials();
        let security = args.security.config(&credentials).load()?;
        let client = crate::security::client();
        if security.tls() && !client.tls() {
            anyhow::bail!(
                "--tls-cert: the roles of joust up call each other over TLS: give --tls-ca too (the CA of --tls-cert)"
            );
        }
        let scheme = if security.tls() { "https" } else { "http" };
        let registry_listener = bind("registry", args.registry_listen).await?;
        let node_listener = bind("node", args.node_listen).await?;
        let metrics_listener = match metrics_addr {
            Some(a) => Some(bind("node metrics", a).await?),
            None => None,
        };
        let router_listener = bind("router", args.router_listen).await?;
        let router_metrics_listener = match router_metrics_addr {
            Some(a) => Some(bind("router metrics", a).await?),
            None => None,
        };
        let node_http_listener = match args.node_http_listen.0 {
            Some(a) => Some(bind("node http", a).await?),
            None => None,
        };
        let router_http_listener = match args.router_http_listen.0 {
            Some(a) => Some(bind("router http", a).await?),
            None => None,
        };
        let ui_listener = match args.ui_listen.0 {
            Some(a) => Some(bind("dashboard", a).await?),
            None => None,
        };
        let detect_listener = match detect_addr {
            Some(a) => Some(bind("detection", a).await?),
            None => None,
        };
        let registry_metrics_listener = match args.registry_metrics_listen.0 {
            Some(a) => Some(bind("registry metrics", a).await?),
            None => None,
        };
        let detect_metrics_listener = match (detect_addr, args.detect_metrics_listen.0) {
            (Some(_), Some(a)) => Some(bind("detection metrics", a).await?),
            _ => None,
        };
        let local = |l: &Option<TcpListener>| -> anyhow::Result<Option<SocketAddr>> {
            Ok(match l {
                Some(l) => Some(reachable(l.local_addr()?)),
                None => None,
            })
        };
        let node_metrics = local(&metrics_listener)?;
        let router_metrics = local(&router_metrics_listener)?;
        let node_http = local(&node_http_listener)?;
        let router_http = local(&router_http_listener)?;
        let ui = local(&ui_listener)?;
        let detect = local(&detect_listener)?;
        let registry_addr = reachable(registry_listener.local_addr()?);
        let router_addr = reachable(router_listener.local_addr()?);
        let node_addr = reachable(node_listener.local_addr()?);
        let node_config = NodeConfig {
            registry_url: format!("{scheme}://{registry_addr}"),
            follow_all: true,
            // The router learns of a promotion a moment after the node:
            // the old champion keeps answering what the router still pins
            // to it (no failed request during the swap).
            unbound_grace: args.unbound_grace,
            security: security.clone(),
            client: client.clone(),
            drain_timeout,
            ..NodeConfig::default()
        };
        node_config.validate()?;
        let router_config = RouterConfig {
            registry_url: node_config.registry_url.clone(),
            nodes: vec![node_addr.to_string()],
            security: security.clone(),
            client: client.clone(),
            drain_timeout,
            ..RouterConfig::default()
        };
        router_config.validate()?;
        let registry = joust_registry::server::open(&registry_config)
            .await
            .context("opening the registry stores")?;
        let ui_routers = joust_registry::dashboard::Routers {
            urls: vec![format!("{scheme}://{router_addr}")],
            security: client.clone(),
        };
        let detect_config = args.detect_config(registry_addr, router_addr, scheme, client);
        let detector = match detect_listener {
            Some(l) => Some((
                l,
                joust_detect::server::open(&detect_config)
                    .await
                    .context("opening the detection store")?,
            )),
            None => None,
        };

        let (stop, stop_rx) = watch::channel(false);
        let mut roles = vec![spawn_role(
            "registry",
            joust_registry::run(
                Listeners::new(registry_listener).with_metrics(registry_metrics_listener),
                registry.clone(),
                RoleConfig {
                    security: security.clone(),
                    max_message_bytes: registry_config.max_message_bytes,
                    drain_timeout,
                },
                stopped(stop_rx.clone()),
            ),
        )];
        if let Some(l) = ui_listener {
            roles.push(spawn_role(
                "dashboard",
                joust_registry::dashboard::serve_full(
                    l,
                    registry,
                    security.authenticator().map(std::sync::Arc::new),
                    ui_routers,
                    stopped(stop_rx.clone()),
                ),
            ));
        }
        roles.push(spawn_role(
            "serving node",
            joust_server::run(
                Listeners::new(node_listener)
                    .with_metrics(metrics_listener)
                    .with_http(node_http_listener),
                node_config,
                stopped(stop_rx.clone()),
            ),
        ));
        roles.push(spawn_role(
            "router",
            joust_router::run(
                Listeners::new(router_listener)
                    .with_metrics(router_metrics_listener)
                    .with_http(router_http_listener),
                router_config,
                stopped(stop_rx.clone()),
            ),
        ));
        if let Some((l, detector)) = detector {
            roles.push(spawn_role(
                "detection",
                joust_detect::server::serve(
                    Listeners::new(l).with_metrics(detect_metrics_listener),
                    detector,
                    RoleConfig {
                        security: security.clone(),
                        max_message_bytes: detect_config.max_message_bytes,
                        drain_timeout,
                    },
                    stopped(stop_rx.clone()),
                ),
            ));
        }
        tracing::info!(
            router = %router_addr,
            security = %security.describe(),
            data_dir = %args.data_dir.display(),
            registry = %registry_addr,
            node = %node_addr,
            ui = ?ui,
            detect = ?detect,
            "joust up"
        );
        Ok(Self {
            registry: registry_addr,
            node: node_addr,
            router: router_addr,
            node_metrics,
            router_metrics,
            node_http,
            router_http,
            ui,
            scheme,
            auth: security.auth(),
            detect,
            stop,
            roles,
        })
    }

    /// Runs until `signal` resolves or one role ends on its own (an
    /// error), then stops and drains every role. The first error wins.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        let ended = {
            let any_role = futures::future::select_all(self.roles.iter_mut().map(|(_, h)| h));
            tokio::select! {
                _ = signal => None,
                (result, index, _) = any_role => Some((index, result)),
            }
        };
        let _ = self.stop.send(true);
        let (ended_index, mut ended_result) = match ended {
            Some((i, r)) => (Some(i), Some(r)),
            None => (None, None),
        };
        let mut first_error = None;
        for (index, (role, handle)) in self.roles.into_iter().enumerate() {
            let result = if Some(index) == ended_index {
                match ended_result.take() {
                    Some(r) => r,
                    None => continue,
                }
            } else {
                handle.await
            };
            if let Err(e) = flatten(role, result) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops and drains every role.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.run_until(std::future::ready(())).await
    }
}

fn flatten(
    role: &str,
    r: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    r.with_context(|| format!("{role} task"))?
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let platform = Platform::start(&args).await?;
    announce!("joust up: data in {}", args.data_dir.display());
    let scheme = platform.scheme;
    announce!("joust up: registry {scheme}://{}", platform.registry);
    announce!(
        "joust up: node {scheme}://{} (follows every champion and challenger)",
        platform.node
    );
    announce!(
        "joust up: router {scheme}://{} (in front of the node: champion, split or shadow per trial)",
        platform.router
    );
    if let Some(a) = platform.ui {
        announce!("joust up: dashboard http://{a}");
    }
    if let Some(a) = platform.detect {
        announce!(
            "joust up: detection http://{a} (SQLite {dir}/detect.db, evidence in {dir}/evidence, scores through the router)",
            dir = args.data_dir.display()
        );
    }
    if let Some(a) = platform.node_http {
        announce!("joust up: OIP REST node http://{a}/v2 (KServe v2 HTTP/JSON)");
    }
    if let Some(a) = platform.router_http {
        announce!(
            "joust up: OIP REST router http://{a}/v2 (KServe v2 HTTP/JSON, routed like gRPC)"
        );
    }
    if let Some(a) = platform.node_metrics {
        announce!("joust up: node metrics http://{a}/metrics");
    }
    if let Some(a) = platform.router_metrics {
        announce!("joust up: router metrics http://{a}/metrics");
    }
    if !platform.auth {
        announce!(
            "joust up: authentication is OFF: anyone who can reach these ports may promote, roll back or reload (see SECURITY.md)"
        );
    }
    announce!("joust up: ready (Ctrl-C stops)");
    platform.run_until(crate::shutdown::signal()).await?;
    announce!("joust up: stopped");
    Ok(())
}
