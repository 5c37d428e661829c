//! SQLite backend (the embedded default). Write transactions start with
//! `BEGIN IMMEDIATE`, taking the database's single write lock at once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::{DetectError, Result};

pub struct SqliteDetectStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteDetectStore {
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
                    DetectError::Config(format!(
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
        Ok(Self { pool })
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_detect_store!(SqliteDetectStore, Sqlite);
impl_job_store!(SqliteDetectStore, Sqlite, "");
impl_rule_store!(SqliteDetectStore, Sqlite);
impl_stats_store!(SqliteDetectStore, Sqlite);
