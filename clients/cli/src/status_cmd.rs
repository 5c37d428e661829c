//! `joust status`: the view an operator needs during an incident, per
//! model: the registry's champion and challenger (and a blocked rollout),
//! what each router answers with, and which node holds which version in
//! which phase (with refusal reasons), as the routers see the nodes'
//! serving-state streams.

use anyhow::Context;
use joust_client::TrialsClient;
use joust_client::serving::{
    ModelFacts, ModelStatus, ask_routers, describe_pb_trial, model_status,
};

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

fn print(models: &[ModelStatus]) {
    for m in models {
        let opt = |v: u64| {
            if v == 0 {
                "-".to_owned()
            } else {
                v.to_string()
            }
        };
        outln!(
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
            outln!("  ROLLOUT BLOCKED (registry): {b}");
        }
        for r in &m.routers {
            if let Some(e) = &r.error {
                outln!("  router {}: unreachable ({e})", r.router);
                continue;
            }
            let moving = r.moving();
            outln!(
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
                outln!("    rollout blocked: {b}");
            }
            for n in &r.nodes {
                if n.version == 0 {
                    outln!("    node {} ({}): holds no version", n.node, n.stream);
                    continue;
                }
                let reason = if n.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", n.reason)
                };
                outln!(
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
    let answers = ask_routers(&args.routers, &crate::security::client()).await;
    let out: Vec<ModelStatus> = models
        .into_iter()
        .map(|m| {
            let facts = ModelFacts {
                trial: open
                    .iter()
                    .find(|t| t.model == m.name)
                    .map(describe_pb_trial),
                rollout_blocked: (m.rollout_blocked_version > 0).then(|| {
                    format!(
                        "version {}: {}",
                        m.rollout_blocked_version, m.rollout_blocked_reason
                    )
                }),
                champion: m.champion_version,
                challenger: m.challenger_version,
                model: m.name,
            };
            model_status(facts, &answers)
        })
        .collect();
    if args.opts.json {
        crate::output::json(&out)
    } else {
        print(&out);
        Ok(())
    }
}
