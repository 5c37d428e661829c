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
use joust_client::{RegistryClient, TrialsClient, pb};
use joust_registry::RegistryConfig;
use sqlx::Connection;

const BATCH: usize = 1000;

fn arg(i: usize, default: usize) -> anyhow::Result<usize> {
    match std::env::args().nth(i) {
        Some(a) => a
            .parse()
            .with_context(|| format!("argument {i}: expected a count, got {a:?}")),
        None => Ok(default),
    }
}

/// A shadow record as a router writes it: one row scored by each arm.
fn record(trial_id: u64, run: usize, i: usize) -> pb::ComparisonRecord {
    let x = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
    let champion_score = x;
    let challenger_score = (x + 0.01 * ((i % 7) as f64 - 3.0)).clamp(0.0, 1.0);
    pb::ComparisonRecord {
        record_id: format!(
            "{run}-{i:016x}-{:08x}",
            i.wrapping_mul(2_654_435_761) as u32
        ),
        trial_id,
        request_id: format!("req-{i}"),
        time: Some(prost_types::Timestamp {
            seconds: 1_780_000_000 + (i / 1000) as i64,
            nanos: ((i % 1000) * 1_000_000) as i32,
        }),
        routing_key_hash: (i as u64).wrapping_mul(0xff51_afd7_ed55_8ccd),
        served: pb::TrialArm::Champion.into(),
        champion: Some(pb::TrialArmResult {
            version: 1,
            scores: vec![champion_score],
            labels: vec![champion_score > 0.95],
            latency_us: 180 + (i % 97) as u64,
            status_code: 0,
        }),
        challenger: Some(pb::TrialArmResult {
            version: 2,
            scores: vec![challenger_score],
            labels: vec![challenger_score > 0.95],
            latency_us: 200 + (i % 113) as u64,
            status_code: 0,
        }),
    }
}

struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin: &str) -> anyhow::Result<Self> {
        let name = format!("joust_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .with_context(|| format!("PostgreSQL at {admin}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let (base, _) = admin.rsplit_once('/').unwrap_or((admin, ""));
        Ok(Self {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    async fn drop_it(self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// One run: returns (records/s, accepted).
async fn run(admin: &str, run: usize, n: usize, streams: usize) -> anyhow::Result<(f64, u64)> {
    let db = Database::create(admin).await?;
    let config = RegistryConfig {
        database_url: db.url.clone(),
        blobs_url: "memory://".to_owned(),
        max_message_bytes: 64 << 20,
        ..RegistryConfig::default()
    };
    let registry = joust_registry::server::open(&config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(joust_registry::run(
        listener,
        registry,
        joust_runtime::RoleConfig::plain(64 << 20),
        async {
            let _ = stopped.await;
        },
    ));

    let reg = RegistryClient::connect(&url).await?.with_actor("bench");
    reg.create_model("ingest", "").await?;
    for seed in 1..=2u8 {
        reg.register_version(
            "ingest",
            "opaque",
            vec![seed; 32].into(),
            Default::default(),
            "",
        )
        .await?;
    }
    reg.force_evaluated("ingest:1", "bench").await?;
    reg.transition("ingest:1", pb::VersionStatus::Champion, "bench")
        .await?;
    reg.force_evaluated("ingest:2", "bench").await?;
    let trials = TrialsClient::connect(&url).await?.with_actor("bench");
    let trial = trials
        .start(pb::StartTrialRequest {
            model: "ingest".into(),
            challenger_version: 2,
            mode: pb::TrialMode::Shadow.into(),
            sampling: 1.0,
            ..Default::default()
        })
        .await?;

    // Build every batch before the clock starts.
    let per_stream = n.div_ceil(streams);
    let plans: Vec<Vec<Vec<pb::ComparisonRecord>>> = (0..streams)
        .map(|s| {
            let lo = s * per_stream;
            let hi = ((s + 1) * per_stream).min(n);
            (lo..hi)
                .collect::<Vec<_>>()
                .chunks(BATCH)
                .map(|c| c.iter().map(|&i| record(trial.id, run, i)).collect())
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

    let _ = stop.send(());
    let _ = server.await;
    db.drop_it().await?;
    Ok((n as f64 / elapsed, accepted))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = arg(1, 500_000)?;
    let streams = arg(2, 4)?.max(1);
    let runs = arg(3, 5)?.max(1);
    let admin = std::env::var("JOUST_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
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
