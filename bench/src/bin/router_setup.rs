//! W5/W6 set-up and probes for `bench/router/run`, over gRPC only:
//!
//! * `router_setup prepare REGISTRY MODEL MODE` — trains two Isolation
//!   Forests (100 trees, seeds 0 and 1) on the benchmark market, creates
//!   MODEL, registers both, marks both `evaluated`, makes version 1 the
//!   champion and starts a trial with version 2 as challenger: MODE `split`
//!   (weight 0.1, not sticky) or `shadow` (sampling 1: every request is
//!   copied to the challenger and recorded).
//! * `router_setup wait-routes ROUTER MODEL...` — waits (≤ 60 s) until the
//!   router's `ListRoutes` shows an open trial for every MODEL.
//! * `router_setup stats ROUTER` — the router's `GetStats` as JSON (records
//!   sent, dropped, buffered; requests per arm).
//! * `router_setup records REGISTRY MODEL` — records the registry stored
//!   for MODEL's open trial, as JSON.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use joust_bench::market;
use joust_client::RegistryClient;
use joust_models::features::schema;
use joust_models::{Model, ModelKind, TrainConfig};
use joust_proto::v1 as pb;
use joust_proto::v1::router_admin_client::RouterAdminClient;
use joust_proto::v1::trials_client::TrialsClient;

const MARKET_SEED: u64 = 7;
const USAGE: &str = "usage: router_setup prepare REGISTRY MODEL split|shadow \
                     | wait-routes ROUTER MODEL... | stats ROUTER | records REGISTRY MODEL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["prepare", registry, model, mode] => prepare(registry, model, mode).await,
        ["wait-routes", router, models @ ..] if !models.is_empty() => {
            wait_routes(router, models).await
        }
        ["stats", router] => stats(router).await,
        ["records", registry, model] => records(registry, model).await,
        _ => bail!("{USAGE}"),
    }
}

fn artifact(seed: u64) -> anyhow::Result<Vec<u8>> {
    let data = market(MARKET_SEED);
    let cfg = TrainConfig::new(ModelKind::IsolationForest)
        .with_seed(seed)
        .with_param("n_trees", 100);
    let model = Model::train(&cfg, schema(), data.x.view()).context("training")?;
    model.to_bytes().context("serialising")
}

async fn prepare(registry: &str, model: &str, mode: &str) -> anyhow::Result<()> {
    let trial_mode = match mode {
        "split" => pb::TrialMode::Split,
        "shadow" => pb::TrialMode::Shadow,
        other => bail!("MODE: expected split or shadow, got {other:?}"),
    };
    let client = RegistryClient::connect(registry).await?.with_actor("bench");
    client.create_model(model, "W5/W6 router benchmark").await?;
    for seed in [0, 1] {
        let v = client
            .register_version(
                model,
                "isolation_forest",
                artifact(seed)?.into(),
                HashMap::new(),
                "",
            )
            .await?;
        client
            .force_evaluated(
                &format!("{model}:{}", v.version),
                "bench: synthetic version, no evaluation",
            )
            .await?;
    }
    client
        .transition(&format!("{model}:1"), pb::VersionStatus::Champion, "bench")
        .await?;
    let channel = joust_client::channel(registry).await?;
    let trial = TrialsClient::new(channel)
        .start_trial(pb::StartTrialRequest {
            model: model.to_owned(),
            challenger_version: 2,
            mode: trial_mode as i32,
            weight: 0.1,
            sampling: 1.0,
            sticky: false,
            gates: None,
            reason: "bench".to_owned(),
            plan: None,
        })
        .await?
        .into_inner();
    println!(
        "{{\"model\": {model:?}, \"trial\": {}, \"mode\": {mode:?}, \"champion\": {}, \"challenger\": {}}}",
        trial.id, trial.champion_version, trial.challenger_version
    );
    Ok(())
}

async fn wait_routes(router: &str, models: &[&str]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match joust_client::channel(router).await {
            Ok(channel) => match RouterAdminClient::new(channel)
                .list_routes(pb::ListRoutesRequest {})
                .await
            {
                Ok(resp) => {
                    let routes = resp.into_inner().routes;
                    let ready = models
                        .iter()
                        .all(|m| routes.iter().any(|r| r.model == *m && r.trial_id != 0));
                    if ready {
                        return Ok(());
                    }
                    format!("routes: {routes:?}")
                }
                Err(status) => status.to_string(),
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            bail!("router {router} has no trial route for {models:?} after 60 s ({last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stats(router: &str) -> anyhow::Result<()> {
    let s = RouterAdminClient::new(joust_client::channel(router).await?)
        .get_stats(pb::GetStatsRequest {})
        .await?
        .into_inner();
    let arms: Vec<String> = s
        .arms
        .iter()
        .map(|a| {
            format!(
                "{{\"model\": {:?}, \"arm\": {:?}, \"requests\": {}, \"errors\": {}}}",
                a.model, a.arm, a.requests, a.errors
            )
        })
        .collect();
    println!(
        "{{\"records_sent\": {}, \"records_dropped\": {}, \"records_buffered\": {}, \"arms\": [{}]}}",
        s.records_sent,
        s.records_dropped,
        s.records_buffered,
        arms.join(", ")
    );
    Ok(())
}

async fn records(registry: &str, model: &str) -> anyhow::Result<()> {
    let report = TrialsClient::new(joust_client::channel(registry).await?)
        .get_trial_report(pb::GetTrialReportRequest {
            model: model.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    println!("{{\"model\": {model:?}, \"records\": {}}}", report.records);
    Ok(())
}
