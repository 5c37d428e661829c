//! `joust demo`: the whole story in about a minute. It starts an embedded
//! platform (`joust up` in-process, temporary folder, free ports) or uses a
//! running one (`--registry` + `--router`), then: ingests a synthetic market,
//! trains a champion and a challenger, evaluates both against quality gates,
//! promotes the champion, opens a shadow trial, drives traffic through the
//! router, prints the trial report, stops the trial with `promote` while
//! traffic keeps flowing (the node hot-swaps; no request may fail) and rolls
//! back. Each step prints one or two plain lines, or one JSON object with
//! `--json-lines`; `--json` prints one document of every step at the end.
//! Any failed step is an error (non-zero exit).

mod steps;
mod story;
mod traffic;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::registry_cmd::UiListen;
use crate::up_cmd::{Platform, UpArgs};

use self::steps::tell;
use self::story::Story;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Use this running registry instead of starting an embedded platform
    /// (needs --router).
    #[arg(long, env = "JOUST_DEMO_REGISTRY", requires = "router")]
    pub registry: Option<String>,
    /// The running platform's router (with --registry).
    #[arg(long, env = "JOUST_DEMO_ROUTER", requires = "registry")]
    pub router: Option<String>,
    /// The running platform's dashboard (with --registry), for the link
    /// printed at the end.
    #[arg(
        long,
        env = "JOUST_DEMO_DASHBOARD",
        default_value = "http://127.0.0.1:7080"
    )]
    pub dashboard: String,
    /// Embedded platform: the dashboard's listen address; `off` disables it.
    #[arg(long, env = "JOUST_DEMO_UI_LISTEN", default_value = "127.0.0.1:0")]
    pub ui_listen: UiListen,
    /// Embedded platform: keep it running after the story (for the
    /// dashboard) until Ctrl-C.
    #[arg(long, env = "JOUST_DEMO_KEEP")]
    pub keep: bool,
    /// Model name (created if missing; a rerun adds versions).
    #[arg(long, env = "JOUST_DEMO_MODEL", default_value = "market_anomaly")]
    pub model: String,
    /// Seconds of traffic through the router during the shadow trial.
    #[arg(long, env = "JOUST_DEMO_TRAFFIC_SECS", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub traffic_secs: u64,
    /// Concurrent clients sending traffic.
    #[arg(long, env = "JOUST_DEMO_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// Print JSON instead of text: one document `{"steps": [...]}` at
    /// the end.
    #[arg(long, env = "JOUST_JSON", conflicts_with = "json_lines")]
    pub json: bool,
    /// Print one JSON object per step, as each step happens.
    #[arg(long, env = "JOUST_JSON_LINES")]
    pub json_lines: bool,
}

/// Rows per inference request.
pub(super) const BATCH: usize = 8;
/// Longest wait for the router/node to reflect a registry change.
pub(super) const CONVERGE: Duration = Duration::from_secs(30);
pub(super) const ACTOR: &str = "joust-demo";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut story = Story {
        json: args.json || args.json_lines,
        lines: args.json_lines,
        n: 0,
        steps: Vec::new(),
    };
    let told = tell_story(&args, &mut story).await;
    story.finish()?;
    told
}

async fn tell_story(args: &DemoArgs, story: &mut Story) -> anyhow::Result<()> {
    match (&args.registry, &args.router) {
        (Some(registry), Some(router)) => {
            story.step(
                "platform",
                &[format!(
                    "using the running platform: registry {registry}, router {router}"
                )],
                json!({"embedded": false, "registry": registry, "router": router, "dashboard": args.dashboard}),
            )?;
            let dashboard = Some(args.dashboard.trim_end_matches('/').to_owned());
            tell(args, story, registry, router, dashboard).await
        }
        _ => {
            let dir = tempfile::tempdir().context("creating a temporary data folder")?;
            let up = UpArgs {
                data_dir: dir.path().to_path_buf(),
                registry_listen: "127.0.0.1:0".parse()?,
                node_listen: "127.0.0.1:0".parse()?,
                node_metrics_listen: joust_runtime::Listen(None),
                node_http_listen: joust_runtime::Listen(None),
                router_listen: "127.0.0.1:0".parse()?,
                router_metrics_listen: joust_runtime::Listen(None),
                router_http_listen: joust_runtime::Listen(None),
                registry_metrics_listen: joust_runtime::Listen(None),
                detect_metrics_listen: joust_runtime::Listen(None),
                drain_timeout_secs: 20,
                unbound_grace: joust_server::NodeConfig::default().unbound_grace,
                ui_listen: args.ui_listen,
                security: Default::default(),
                detect_listen: "off".to_owned(),
            };
            let platform = Platform::start(&up).await?;
            let registry = format!("http://{}", platform.registry);
            let router = format!("http://{}", platform.router);
            let dashboard = platform.ui.map(|a| format!("http://{a}"));
            story.step(
                "platform",
                &[
                    format!(
                        "started an embedded platform in {}: registry {registry}, serving node http://{}, router {router}",
                        display(&up.data_dir),
                        platform.node
                    ),
                    format!(
                        "dashboard {}",
                        dashboard.as_deref().unwrap_or("off")
                    ),
                ],
                json!({"embedded": true, "data_dir": up.data_dir, "registry": registry, "node": format!("http://{}", platform.node), "router": router, "dashboard": dashboard}),
            )?;
            let told = tell(args, story, &registry, &router, dashboard).await;
            if told.is_ok() && args.keep {
                eprintln!("joust demo: the platform keeps running (Ctrl-C stops)");
                crate::shutdown::signal().await;
            }
            let stopped = platform.shutdown().await;
            told?;
            stopped.context("stopping the embedded platform")
        }
    }
}

fn display(p: &std::path::Path) -> String {
    PathBuf::from(p).display().to_string()
}
