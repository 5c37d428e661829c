//! SQLite backend (the embedded default). Write transactions start with
//! `BEGIN IMMEDIATE`, which takes the database's single write lock at once,
//! so writes are serialised and event ids follow commit order; new events
//! are announced in-process.

use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::error::Result;
use crate::watch::EventHub;

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) hub: EventHub,
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) and migrates.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::with_pool(joust_storage::sql::connect_sqlite(url).await?).await
    }

    /// Applies migrations to an opened pool.
    pub async fn with_pool(pool: SqlitePool) -> Result<Self> {
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let hub = EventHub::new();
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events")
            .fetch_one(&pool)
            .await?;
        hub.publish(last.unwrap_or(0));
        Ok(Self { pool, hub })
    }

    /// The connection pool (trials and other services share it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        // Cancel-safe: a cancelled request never leaves the pooled
        // connection inside an open transaction (joust_storage::sql).
        Ok(joust_storage::sql::begin_write_sqlite(&self.pool).await?)
    }

    pub(crate) async fn notify_in_tx(_conn: &mut SqliteConnection, _id: i64) -> Result<()> {
        // Announced after commit by the caller (in-process hub).
        Ok(())
    }
}

impl_sql_helpers!(SqliteStore, SqliteConnection);
impl_model_store!(SqliteStore, SqliteConnection);
impl_version_store!(SqliteStore, SqliteConnection);
impl_lifecycle_store!(SqliteStore, SqliteConnection, "");
impl_alias_store!(SqliteStore, SqliteConnection);
impl_event_store!(SqliteStore, SqliteConnection);
impl_dataset_store!(SqliteStore, SqliteConnection);
