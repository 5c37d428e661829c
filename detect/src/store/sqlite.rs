//! SQLite backend (the embedded default). Write transactions start with
//! `BEGIN IMMEDIATE`, taking the database's single write lock at once
//! (begun cancel-safely by joust-storage).

use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::Result;

pub struct SqliteDetectStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteDetectStore {
    /// Opens (creating the file and its directory if missing) and migrates.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::with_pool(joust_storage::sql::connect_sqlite(url).await?).await
    }

    /// Applies migrations to an opened pool.
    pub async fn with_pool(pool: SqlitePool) -> Result<Self> {
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(joust_storage::sql::begin_write_sqlite(&self.pool).await?)
    }
}

impl_detect_store!(SqliteDetectStore, Sqlite);
impl_job_store!(SqliteDetectStore, Sqlite, "");
impl_rule_store!(SqliteDetectStore, Sqlite);
impl_stats_store!(SqliteDetectStore, Sqlite);
impl_notification_store!(SqliteDetectStore, Sqlite, "");
