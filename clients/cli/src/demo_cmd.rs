//! `joust demo`: the whole story in about a minute. It starts an embedded
//! platform (`joust up` in-process, temporary folder, free ports) or uses a
//! running one (`--registry` + `--router`), then: ingests a synthetic market,
//! trains a champion and a challenger, evaluates both against quality gates,
//! promotes the champion, opens a shadow trial, drives traffic through the
//! router, prints the trial report, stops the trial with `promote` while
//! traffic keeps flowing (the node hot-swaps; no request may fail) and rolls
//! back. Each step prints one or two plain lines, or one JSON object with
//! `--json`. Any failed step is an error (non-zero exit).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use joust_client::{RegistryClient, TrialsClient, pb};
use joust_models::dataset::feature_matrix;
use joust_models::features::N_FEATURES;
use joust_models::synthetic::{self, SyntheticConfig};
use joust_models::{ModelKind, TrainConfig};
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::inference::model_infer_request::InferInputTensor;
use joust_proto::inference::{InferTensorContents, ModelInferRequest};
use joust_security::SecureChannel as Channel;
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::flows::Progress;
use crate::flows::evaluate::{self, EvaluateArgs, EvaluateReport, Gates};
use crate::flows::ingest::{self, IngestArgs, Source};
use crate::flows::train::{self, TrainArgs, TrainReport};
use crate::registry_cmd::UiListen;
use crate::trial_output::{ReportView, print_report};
use crate::up_cmd::{Platform, UpArgs};

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
    /// Print one JSON object per step instead of text.
    #[arg(long, env = "JOUST_JSON")]
    pub json: bool,
}

/// Rows per inference request.
const BATCH: usize = 8;
/// Longest wait for the router/node to reflect a registry change.
const CONVERGE: Duration = Duration::from_secs(30);
const ACTOR: &str = "joust-demo";

/// Prints the steps: text lines or one JSON object per step.
struct Story {
    json: bool,
    n: usize,
}

impl Story {
    fn step(
        &mut self,
        name: &str,
        lines: &[String],
        data: serde_json::Value,
    ) -> anyhow::Result<()> {
        self.n += 1;
        if self.json {
            let mut obj = serde_json::Map::new();
            obj.insert("step".to_owned(), json!(name));
            if let serde_json::Value::Object(fields) = data {
                obj.extend(fields);
            }
            println!("{}", serde_json::to_string(&obj)?);
        } else {
            for (i, line) in lines.iter().enumerate() {
                if i == 0 {
                    println!("{:>2}. {line}", self.n);
                } else {
                    println!("    {line}");
                }
            }
        }
        Ok(())
    }

