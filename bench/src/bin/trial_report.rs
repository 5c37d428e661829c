//! `GetTrialReport` latency against the number of stored records
//! (PostgreSQL). For each size N: a registry on a fresh database (the
//! server at `JOUST_BENCH_DATABASE_URL`, default the local one as
//! `postgres`), a shadow trial, N records ingested through
//! `RecordComparisons` (4 streams, batches of 1,000, 1,000 records per
//! second of trial time ending now: 10M records are 2.8 hours of trial),
//! then the report over gRPC `CALLS` times: before compaction (it reads
//! one minute rollup row per trial minute), after one compaction pass (the
//! totals row and the last two minutes), and, up to 1M records, from the
//! raw records (what every report did before rollups) for contrast.
//! Prints JSON: per size the medians and 95th percentiles in ms, the
//! ingest rate with rollups on, and the compaction time.
//!
//! `cargo run --release -p joust-bench --bin trial_report [SIZES] [CALLS]
//! [GENERATED]` with SIZES a comma-separated list (default
//! `1000000,10000000`). Sizes from GENERATED (e.g. `100000000`) up are
//! written directly in the database instead (ingesting 100M records through
//! gRPC takes over an hour): `INSERT … SELECT … FROM generate_series` in
//! chunks of 5M, the same shape and rate (1,000 per second of trial time,
//! one row per arm), into the day partitions; then the trial is stopped and
//! marked as started before rollups, and the registry's own backfill
//! (`Trials::backfill_rollups`, what a replica runs for such trials) folds
//! the records into rollups from the database, so the report reads rollups
//! built by the registry's code. Both the generation and the backfill are
//! timed and printed.

use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use joust_bench::median;
use joust_bench::trials::{BenchRegistry, Database, admin_url, record};
use joust_client::pb;

const BATCH: usize = 1000;
const STREAMS: usize = 4;
const PER_SECOND: usize = 1000;
/// Raw-record reports are measured up to this size (they scan every row).
const RAW_UP_TO: usize = 1_000_000;

fn quantile(mut xs: Vec<f64>, q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let k = ((xs.len() as f64 - 1.0) * q).round() as usize;
    xs.get(k).copied().unwrap_or(f64::NAN)
}

/// `calls` timings of `f` in ms.
async fn time_calls<F, Fut>(calls: usize, mut f: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        f().await?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(out)
}

fn summary(ms: &[f64]) -> serde_json::Value {
    serde_json::json!({
        "median_ms": median(ms.to_vec()),
        "p95_ms": quantile(ms.to_vec(), 0.95),
        "calls": ms.len(),
    })
}

/// `calls` reports of `trial` (each checked to count `n` records) before
/// and after one compaction pass: (before ms, minute rows merged,
/// compaction ms, after ms).
async fn report_timings(
    registry: &BenchRegistry,
    client: &joust_client::TrialsClient,
    trial: u64,
    n: usize,
    calls: usize,
) -> anyhow::Result<(Vec<f64>, u64, f64, Vec<f64>)> {
    let report = || async {
        let r = client.report(trial, "").await?;
        anyhow::ensure!(r.records == n as u64, "report counts {} of {n}", r.records);
        Ok(r.records)
    };
    let before = time_calls(calls, report).await?;
    eprintln!(
        "  report before compaction: median {:.1} ms",
        median(before.clone())
    );
    let t = Instant::now();
    let merged = registry
        .trials
        .compact_rollups(chrono::Utc::now())
        .await
        .context("compaction")?;
    let compact_ms = t.elapsed().as_secs_f64() * 1e3;
    let after = time_calls(calls, report).await?;
    eprintln!(
        "  report after compaction ({merged} minute rows merged in {compact_ms:.0} ms): median {:.1} ms",
        median(after.clone())
    );
    Ok((before, merged, compact_ms, after))
}

