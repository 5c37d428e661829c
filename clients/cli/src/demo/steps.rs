//! The story itself: ingest, train, evaluate, promote, shadow trial under
//! traffic, report, promote-while-serving and rollback, each one step.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use joust_client::{RegistryClient, TrialsClient, pb};
use joust_models::{ModelKind, TrainConfig};
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use serde_json::json;
use tokio::time::Instant;

use super::story::Story;
use super::traffic::{Tally, Traffic, traffic_bar, traffic_rows, wait_answer, wait_report};
use super::{ACTOR, BATCH, DemoArgs};
use crate::flows::evaluate::{self, EvaluateArgs, EvaluateReport, Gates};
use crate::flows::ingest::{self, IngestArgs, Source};
use crate::flows::train::{self, TrainArgs, TrainReport};
use crate::trial_output::{ReportView, print_report};

pub(super) async fn tell(
    args: &DemoArgs,
    story: &mut Story,
    registry_url: &str,
    router_url: &str,
    dashboard: Option<String>,
) -> anyhow::Result<()> {
    let security = crate::security::client();
    let registry = RegistryClient::connect_with(registry_url, &security)
        .await
        .with_context(|| format!("connecting to the registry at {registry_url}"))?
        .with_actor(ACTOR);
    let trials = TrialsClient::connect_with(registry_url, &security)
        .await
        .with_context(|| format!("connecting to the registry at {registry_url}"))?
        .with_actor(ACTOR);
    let model = args.model.as_str();

    // 1. A synthetic market with labelled anomalies.
    let (tickers, bars) = (5, 1000);
    let dataset = ingest::ingest(
        &registry,
        &IngestArgs {
            name: format!("{model}_market"),
            source: Source::Synthetic {
                tickers,
                rows: bars,
                seed: 42,
            },
        },
        &story.progress(),
    )
    .await
    .context("ingesting the synthetic market")?;
    let anomalies = dataset.annotations.get("anomalies").cloned();
    story.step(
        "ingest",
        &[format!(
            "ingested a synthetic market: dataset {}:{}, {tickers} tickers × {bars} bars = {} rows, {} labelled anomalous bars",
            dataset.name,
            dataset.version,
            dataset.rows,
            anomalies.as_deref().unwrap_or("?")
        )],
        json!({"dataset": &dataset}),
    )?;
    let dataset_ref = format!("{}:{}", dataset.name, dataset.version);

    // 2. Champion and challenger.
    let champion = train_step(
        story,
        &registry,
        "train_champion",
        "champion",
        TrainArgs {
            dataset: dataset_ref.clone(),
            kind: ModelKind::IsolationForest,
            params: vec![("n_trees".to_owned(), "100".to_owned())],
            contamination: TrainConfig::DEFAULT_CONTAMINATION,
            seed: 1,
            model: model.to_owned(),
        },
    )
    .await?;
    let challenger = train_step(
        story,
        &registry,
        "train_challenger",
        "challenger",
        TrainArgs {
            dataset: dataset_ref.clone(),
            kind: ModelKind::IsolationForest,
            params: vec![("n_trees".to_owned(), "200".to_owned())],
            contamination: TrainConfig::DEFAULT_CONTAMINATION,
            seed: 2,
            model: model.to_owned(),
        },
    )
    .await?;
    let (v1, v2) = (champion.version, challenger.version);

    // 3. Quality gates.
    for (role, version) in [("champion", v1), ("challenger", v2)] {
        let report = evaluate::evaluate(
            &registry,
            &EvaluateArgs {
                reference: format!("{model}:{version}"),
                dataset: dataset_ref.clone(),
                gates: Gates {
                    max_anomaly_rate: Some(0.20),
                    min_precision: None,
                    min_recall: None,
                    min_auc: Some(0.5),
                },
            },
            &story.progress(),
        )
        .await
        .with_context(|| format!("evaluating {model}:{version}"))?;
        evaluate_step(story, role, &report)?;
        if !report.passed {
            anyhow::bail!(
                "evaluate: {model}:{version} failed its gates ({})",
                report.failed_gates.join("; ")
            );
        }
    }

    // 4. Promote the champion; wait until the router serves it.
    let traffic_rows = Arc::new(traffic_rows());
    let channel = security.wrap(
        security
            .endpoint(router_url)
            .with_context(|| format!("router URL {router_url:?}"))?
            .tcp_nodelay(true)
            .connect_lazy(),
    );
    let oip = GrpcInferenceServiceClient::new(channel.clone());
    let started = Instant::now();
    registry
        .transition(
            &format!("{model}:{v1}"),
            pb::VersionStatus::Champion,
            "joust demo: first champion",
        )
        .await
        .with_context(|| format!("promoting {model}:{v1}"))?;
    wait_answer(&oip, model, &traffic_rows, None, v1).await?;
    story.step(
        "promote",
        &[format!(
            "promoted v{v1} to champion; the router answered with v{v1} {:.1} s later (the node loaded it by itself)",
            started.elapsed().as_secs_f64()
        )],
        json!({"champion": v1, "converged_ms": started.elapsed().as_millis() as u64}),
    )?;

    // 5. Shadow trial: the champion answers, a copy goes to the challenger.
    let trial = trials
        .start(pb::StartTrialRequest {
            model: model.to_owned(),
            challenger_version: v2,
            mode: pb::TrialMode::Shadow.into(),
            weight: 0.0,
            sampling: 1.0,
            sticky: false,
            gates: Some(pb::TrialGates {
                min_samples: 100,
                max_anomaly_rate_delta: Some(0.05),
                min_agreement: Some(0.9),
                max_p99_latency_ratio: None,
                max_error_rate: Some(0.01),
                max_psi: Some(0.25),
                ..pb::TrialGates::default()
            }),
            reason: "joust demo: shadow the challenger".to_owned(),
            plan: None,
        })
        .await
        .context("starting the shadow trial")?;
    // The node follows the challenger too: wait until it answers pinned.
    wait_answer(&oip, model, &traffic_rows, Some(v2), v2).await?;
    // Give the router's Watch a moment to pick the trial up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    story.step(
        "trial_start",
        &[format!(
            "opened shadow trial {}: champion v{v1} answers every request, a copy of each (sampling 1) goes to challenger v{v2}",
            trial.id
        )],
        json!({"trial": trial.id, "mode": "shadow", "sampling": 1.0, "champion": v1, "challenger": v2}),
    )?;

    // 6. Traffic through the router.
    let secs = args.traffic_secs;
    let bar = traffic_bar(story.json, secs);
    let run = Traffic::start(&channel, model, &traffic_rows, args.concurrency);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(b) = &bar {
            b.set_position(t0.elapsed().as_millis().min(u128::from(secs) * 1000) as u64);
            b.set_message(format!("{} requests", run.sent.load(Ordering::Relaxed)));
        }
    }
    let answers = run.finish().await?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let tally = Tally::of(answers.iter());
    story.step(
        "traffic",
        &[
            format!(
                "drove {} requests ({BATCH} rows each) through the router in {elapsed:.1} s with {} clients: {:.0} req/s, {} failed",
                tally.requests,
                args.concurrency,
                tally.requests as f64 / elapsed,
                tally.failed
            ),
            format!("answered by {}", tally.versions_text()),
        ],
        json!({"requests": tally.requests, "failed": tally.failed, "errors": tally.errors, "elapsed_s": elapsed, "concurrency": args.concurrency, "rows_per_request": BATCH, "versions": tally.versions}),
    )?;
    if tally.failed > 0 {
        anyhow::bail!(
            "traffic: {} of {} requests failed ({:?})",
            tally.failed,
            tally.requests,
            tally.errors
        );
    }

    // 7. The trial report (the router records comparisons in batches).
    let report = wait_report(&trials, trial.id).await?;
    let view = ReportView::from(report);
    if story.json {
        story.step("report", &[], json!({"report": &view}))?;
    } else {
        story.step(
            "report",
            &[format!(
                "trial report: {} comparison records, verdict {}",
                view.records, view.verdict
            )],
            json!({}),
        )?;
        print_report(&view);
    }

    // 8. Stop with `promote` while traffic flows: the node hot-swaps.
    let run = Traffic::start(&channel, model, &traffic_rows, args.concurrency);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stop_at = Instant::now();
    let stopped = trials
        .stop(
            model,
            pb::TrialOutcome::Promote,
            "joust demo: the challenger held up",
        )
        .await;
    let switched = match &stopped {
        Ok(_) => wait_answer(&oip, model, &traffic_rows, None, v2).await,
        Err(_) => Ok(()),
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = run.finish().await?;
    let stopped = stopped.context("stopping the trial with outcome promote")?;
    switched?;
    let before = Tally::of(answers.iter().filter(|a| a.at < stop_at));
    let after = Tally::of(answers.iter().filter(|a| a.at >= stop_at));
    let first_new = answers
        .iter()
        .filter(|a| a.version.as_deref() == Some(&v2.to_string()))
        .map(|a| a.at)
        .min();
    let switch_ms = first_new.map(|t| t.saturating_duration_since(stop_at).as_millis() as u64);
    let failed = before.failed + after.failed;
    story.step(
        "swap",
        &[
            format!(
                "stopped trial {} with outcome promote while {} clients kept sending: {} requests, {failed} failed",
                stopped.id,
                args.concurrency,
                before.requests + after.requests
            ),
            format!(
                "before the stop: {}; after: {}{}",
                before.versions_text(),
                after.versions_text(),
                switch_ms
                    .map(|ms| format!(" (v{v2} first answered {ms} ms after the stop)"))
                    .unwrap_or_default()
            ),
        ],
        json!({
            "trial": stopped.id,
            "outcome": "promote",
            "requests": before.requests + after.requests,
            "failed": failed,
            "errors": after.errors,
            "before": before.versions,
            "after": after.versions,
            "switch_ms": switch_ms,
            "champion": v2,
        }),
    )?;
    if failed > 0 {
        anyhow::bail!(
            "swap: {failed} requests failed while the node swapped to v{v2} (before: {:?}, after: {:?})",
            before.errors,
            after.errors
        );
    }

    // 9. Roll back: the old champion serves again.
    let rolled = registry
        .rollback(model, "joust demo: show the way back")
        .await
        .context("rolling back")?;
    let champion_now = registry
        .get_version(&format!("{model}@champion"))
        .await
        .context("reading the champion after the rollback")?;
    if champion_now.version != v1 {
        anyhow::bail!(
            "rollback: expected v{v1} to be the champion again, the registry says v{}",
            champion_now.version
        );
    }
    wait_answer(&oip, model, &traffic_rows, None, v1).await?;
    story.step(
        "rollback",
        &[format!(
            "rolled back: v{} retired, v{} is the champion again and the router answers with it",
            rolled.retired.as_ref().map_or(v2, |v| v.version),
            champion_now.version
        )],
        json!({
            "retired": rolled.retired.as_ref().map(|v| v.version),
            "champion": champion_now.version,
            "router_answers": v1,
        }),
    )?;

    // An embedded platform without --keep stops with the demo: no link
    // to a page that is about to go away.
    let stops = args.registry.is_none() && !args.keep;
    let trial_url = dashboard
        .filter(|_| !stops)
        .map(|d| format!("{d}/trials/{}", trial.id));
    story.step(
        "done",
        &[match &trial_url {
            Some(url) => format!("done: the trial's page is {url}"),
            None if stops => {
                "done: the platform stops with the demo (--keep keeps it up, with the trial's page on the dashboard)"
                    .to_owned()
            }
            None => "done (dashboard off)".to_owned(),
        }],
        json!({"dashboard": trial_url}),
    )
}

