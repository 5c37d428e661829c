//! SQLite backend (the embedded default). Write transactions start with
//! `BEGIN IMMEDIATE`, which takes the database's single write lock at once,
//! so writes are serialised and event ids follow commit order; new events
//! are announced in-process.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::error::{RegistryError, Result};
use crate::watch::EventHub;

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) hub: EventHub,
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) and migrates.
    pub async fn connect(url: &str) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    RegistryError::Config(format!(
                        "database URL {url:?}: cannot create directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // An in-memory database exists per connection: keep exactly one.
        let max = if in_memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
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
        // Opening a transaction is not cancel-safe in sqlx: a request
        // cancelled while its BEGIN is in flight would hand the connection
        // back to the pool inside an open transaction ("begin_with at
        // non-zero transaction depth" for the next writer). Beginning in a
        // task of its own means a cancelled caller only drops a finished
        // Transaction, which rolls back cleanly.
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
            .await
            .map_err(|e| RegistryError::Config(format!("opening a write transaction: {e}")))?
            .map_err(RegistryError::from)
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