async fn size(admin: &str, n: usize, calls: usize) -> anyhow::Result<serde_json::Value> {
    let db = Database::create(admin).await?;
    let registry = BenchRegistry::start(&db.url).await?;
    let trial = registry.shadow_trial("report").await?;
    let client = registry.trials_client().await?;

    let start_secs = chrono_now_secs() - (n / PER_SECOND) as i64;
    let per_stream = n.div_ceil(STREAMS);
    let started = Instant::now();
    let tasks: Vec<_> = (0..STREAMS)
        .map(|s| {
            let client = client.clone();
            let (lo, hi) = (s * per_stream, ((s + 1) * per_stream).min(n));
            let batches = futures::stream::iter((lo..hi).step_by(BATCH)).map(move |b| {
                (b..(b + BATCH).min(hi))
                    .map(|i| record(trial, 0, i, start_secs, PER_SECOND))
                    .collect::<Vec<_>>()
            });
            tokio::spawn(async move { client.record(batches).await })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??.accepted;
    }
    let ingest_rate = n as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(accepted == n as u64, "accepted {accepted} of {n} records");
    eprintln!("{n} records: ingested at {ingest_rate:.0} records/s (rollups on)");

    let (before, merged, compact_ms, after) =
        report_timings(&registry, &client, trial, n, calls).await?;
    let raw = if n <= RAW_UP_TO {
        let trials = registry.trials.clone();
        let ms = time_calls(calls.min(3), || {
            let trials = trials.clone();
            async move {
                let (_, r) = trials.report_from_records(trial, "").await?;
                Ok(r.records)
            }
        })
        .await?;
        eprintln!(
            "  report from raw records: median {:.1} ms",
            median(ms.clone())
        );
        Some(summary(&ms))
    } else {
        None
    };
    registry.stop().await;
    db.drop_it().await?;
    Ok(serde_json::json!({
        "records": n,
        "trial_minutes": n.div_ceil(PER_SECOND * 60),
        "ingest_records_per_s": ingest_rate,
        "report_before_compaction": summary(&before),
        "compaction": { "minute_rows_merged": merged, "ms": compact_ms },
        "report": summary(&after),
        "report_from_raw_records": raw,
    }))
}

/// Records written per `INSERT … SELECT … FROM generate_series`.
const GENERATE_CHUNK: usize = 5_000_000;

/// Size `n` with the records generated in the database (see the module
/// comment).
async fn size_generated(admin: &str, n: usize, calls: usize) -> anyhow::Result<serde_json::Value> {
    use sqlx::Connection;
    let db = Database::create(admin).await?;
    let registry = BenchRegistry::start(&db.url).await?;
    let trial = registry.shadow_trial("report").await?;
    let client = registry.trials_client().await?;
    let now = chrono::Utc::now();
    let start = now - chrono::TimeDelta::milliseconds((n / PER_SECOND * 1000) as i64);
    // The day partitions the trial's time spans (yesterday .. +2 of each).
    let mut day = start;
    while day <= now {
        registry.trials.ensure_record_partitions(day).await?;
        day += chrono::TimeDelta::days(1);
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await?;
    let started = Instant::now();
    for lo in (0..n).step_by(GENERATE_CHUNK) {
        let hi = (lo + GENERATE_CHUNK).min(n);
        sqlx::query(
            "INSERT INTO trial_records (record_id, trial_id, request_id, at, routing_key_hash, served,
                champion_version, champion_scores, champion_labels, champion_latency_us, champion_status,
                challenger_version, challenger_scores, challenger_labels, challenger_latency_us, challenger_status,
                day)
             SELECT 'g-' || i, $1, 'req-' || i, t, (i * 2654435761) % 9223372036854775807, 'champion',
                    1, '[' || x || ']', CASE WHEN x > 0.95 THEN '1' ELSE '0' END, 180 + i % 97, 0,
                    2, '[' || y || ']', CASE WHEN y > 0.95 THEN '1' ELSE '0' END, 200 + i % 113, 0,
                    (t AT TIME ZONE 'UTC')::date
             FROM (SELECT i, $2::timestamptz + i * interval '1 millisecond' * (1000.0 / $5) AS t,
                          x, LEAST(1.0, GREATEST(0.0, x + 0.01 * ((i % 7) - 3))) AS y
                   FROM (SELECT i, ((i * 2654435761) % 1000003)::float8 / 1000003 AS x
                         FROM generate_series($3::bigint, $4::bigint) AS i) g) r",
        )
        .bind(i64::try_from(trial)?)
        .bind(start)
        .bind(i64::try_from(lo)?)
        .bind(i64::try_from(hi - 1)?)
        .bind(PER_SECOND as f64)
        .execute(&mut conn)
        .await
        .context("generating records")?;
        eprintln!(
            "  {hi} records generated ({:.0} records/s)",
            hi as f64 / started.elapsed().as_secs_f64()
        );
    }
    let generate_s = started.elapsed().as_secs_f64();
    client
        .stop(
            "report",
            pb::TrialOutcome::Abort,
            "bench: records generated in the database",
        )
        .await?;
    // As a trial from before rollups: the registry's backfill folds its
    // records.
    sqlx::query("UPDATE trial_rollups_from SET first_trial_id = $1")
        .bind(i64::try_from(trial)? + 1)
        .execute(&mut conn)
        .await?;
    sqlx::query("ANALYZE trial_records")
        .execute(&mut conn)
        .await?;
    let t = Instant::now();
    let backfilled = registry.trials.backfill_rollups().await?;
    let backfill_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        backfilled == Some((trial, n as u64)),
        "backfill folded {backfilled:?}, expected {n} records of trial {trial}"
    );
    eprintln!(
        "{n} records: generated in {generate_s:.0} s, rollups backfilled in {backfill_s:.0} s ({:.0} records/s)",
        n as f64 / backfill_s
    );
    let size: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(pg_total_relation_size(i.inhrelid)), 0)::bigint
           FROM pg_inherits i WHERE i.inhparent = 'trial_records'::regclass",
    )
    .fetch_one(&mut conn)
    .await?;
    drop(conn);
    let (before, merged, compact_ms, after) =
        report_timings(&registry, &client, trial, n, calls).await?;
    registry.stop().await;
    db.drop_it().await?;
    Ok(serde_json::json!({
        "records": n,
        "generated_in_database": true,
        "trial_minutes": n.div_ceil(PER_SECOND * 60),
        "records_bytes_on_disk": size,
        "generate_s": generate_s,
        "backfill_s": backfill_s,
        "report_before_compaction": summary(&before),
        "compaction": { "minute_rows_merged": merged, "ms": compact_ms },
        "report": summary(&after),
    }))
}

fn chrono_now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1000000,10000000".to_owned())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .with_context(|| format!("SIZES: expected comma-separated counts, got {s:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let calls = match std::env::args().nth(2) {
        Some(a) => a
            .parse()
            .with_context(|| format!("CALLS: expected a count, got {a:?}"))?,
        None => 20,
    };
    let generated_from = match std::env::args().nth(3) {
        Some(a) => a
            .parse()
            .with_context(|| format!("GENERATED: expected a count, got {a:?}"))?,
        None => usize::MAX,
    };
    let admin = admin_url();
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(if n >= generated_from {
            size_generated(&admin, n, calls).await?
        } else {
            size(&admin, n, calls).await?
        });
    }
    println!(
        "{}",
        serde_json::json!({
            "workload": "GetTrialReport latency by stored records (PostgreSQL)",
            "sizes": rows,
        })
    );
    Ok(())
}
