//! Shared plumbing of the trial benchmarks (W10 ingest, report latency):
//! a throwaway PostgreSQL database, a registry on it serving gRPC on port
//! 0, a shadow trial of two opaque versions, and synthetic shadow records.

use anyhow::Context;
use joust_client::{RegistryClient, TrialsClient, pb};
use joust_registry::RegistryConfig;
use sqlx::Connection;

/// A database created for one run and dropped after it.
pub struct Database {
    admin: String,
    name: String,
    pub url: String,
}

impl Database {
    /// Creates `joust_bench_<uuid>` on the server of `admin` (a URL to a
    /// database the user may create databases from).
    pub async fn create(admin: &str) -> anyhow::Result<Self> {
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

    pub async fn drop_it(self) -> anyhow::Result<()> {
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

/// The PostgreSQL server benchmarks use (`JOUST_BENCH_DATABASE_URL`,
/// default the local server as `postgres`).
pub fn admin_url() -> String {
    std::env::var("JOUST_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A registry on `database_url`, serving gRPC on 127.0.0.1 port 0.
pub struct BenchRegistry {
    pub url: String,
    /// The in-process trials engine (what a replica's background tasks
    /// call, e.g. compaction).
    pub trials: joust_registry::trials::Trials,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), joust_registry::RegistryError>>,
}

impl BenchRegistry {
    pub async fn start(database_url: &str) -> anyhow::Result<Self> {
        let config = RegistryConfig {
            database_url: database_url.to_owned(),
            blobs_url: "memory://".to_owned(),
            max_message_bytes: 64 << 20,
            ..RegistryConfig::default()
        };
        let registry = joust_registry::server::open(&config).await?;
        let trials = registry
            .trials()
            .cloned()
            .context("the registry has no trials engine")?;
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
        Ok(Self {
            url,
            trials,
            stop,
            server,
        })
    }

    /// Model `name` with opaque versions 1 (champion) and 2 (evaluated)
    /// and a shadow trial of 2 (sampling 1); the trial's id.
    pub async fn shadow_trial(&self, name: &str) -> anyhow::Result<u64> {
        let reg = RegistryClient::connect(&self.url)
            .await?
            .with_actor("bench");
        reg.create_model(name, "").await?;
        for seed in 1..=2u8 {
            reg.register_version(
                name,
                "opaque",
                vec![seed; 32].into(),
                Default::default(),
                "",
            )
            .await?;
        }
        reg.force_evaluated(&format!("{name}:1"), "bench").await?;
        reg.transition(&format!("{name}:1"), pb::VersionStatus::Champion, "bench")
            .await?;
        reg.force_evaluated(&format!("{name}:2"), "bench").await?;
        let trial = self
            .trials_client()
            .await?
            .start(pb::StartTrialRequest {
                model: name.into(),
                challenger_version: 2,
                mode: pb::TrialMode::Shadow.into(),
                sampling: 1.0,
                ..Default::default()
            })
            .await?;
        Ok(trial.id)
    }

    pub async fn trials_client(&self) -> anyhow::Result<TrialsClient> {
        Ok(TrialsClient::connect(&self.url).await?.with_actor("bench"))
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

/// Record `i` of run `run`: a shadow record as a router writes it, one row
/// scored by each arm, at `start_secs + i / per_second`.
pub fn record(
    trial_id: u64,
    run: usize,
    i: usize,
    start_secs: i64,
    per_second: usize,
) -> pb::ComparisonRecord {
    let x = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
    let champion_score = x;
    let challenger_score = (x + 0.01 * ((i % 7) as f64 - 3.0)).clamp(0.0, 1.0);
    let per_second = per_second.max(1);
    pb::ComparisonRecord {
        record_id: format!(
            "{run}-{i:016x}-{:08x}",
            i.wrapping_mul(2_654_435_761) as u32
        ),
        trial_id,
        request_id: format!("req-{i}"),
        time: Some(prost_types::Timestamp {
            seconds: start_secs + (i / per_second) as i64,
            nanos: ((i % per_second) * (1_000_000_000 / per_second)) as i32,
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