    fn progress(&self) -> Progress {
        if self.json {
            Progress::hidden()
        } else {
            Progress::for_stderr()
        }
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut story = Story {
        json: args.json,
        n: 0,
    };
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
            tell(&args, &mut story, registry, router, dashboard).await
        }
        _ => {
            let dir = tempfile::tempdir().context("creating a temporary data folder")?;
            let up = UpArgs {
                data_dir: dir.path().to_path_buf(),
                registry_listen: "127.0.0.1:0".parse()?,
                node_listen: "127.0.0.1:0".parse()?,
                node_metrics_listen: "off".to_owned(),
                router_listen: "127.0.0.1:0".parse()?,
                router_metrics_listen: "off".to_owned(),
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
            let told = tell(&args, &mut story, &registry, &router, dashboard).await;
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

async fn tell(
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
            }),
            reason: "joust demo: shadow the challenger".to_owned(),
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

    let trial_url = dashboard.map(|d| format!("{d}/trials/{}", trial.id));
    story.step(
        "done",
        &[match &trial_url {
            Some(url) => format!("done: the trial's page is {url}"),
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

/// Feature rows of a fresh synthetic market (another seed than training),
/// flattened row-major.
fn traffic_rows() -> Vec<f32> {
    let series = synthetic::generate(&SyntheticConfig {
        tickers: 2,
        rows: 400,
        seed: 7,
        ..SyntheticConfig::default()
    });
    let features = feature_matrix(&series);
    features.x.rows().into_iter().flatten().copied().collect()
}

/// An OIP request of `BATCH` rows starting at row `at` (wrapping).
fn request(model: &str, rows: &[f32], at: usize, pin: Option<u64>) -> ModelInferRequest {
    let n = (rows.len() / N_FEATURES).max(1);
    let values: Vec<f32> = (0..BATCH)
        .flat_map(|i| {
            let r = (at + i) % n;
            rows.get(r * N_FEATURES..(r + 1) * N_FEATURES)
                .unwrap_or(&[])
                .iter()
                .copied()
        })
        .collect();
    ModelInferRequest {
        model_name: model.to_owned(),
        model_version: pin.map(|v| v.to_string()).unwrap_or_default(),
        inputs: vec![InferInputTensor {
            name: "input".to_owned(),
            datatype: "FP32".to_owned(),
            shape: vec![(values.len() / N_FEATURES) as i64, N_FEATURES as i64],
            parameters: Default::default(),
            contents: Some(InferTensorContents {
                fp32_contents: values,
                ..Default::default()
            }),
        }],
        ..Default::default()
    }
}

/// Waits until the router answers for `model` (pinned to `pin` if given)
/// with version `want`.
async fn wait_answer(
    oip: &GrpcInferenceServiceClient<Channel>,
    model: &str,
    rows: &[f32],
    pin: Option<u64>,
    want: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + CONVERGE;
    let want_s = want.to_string();
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match oip.clone().model_infer(request(model, rows, 0, pin)).await {
            Ok(r) if r.get_ref().model_version == want_s => return Ok(()),
            Ok(r) => last = format!("answered by v{}", r.get_ref().model_version),
            Err(s) => last = format!("{:?}: {}", s.code(), s.message()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "the router never answered {model} with v{want} within {} s (last: {last})",
        CONVERGE.as_secs()
    )
}

/// Polls the report until both arms have figures (the router flushes
/// comparison records every 200 ms).
async fn wait_report(trials: &TrialsClient, id: u64) -> anyhow::Result<pb::TrialReport> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let r = trials
            .report(id, "")
            .await
            .with_context(|| format!("reading trial {id}'s report"))?;
        let both = r.champion.as_ref().is_some_and(|a| a.requests > 0)
            && r.challenger.as_ref().is_some_and(|a| a.requests > 0);
        if both {
            return Ok(r);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "trial {id}'s report has no records for both arms after {} s ({} records)",
                CONVERGE.as_secs(),
                r.records
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn traffic_bar(json: bool, secs: u64) -> Option<ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(secs * 1000), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("    traffic [{bar:30.cyan/blue}] {msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

/// One answer of the traffic: when it arrived and which version answered
/// (or the error).
#[derive(Debug)]
struct Answer {
    at: Instant,
    version: Option<String>,
    error: Option<String>,
}

/// Closed-loop clients sending until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Traffic {
    fn start(channel: &Channel, model: &str, rows: &Arc<Vec<f32>>, concurrency: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let tasks = (0..concurrency as usize)
            .map(|c| {
                let client = GrpcInferenceServiceClient::new(channel.clone());
                let (stop, sent, rows) = (stop.clone(), sent.clone(), rows.clone());
                let model = model.to_owned();
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    let mut at = c * 97;
                    while !stop.load(Ordering::Relaxed) {
                        let outcome = client
                            .clone()
                            .model_infer(request(&model, &rows, at, None))
                            .await;
                        at += BATCH;
                        sent.fetch_add(1, Ordering::Relaxed);
                        let (version, error) = match outcome {
                            Ok(r) => (Some(r.into_inner().model_version), None),
                            Err(s) => (None, Some(format!("{:?}: {}", s.code(), s.message()))),
                        };
                        answers.push(Answer {
                            at: Instant::now(),
                            version,
                            error,
                        });
                    }
                    answers
                })
            })
            .collect();
        Self { stop, sent, tasks }
    }

    async fn finish(self) -> anyhow::Result<Vec<Answer>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in self.tasks {
            all.extend(t.await.context("traffic client task")?);
        }
        all.sort_by_key(|a| a.at);
        Ok(all)
    }
}

/// Counts of a set of answers.
#[derive(Debug, Default, Serialize)]
struct Tally {
    requests: u64,
    failed: u64,
    /// Error message → count.
    errors: BTreeMap<String, u64>,
    /// Version → answers.
    versions: BTreeMap<String, u64>,
}

impl Tally {
    fn of<'a>(answers: impl Iterator<Item = &'a Answer>) -> Self {
        let mut t = Tally::default();
        for a in answers {
            t.requests += 1;
            if let Some(v) = &a.version {
                *t.versions.entry(v.clone()).or_default() += 1;
            }
            if let Some(e) = &a.error {
                t.failed += 1;
                *t.errors.entry(e.clone()).or_default() += 1;
            }
        }
        t
    }

    fn versions_text(&self) -> String {
        if self.versions.is_empty() {
            return "no answers".to_owned();
        }
        self.versions
            .iter()
            .map(|(v, n)| format!("v{v} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn requests_carry_batch_rows_of_the_feature_width() {
        let rows = traffic_rows();
        assert_eq!(rows.len() % N_FEATURES, 0);
        let r = request("m", &rows, rows.len() / N_FEATURES - 1, Some(3));
        assert_eq!(r.model_version, "3");
        assert_eq!(r.inputs[0].shape, vec![BATCH as i64, N_FEATURES as i64]);
        let values = &r.inputs[0].contents.as_ref().unwrap().fp32_contents;
        assert_eq!(values.len(), BATCH * N_FEATURES);
        // Wraps around to the first row after the last.
        assert_eq!(&values[N_FEATURES..2 * N_FEATURES], &rows[..N_FEATURES]);
    }
}
