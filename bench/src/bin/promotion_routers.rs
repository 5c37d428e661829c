//! Issue 19: promotion → every router answering with the new champion, in
//! the multi-process production topology (`joust_tests::topology`: `joust
//! registry` on a throwaway PostgreSQL database, two `joust serve
//! --follow-all` nodes, two `joust route` routers over both, every role a
//! process of `$JOUST_BIN` on port 0, `/metrics` off).
//!
//! `promotion_routers [--smoke] [--promotions N] [--pause-ms MS]`
//!
//! Model `m`: version 1 (an Isolation Forest over 3 features, the drills'
//! fixture) is champion at start; versions 2..=N+1 are registered and
//! moved to `evaluated` (audited override) before measuring. Then N times
//! (default 20; `--smoke` or `JOUST_BENCH_SMOKE=1`: 2): wait until both
//! routers' `ListRoutes` show the current champion, pause (default 250 ms),
//! start the clock, call `Registry.Transition(m:V → champion)` and at the
//! same instant poll every router over its gRPC port (OIP `ModelInfer`, one
//! row, one connection per router opened beforehand, one request in flight
//! per router, no sleep between requests) until it answers with
//! `model_version = V`. A promotion's latency is the slowest router's
//! first answer from V, measured from the start of the `Transition` call.
//!
//! Prints JSON on stdout: every latency, min / p50 / p99 / max (nearest
//! rank: with 20 samples p99 is the maximum), the `Transition` call's own
//! duration, polls and errors, and `/proc/loadavg` before and after.
//! Progress on stderr. PostgreSQL: `JOUST_TEST_DATABASE_URL` (default the
//! local server as postgres); the database is dropped at the end.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use joust_client::inference::{InferRequest, parse_version};
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_tests::node::FIXTURE_FEATURES;
use joust_tests::topology::{MODEL, Topology};
use tonic::transport::Channel;

/// A promotion that has not reached every router by then fails the run.
const PROMOTION_TIMEOUT: Duration = Duration::from_secs(30);
const GOAL_P50_MS: f64 = 250.0;

struct Args {
    promotions: usize,
    pause: Duration,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        promotions: if joust_bench::smoke() { 2 } else { 20 },
        pause: Duration::from_millis(250),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => out.promotions = 2,
            "--promotions" => {
                out.promotions = it.next().context("--promotions needs N")?.parse()?;
            }
            "--pause-ms" => {
                out.pause =
                    Duration::from_millis(it.next().context("--pause-ms needs MS")?.parse()?);
            }
            other => bail!(
                "promotion_routers: unknown argument {other} \
                 (expected --smoke, --promotions N, --pause-ms MS)"
            ),
        }
    }
    anyhow::ensure!(out.promotions > 0, "--promotions must be at least 1");
    Ok(out)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Nearest-rank percentile of sorted `xs`.
fn percentile(xs: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * xs.len() as f64).ceil().max(1.0) as usize;
    xs[rank.min(xs.len()) - 1]
}

/// What one router's poller saw during one promotion.
struct Poll {
    /// Clock start → first answer from the new version.
    first_new: Duration,
    requests: u64,
    errors: u64,
    last_error: Option<String>,
}

