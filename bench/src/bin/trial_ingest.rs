//! W10: comparison-record ingest into PostgreSQL. Each run starts a
//! registry on a fresh database (the server at `JOUST_BENCH_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`), opens a shadow
//! trial, and streams N records (one row per arm, both arms) in batches of
//! 1,000 over S concurrent `RecordComparisons` streams; records/s is N over
//! the time from the first send to the last answer. Prints each run and the
//! median as JSON.
//!
//! `cargo run --release -p joust-bench --bin trial_ingest [N] [STREAMS] [RUNS]`

use std::time::Instant;

use anyhow::Context;
use joust_bench::median;
use joust_bench::trials::{BenchRegistry, Database, admin_url, record};
use joust_client::pb;

const BATCH: usize = 1000;

fn arg(i: usize, default: usize) -> anyhow::Result<usize> {
    match std::env::args().nth(i) {
        Some(a) => a
            .parse()
            .with_context(|| format!("argument {i}: expected a count, got {a:?}")),
        None => Ok(default),
    }
}

/// One run: returns (records/s, accepted).
async fn run(admin: &str, run: usize, n: usize, streams: usize) -> anyhow::Result<(f64, u64)> {
    let db = Database::create(admin).await?;
    let registry = BenchRegistry::start(&db.url).await?;
    let trial = registry.shadow_trial("ingest").await?;
    let trials = registry.trials_client().await?;

    // Build every batch before the clock starts.
    let per_stream = n.div_ceil(streams);
    let plans: Vec<Vec<Vec<pb::ComparisonRecord>>> = (0..streams)
        .map(|s| {
            let lo = s * per_stream;
            let hi = ((s + 1) * per_stream).min(n);
            (lo..hi)
                .collect::<Vec<_>>()
                .chunks(BATCH)
                .map(|c| {
                    c.iter()
                        .map(|&i| record(trial, run, i, 1_780_000_000, 1000))
                        .collect()
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|batches| {
            let client = trials.clone();
            tokio::spawn(async move { client.record(futures::stream::iter(batches)).await })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??.accepted;
    }
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(accepted == n as u64, "accepted {accepted} of {n} records");

    registry.stop().await;
    db.drop_it().await?;
    Ok((n as f64 / elapsed, accepted))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = arg(1, 500_000)?;
    let streams = arg(2, 4)?.max(1);
    let runs = arg(3, 5)?.max(1);
    let admin = admin_url();
    let mut rates = Vec::new();
    for r in 0..runs {
        let (rate, accepted) = run(&admin, r, n, streams).await?;
        eprintln!("run {r}: {accepted} records, {rate:.0} records/s");
        rates.push(rate);
    }
    println!(
        "{}",
        serde_json::json!({
            "workload": "W10 comparison ingest (PostgreSQL)",
            "records": n,
            "streams": streams,
            "batch": BATCH,
            "runs": rates,
            "median_records_per_s": median(rates.clone()),
        })
    );
    Ok(())
}