async fn train_step(
    story: &mut Story,
    registry: &RegistryClient,
    step: &str,
    role: &str,
    args: TrainArgs,
) -> anyhow::Result<TrainReport> {
    let r = train::train(registry, &args, &story.progress())
        .await
        .with_context(|| format!("training the {role}"))?;
    let params: Vec<String> = r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    story.step(
        step,
        &[format!(
            "trained the {role}: {} {} seed={} → {}:{} on {} rows in {} ms (training anomaly rate {:.3})",
            r.kind,
            params.join(" "),
            r.seed,
            r.model,
            r.version,
            r.metrics.rows,
            r.metrics.duration_ms,
            r.metrics.anomaly_rate
        )],
        json!({"role": role, "train": &r}),
    )?;
    Ok(r)
}

fn evaluate_step(story: &mut Story, role: &str, r: &EvaluateReport) -> anyhow::Result<()> {
    let m = &r.metrics;
    let fig = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    story.step(
        "evaluate",
        &[format!(
            "evaluated the {role} v{}: precision {}, recall {}, ROC-AUC {}, anomaly rate {:.3}; {} of {} gates passed, status {}",
            r.version,
            fig(m.precision),
            fig(m.recall),
            fig(m.roc_auc),
            m.anomaly_rate,
            r.gates.iter().filter(|g| g.passed).count(),
            r.gates.len(),
            r.status
        )],
        json!({"role": role, "evaluate": r}),
    )
}
