//! PostgreSQL backend. Write transactions are plain `BEGIN` (begun
//! cancel-safely by joust-storage); the series update in `complete_run` is
//! conditional on the last detected bar, so two concurrent detections of
//! one series cannot both commit.

use sqlx::{PgPool, Postgres, Transaction};

use crate::error::Result;

pub struct PgDetectStore {
    pub(crate) pool: PgPool,
}

impl PgDetectStore {
    /// Connects and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::with_pool(joust_storage::sql::connect_postgres(url).await?).await
    }

    /// Applies migrations to an opened pool.
    pub async fn with_pool(pool: PgPool) -> Result<Self> {
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(joust_storage::sql::begin_write_postgres(&self.pool, None).await?)
    }
}

impl_detect_store!(PgDetectStore, Postgres);
impl_job_store!(PgDetectStore, Postgres, " FOR UPDATE SKIP LOCKED");
impl_rule_store!(PgDetectStore, Postgres);
impl_stats_store!(PgDetectStore, Postgres);
impl_notification_store!(PgDetectStore, Postgres, " FOR UPDATE SKIP LOCKED");