/// Asks `router` (one row, unpinned) until it answers with `version`.
async fn poll_until(channel: Channel, version: u64, start: Instant) -> anyhow::Result<Poll> {
    let mut client = GrpcInferenceServiceClient::new(channel);
    let values: Vec<f32> = (0..FIXTURE_FEATURES).map(|f| f as f32 * 0.1).collect();
    let (mut requests, mut errors, mut last_error) = (0u64, 0u64, None);
    loop {
        let mut req =
            tonic::Request::new(InferRequest::new(MODEL, FIXTURE_FEATURES, values.clone()).build());
        req.set_timeout(Duration::from_secs(5));
        requests += 1;
        match client.model_infer(req).await {
            Ok(r) => {
                if parse_version(&r.into_inner().model_version)? == Some(version) {
                    return Ok(Poll {
                        first_new: start.elapsed(),
                        requests,
                        errors,
                        last_error,
                    });
                }
            }
            Err(s) => {
                errors += 1;
                last_error = Some(format!("{:?} {}", s.code(), s.message()));
            }
        }
        if start.elapsed() > PROMOTION_TIMEOUT {
            bail!(
                "no answer from v{version} within {PROMOTION_TIMEOUT:?} \
                 ({requests} requests, {errors} errors, last {last_error:?})"
            );
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    anyhow::ensure!(
        std::env::var_os("JOUST_BIN").is_some(),
        "set JOUST_BIN to the built joust binary (bench/rows.d/promotion-routers does)"
    );
    let load_start = loadavg();
    eprintln!("--- promotion: starting the topology (registry on PostgreSQL, 2 nodes, 2 routers)");
    let t = Topology::start().await?;
    let result = measure(&t, &args, load_start).await;
    if result.is_err() {
        eprintln!("{}", t.logs());
    }
    let summary = result?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

async fn measure(
    t: &Topology,
    args: &Args,
    load_start: String,
) -> anyhow::Result<serde_json::Value> {
    let mut versions = Vec::new();
    for _ in 0..args.promotions {
        versions.push(t.register_evaluated().await?);
    }
    eprintln!(
        "--- promotion: versions 1..={} registered; {} promotions",
        versions.last().copied().unwrap_or(1),
        args.promotions
    );
    // One connection per router, opened before measuring and kept.
    let mut channels = Vec::new();
    for url in t.router_urls() {
        channels.push(Channel::from_shared(url)?.connect().await?);
    }
    let load_before = loadavg();
    let mut latencies = Vec::new();
    let mut rows = Vec::new();
    let (mut polls, mut poll_errors) = (0u64, 0u64);
    let mut transition_ms = Vec::new();
    for &v in &versions {
        t.settle(Duration::from_secs(30)).await?;
        tokio::time::sleep(args.pause).await;
        let start = Instant::now();
        let pollers: Vec<_> = channels
            .iter()
            .map(|c| tokio::spawn(poll_until(c.clone(), v, start)))
            .collect();
        t.promote(v).await?;
        let call = start.elapsed();
        let mut per_router = Vec::new();
        for p in pollers {
            let p = p.await??;
            polls += p.requests;
            poll_errors += p.errors;
            if let Some(e) = &p.last_error {
                eprintln!("    v{v}: {} errors while polling, last: {e}", p.errors);
            }
            per_router.push(p.first_new.as_secs_f64() * 1e3);
        }
        let slowest = per_router.iter().copied().fold(0.0, f64::max);
        eprintln!(
            "    v{v}: every router answers v{v} after {slowest:.1} ms \
             (routers {:?} ms; Transition call {:.1} ms)",
            per_router
                .iter()
                .map(|x| (x * 10.0).round() / 10.0)
                .collect::<Vec<_>>(),
            call.as_secs_f64() * 1e3
        );
        latencies.push(slowest);
        transition_ms.push(call.as_secs_f64() * 1e3);
        rows.push(serde_json::json!({
            "version": v,
            "latency_ms": slowest,
            "routers_ms": per_router,
            "transition_call_ms": call.as_secs_f64() * 1e3,
        }));
    }
    let load_after = loadavg();
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let mut calls = transition_ms.clone();
    calls.sort_by(f64::total_cmp);
    let p50 = percentile(&sorted, 50.0);
    eprintln!(
        "--- promotion → every router on the new champion, {} promotions: \
         min {:.1} ms, p50 {p50:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p50 ≤ {GOAL_P50_MS} ms: {}); \
         load average {load_before} → {load_after}",
        sorted.len(),
        sorted[0],
        percentile(&sorted, 99.0),
        sorted[sorted.len() - 1],
        if p50 <= GOAL_P50_MS { "met" } else { "missed" },
    );
    Ok(serde_json::json!({
        "benchmark": "promotion-routers",
        "topology": "joust registry (PostgreSQL) + 2 joust serve --follow-all + 2 joust route, processes, loopback",
        "promotions": sorted.len(),
        "pause_ms": args.pause.as_secs_f64() * 1e3,
        "min_ms": sorted[0],
        "p50_ms": p50,
        "p99_ms": percentile(&sorted, 99.0),
        "max_ms": sorted[sorted.len() - 1],
        "goal_p50_ms": GOAL_P50_MS,
        "goal_met": p50 <= GOAL_P50_MS,
        "transition_call_p50_ms": percentile(&calls, 50.0),
        "polls": polls,
        "poll_errors": poll_errors,
        "loadavg_start": load_start,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "runs": rows,
    }))
}
