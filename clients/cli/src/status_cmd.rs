//! `joust status`: the view an operator needs during an incident, per
//! model: the registry's champion and challenger (and a blocked rollout),
//! what each router answers with, and which node holds which version in
//! which phase (with refusal reasons), as the routers see the nodes'
//! serving-state streams.

use anyhow::Context;
use joust_client::TrialsClient;
use joust_proto::v1 as pb;
use joust_proto::v1::router_admin_client::RouterAdminClient;
use serde::Serialize;

use crate::client_opts::{ClientOpts, connect};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Routers to ask (gRPC URLs or host:port), comma-separated or
    /// repeated; each reports its routes and the nodes it follows.
    #[arg(
        long,
        env = "JOUST_ROUTERS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:7072"
    )]
    pub routers: Vec<String>,
    /// Only this model.
    pub model: Option<String>,
}

#[derive(Debug, Serialize)]
struct NodeVersion {
    node: String,
    stream: String,
    version: u64,
    phase: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
    refs: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RouterView {
    router: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    answering_champion: u64,
    answering_challenger: u64,
    registry_champion: u64,
    registry_challenger: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked: Option<String>,
    nodes: Vec<NodeVersion>,
}

#[derive(Debug, Serialize)]
struct ModelStatus {
    model: String,
    champion: u64,
    challenger: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout_blocked: Option<String>,
    routers: Vec<RouterView>,
}

fn phase_name(p: i32) -> &'static str {
    match pb::VersionPhase::try_from(p) {
        Ok(pb::VersionPhase::Loading) => "loading",
        Ok(pb::VersionPhase::Ready) => "ready",
        Ok(pb::VersionPhase::Refused) => "refused",
        Ok(pb::VersionPhase::Draining) => "draining",
        _ => "unknown",
    }
}

/// One router's answers (routes and node states), or why it gave none.
async fn ask(url: &str) -> Result<(pb::ListRoutesResponse, pb::ListNodeStatesResponse), String> {
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let channel = crate::security::client()
        .connect_lazy(&url)
        .map_err(|e| e.to_string())?;
    let mut admin = RouterAdminClient::new(channel);
    let routes = admin
        .list_routes(pb::ListRoutesRequest {})
        .await
        .map_err(|s| s.message().to_owned())?
        .into_inner();
    let nodes = admin
        .list_node_states(pb::ListNodeStatesRequest {})
        .await
        .map_err(|s| s.message().to_owned())?
        .into_inner();
    Ok((routes, nodes))
}

fn router_view(
    url: &str,
    model: &str,
    answer: &Result<(pb::ListRoutesResponse, pb::ListNodeStatesResponse), String>,
) -> RouterView {
    let mut view = RouterView {
        router: url.to_owned(),
        error: None,
        answering_champion: 0,
        answering_challenger: 0,
        registry_champion: 0,
        registry_challenger: 0,
        blocked: None,
        nodes: Vec::new(),
    };
    let (routes, nodes) = match answer {
        Ok(a) => a,
        Err(e) => {
            view.error = Some(e.clone());
            return view;
        }
    };
    if let Some(r) = routes.routes.iter().find(|r| r.model == model) {
        view.answering_champion = r.champion_version;
        view.answering_challenger = r.challenger_version;
        view.registry_champion = r.registry_champion_version;
        view.registry_challenger = r.registry_challenger_version;
    }
    view.blocked = nodes.blocked.iter().find(|b| b.model == model).map(|b| {
        let why: Vec<String> = b
            .reasons
            .iter()
            .map(|r| format!("{}: {}", r.node, r.reason))
            .collect();
        format!(
            "version {} (answering {}): {}",
            b.version,
            b.answering_version,
            why.join("; ")
        )
    });
    for n in &nodes.nodes {
        let held: Vec<&pb::VersionState> = n.versions.iter().filter(|v| v.model == model).collect();
        if held.is_empty() {
            view.nodes.push(NodeVersion {
                node: n.address.clone(),
                stream: n.stream.clone(),
                version: 0,
                phase: "-",
                reason: String::new(),
                refs: Vec::new(),
            });
        }
        for v in held {
            view.nodes.push(NodeVersion {
                node: n.address.clone(),
                stream: n.stream.clone(),
                version: v.version,
                phase: phase_name(v.phase),
                reason: v.reason.clone(),
                refs: v.refs.clone(),
            });
        }
    }
    view
}

