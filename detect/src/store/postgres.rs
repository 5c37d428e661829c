//! PostgreSQL backend. Write transactions are plain `BEGIN`; the series
//! update in `complete_run` is conditional on the last detected bar, so two
//! concurrent detections of one series cannot both commit.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::Result;

pub struct PgDetectStore {
    pub(crate) pool: PgPool,
}

impl PgDetectStore {
    /// Connects and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

impl_detect_store!(PgDetectStore, Postgres);
impl_job_store!(PgDetectStore, Postgres, " FOR UPDATE SKIP LOCKED");
impl_rule_store!(PgDetectStore, Postgres);
impl_stats_store!(PgDetectStore, Postgres);
