//! Detection benchmark: end-to-end detection throughput through the router
//! and a serving node (registry, node, router and detection service
//! in-process on loopback, SQLite detection store, or PostgreSQL with
//! `JOUST_BENCH_DATABASE_URL`; evidence written to a local directory), and
//! the incremental call with nothing new.
//!
//! Scenarios: 10 tickers × 5 years of daily bars (1,260 each), detected
//! concurrently; 1 ticker × 1 year of 1-minute bars (98,280 = 252 × 390);
//! 200 incremental no-op calls; the daily market again through the
//! backfill job queue (Backfill RPCs, the service's workers). Prints a
//! JSON report.

use std::time::{Duration, Instant};

use anyhow::Context;
use joust_detect::{DetectConfig, ScorerConfig};
use joust_models::synthetic::{SyntheticConfig, generate};
use joust_models::{Model, ModelKind, TrainConfig};
use joust_registry::RegistryConfig;
use joust_router::RouterConfig;
use joust_server::NodeConfig;
use tokio::net::TcpListener;

const MODEL: &str = "anomaly_detector";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Smoke mode: a small market, to check that the benchmark works.
    let smoke = std::env::var("JOUST_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir()?;

    // Registry with a champion trained on the market's features.
    let reg_config = RegistryConfig {
        database_url: format!("sqlite://{}/registry.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    };
    let registry = joust_registry::server::open(&reg_config).await?;
    let reg_listener = TcpListener::bind("127.0.0.1:0").await?;
    let registry_url = format!("http://{}", reg_listener.local_addr()?);
    tokio::spawn(joust_registry::server::run(
        reg_listener,
        registry,
        joust_runtime::RoleConfig::plain(8 << 20),
        std::future::pending(),
    ));
    let train = joust_models::dataset::feature_matrix(&generate(&SyntheticConfig {
        tickers: 10,
        rows: 1000,
        seed: 3,
        ..SyntheticConfig::default()
    }));
    let model = Model::train(
        &TrainConfig::new(ModelKind::IsolationForest).with_seed(3),
        joust_models::features::schema(),
        train.x.view(),
    )?;
    let client = joust_client::RegistryClient::connect(&registry_url).await?;
    client.create_model(MODEL, "bench").await?;
    client
        .register_version(
            MODEL,
            "isolation_forest",
            model.to_bytes()?.into(),
            Default::default(),
            "{}",
        )
        .await?;
    let reference = format!("{MODEL}:1");
    client
        .force_evaluated(&reference, "bench: synthetic version, no evaluation")
        .await?;
    client
        .transition(
            &reference,
            joust_proto::v1::VersionStatus::Champion,
            "bench",
        )
        .await?;

    // A serving node following the champion.
    let node_listener = TcpListener::bind("127.0.0.1:0").await?;
    let node_url = format!("http://{}", node_listener.local_addr()?);
    tokio::spawn(joust_server::run(
        node_listener,
        NodeConfig {
            registry_url: registry_url.clone(),
            models: vec![format!("{MODEL}@champion")],
            ..NodeConfig::default()
        },
        std::future::pending(),
    ));

    // The router in front of the node: detection traffic goes through it,
    // as in `joust up`.
    let router_listener = TcpListener::bind("127.0.0.1:0").await?;
    let router_url = format!("http://{}", router_listener.local_addr()?);
    tokio::spawn(joust_router::run(
        router_listener,
        RouterConfig {
            registry_url: registry_url.clone(),
            nodes: vec![node_url.trim_start_matches("http://").to_owned()],
            ..RouterConfig::default()
        },
        std::future::pending(),
    ));

    // The detection service's core (the gRPC layer adds one hop per call;
    // the no-op figure below goes through it).
    let database_url = std::env::var("JOUST_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/detect.db", dir.path().display()));
    let config = DetectConfig {
        database_url: database_url.clone(),
        registry_url: Some(registry_url.clone()),
        scorer: ScorerConfig {
            router_url: router_url.clone(),
            model: MODEL.to_owned(),
            ..ScorerConfig::default()
        },
        // Evidence is part of every run: written to a local directory.
        evidence: Some(joust_detect::EvidenceConfig {
            url: format!("file://{}/evidence-store", dir.path().display()),
            ..Default::default()
        }),
        ..DetectConfig::default()
    };
    let detector = joust_detect::server::open(&config).await?;
    let detect_listener = TcpListener::bind("127.0.0.1:0").await?;
    let detect_url = format!("http://{}", detect_listener.local_addr()?);
    tokio::spawn(joust_detect::serve(
        detect_listener,
        detector.clone(),
        joust_runtime::RoleConfig::plain(64 << 20),
        std::future::pending(),
    ));
    wait_routed(&router_url).await?;

    // 10 tickers × 5 years of daily bars.
    let (tickers, daily_rows) = if smoke { (2, 300) } else { (10, 1260) };
    detector
        .ingest_synthetic(
            "1d",
            SyntheticConfig {
                tickers,
                rows: daily_rows,
                seed: 11,
                ..SyntheticConfig::default()
            },
        )
        .await?;
    let started = Instant::now();
    let runs = futures::future::try_join_all((0..tickers).map(|i| {
        let d = detector.clone();
        async move {
            d.detect(
                &format!("SYN{i:03}"),
                "1d",
                joust_detect::domain::Trigger::Backfill,
            )
            .await
        }
    }))
    .await?;
    let daily = started.elapsed();
    let daily_scored: u64 = runs.iter().map(|r| r.run.rows_scored).sum();
    let daily_anomalies: u64 = runs.iter().map(|r| r.run.anomalies_found).sum();

    // 1 ticker × 1 year of 1-minute bars.
    let minute_rows = if smoke { 5000 } else { 252 * 390 };
    detector
        .ingest_synthetic(
            "1m",
            SyntheticConfig {
                tickers: 1,
                rows: minute_rows,
                seed: 12,
                ..SyntheticConfig::default()
            },
        )
        .await?;
    let started = Instant::now();
    let minute_run = detector
        .detect("SYN000", "1m", joust_detect::domain::Trigger::Backfill)
        .await?;
    let minute = started.elapsed();

    // Incremental calls with nothing new, over gRPC.
    let channel = joust_client::channel(&detect_url).await?;
    let mut grpc = joust_proto::v1::detection_client::DetectionClient::new(channel);
    let calls = if smoke { 20 } else { 200 };
    let mut noop = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let r = grpc
            .detect(joust_proto::v1::DetectRequest {
                ticker: "SYN000".into(),
                interval: "1d".into(),
                trigger: joust_proto::v1::Trigger::Scheduler as i32,
            })
            .await?
            .into_inner();
        noop.push(t.elapsed());
        anyhow::ensure!(r.run.map(|r| r.rows_scored) == Some(0), "no-op scored rows");
    }
    noop.sort();
    let pct = |q: f64| noop[((noop.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;

    // The daily market again (as interval 1h: a new series per ticker)
    // through the backfill job queue: one Backfill RPC per ticker, the
    // service's workers (default concurrency 3) claim and run them; timed
    // until GetJob reports every job completed.
    detector
        .ingest_synthetic(
            "1h",
            SyntheticConfig {
                tickers,
                rows: daily_rows,
                seed: 11,
                ..SyntheticConfig::default()
            },
        )
        .await?;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(tickers);
    for i in 0..tickers {
        let job = grpc
            .backfill(joust_proto::v1::BackfillRequest {
                ticker: format!("SYN{i:03}"),
                period: "max".into(),
                interval: "1h".into(),
                force: false,
                priority: 0,
            })
            .await?
            .into_inner();
        ids.push(job.id);
    }
    let mut queued_scored = 0;
    for id in ids {
        loop {
            let job = grpc
                .get_job(joust_proto::v1::GetJobRequest { id })
                .await?
                .into_inner();
            if job.status == joust_proto::v1::JobStatus::Completed as i32 {
                queued_scored += job.rows_scored;
                break;
            }
            anyhow::ensure!(
                job.status != joust_proto::v1::JobStatus::Failed as i32,
                "backfill job {id} failed: {}",
                job.error
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let queued = started.elapsed();

    let report = serde_json::json!({
        "store": if database_url.starts_with("sqlite") { "sqlite" } else { "postgres" },
        "daily": {
            "tickers": tickers, "bars_per_ticker": daily_rows,
            "rows_scored": daily_scored, "anomalies": daily_anomalies,
            "seconds": daily.as_secs_f64(),
            "rows_per_second": daily_scored as f64 / daily.as_secs_f64(),
        },
        "minute": {
            "bars": minute_rows, "rows_scored": minute_run.run.rows_scored,
            "anomalies": minute_run.run.anomalies_found,
            "seconds": minute.as_secs_f64(),
            "rows_per_second": minute_run.run.rows_scored as f64 / minute.as_secs_f64(),
        },
        "noop_ms": { "calls": calls, "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99) },
        "queued_daily": {
            "tickers": tickers, "bars_per_ticker": daily_rows,
            "concurrency": config.jobs.concurrency, "rows_scored": queued_scored,
            "seconds": queued.as_secs_f64(),
            "rows_per_second": queued_scored as f64 / queued.as_secs_f64(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Polls until the router answers for the champion (it learns of it
/// through the registry's Watch; the node loads it meanwhile).
async fn wait_routed(url: &str) -> anyhow::Result<()> {
    let scorer = joust_detect::Scorer::new(
        ScorerConfig {
            router_url: url.to_owned(),
            model: MODEL.to_owned(),
            ..ScorerConfig::default()
        },
        None,
    )?;
    let row = ndarray::Array2::<f32>::zeros((1, joust_models::features::N_FEATURES));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        match scorer.score(row.view()).await {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(anyhow::anyhow!("router not serving the champion: {last:?}"))
        .context("waiting for the champion")
}