fn print(models: &[ModelStatus]) {
    for m in models {
        let opt = |v: u64| {
            if v == 0 {
                "-".to_owned()
            } else {
                v.to_string()
            }
        };
        println!(
            "{}  champion {}  challenger {}{}",
            m.model,
            opt(m.champion),
            opt(m.challenger),
            m.trial
                .as_ref()
                .map(|t| format!("  trial {t}"))
                .unwrap_or_default()
        );
        if let Some(b) = &m.rollout_blocked {
            println!("  ROLLOUT BLOCKED (registry): {b}");
        }
        for r in &m.routers {
            if let Some(e) = &r.error {
                println!("  router {}: unreachable ({e})", r.router);
                continue;
            }
            let moving = r.answering_champion != r.registry_champion
                || r.answering_challenger != r.registry_challenger;
            println!(
                "  router {}: answering champion {} challenger {}{}",
                r.router,
                opt(r.answering_champion),
                opt(r.answering_challenger),
                if moving {
                    format!(
                        "  (registry wants {} / {}: not ready on enough nodes)",
                        opt(r.registry_champion),
                        opt(r.registry_challenger)
                    )
                } else {
                    String::new()
                }
            );
            if let Some(b) = &r.blocked {
                println!("    rollout blocked: {b}");
            }
            for n in &r.nodes {
                if n.version == 0 {
                    println!("    node {} ({}): holds no version", n.node, n.stream);
                    continue;
                }
                let reason = if n.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", n.reason)
                };
                println!(
                    "    node {} ({}): v{} {}{} [{}]",
                    n.node,
                    n.stream,
                    n.version,
                    n.phase,
                    reason,
                    n.refs.join(", ")
                );
            }
        }
    }
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let registry = connect(&args.opts).await?;
    let trials = TrialsClient::connect_with(&args.opts.registry, &crate::security::client())
        .await
        .context("is the registry running?")?;
    let mut models = registry.list_models().await?;
    if let Some(only) = &args.model {
        models.retain(|m| &m.name == only);
        anyhow::ensure!(!models.is_empty(), "MODEL: no model named {only:?}");
    }
    let open = trials.list(args.model.as_deref(), true).await?;
    let mut answers = Vec::new();
    for url in &args.routers {
        answers.push((url.clone(), ask(url).await));
    }
    let out: Vec<ModelStatus> = models
        .into_iter()
        .map(|m| ModelStatus {
            trial: open.iter().find(|t| t.model == m.name).map(|t| {
                format!(
                    "{} ({} champion {} vs challenger {})",
                    t.id,
                    match pb::TrialMode::try_from(t.mode) {
                        Ok(pb::TrialMode::Split) => format!("split w={}", t.weight),
                        Ok(pb::TrialMode::Shadow) => format!("shadow s={}", t.sampling),
                        _ => "off".to_owned(),
                    },
                    t.champion_version,
                    t.challenger_version
                )
            }),
            rollout_blocked: (m.rollout_blocked_version > 0).then(|| {
                format!(
                    "version {}: {}",
                    m.rollout_blocked_version, m.rollout_blocked_reason
                )
            }),
            routers: answers
                .iter()
                .map(|(url, a)| router_view(url, &m.name, a))
                .collect(),
            champion: m.champion_version,
            challenger: m.challenger_version,
            model: m.name,
        })
        .collect();
    if args.opts.json {
        crate::output::json(&out)
    } else {
        print(&out);
        Ok(())
    }
}
