//! One way to open a SQL pool from a database URL (`postgres://…`,
//! `postgresql://…`, `sqlite://PATH`, `sqlite::memory:`) and to start
//! write transactions on it.
//!
//! Opening a transaction is not cancel-safe in sqlx: a request cancelled
//! while its `BEGIN` is in flight would hand the connection back to the
//! pool inside an open transaction ("begin_with at non-zero transaction
//! depth" for the next writer). The `begin_write_*` functions begin in a
//! task of their own, so a cancelled caller only ever drops a finished
//! [`Transaction`], which rolls back cleanly.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::{Result, StorageError};

/// An opened pool of either backend. Migrations are the caller's: each
/// role owns its schema.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Opens the pool a database URL names: `postgres://…` (or
/// `postgresql://…`) or `sqlite://PATH` / `sqlite::memory:` (the file and
/// its directory are created if missing).
pub async fn open(url: &str) -> Result<Database> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Database::Postgres(connect_postgres(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Database::Sqlite(connect_sqlite(url).await?))
    } else {
        Err(StorageError::Config(format!(
            "database URL {:?}: expected postgres://… or sqlite://PATH",
            joust_security::redact_url(url)
        )))
    }
}

/// A PostgreSQL pool: 16 connections, 10 s to acquire one.
pub async fn connect_postgres(url: &str) -> Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?)
}

/// A SQLite pool in WAL mode with foreign keys on and a 30 s busy
/// timeout: 8 connections to a file, exactly one to an in-memory database
/// (which exists per connection).
pub async fn connect_sqlite(url: &str) -> Result<SqlitePool> {
    let in_memory = is_in_memory(url);
    if !in_memory {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Config(format!(
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
    Ok(SqlitePoolOptions::new()
        .max_connections(if in_memory { 1 } else { 8 })
        .min_connections(if in_memory { 1 } else { 0 })
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?)
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Begins a PostgreSQL transaction and, with `lock`, takes that
/// transaction-scoped advisory lock (`pg_advisory_xact_lock`) before
/// returning: writers holding the same key are serialised. Cancel-safe
/// (see the module documentation).
pub async fn begin_write_postgres(
    pool: &PgPool,
    lock: Option<i64>,
) -> Result<Transaction<'static, Postgres>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut tx = pool.begin().await?;
        if let Some(key) = lock {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        Ok::<_, sqlx::Error>(tx)
    })
    .await
    .map_err(|e| StorageError::Internal(format!("opening a write transaction: {e}")))?
    .map_err(StorageError::from)
}

/// Begins a SQLite transaction with `BEGIN IMMEDIATE`, which takes the
/// database's single write lock at once (writes are serialised, and a
/// reader never has to upgrade into a deadlock). Cancel-safe (see the
/// module documentation).
pub async fn begin_write_sqlite(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
        .await
        .map_err(|e| StorageError::Internal(format!("opening a write transaction: {e}")))?
        .map_err(StorageError::from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn unknown_schemes_name_the_url_and_what_is_expected() {
        let e = open("mysql://u:secret@h/db").await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, StorageError::Config(_)), "{e:?}");
        assert!(text.contains("database URL"), "{text}");
        assert!(
            text.contains("expected postgres://… or sqlite://PATH"),
            "{text}"
        );
        assert!(!text.contains("secret"), "the password is redacted: {text}");
    }

    #[tokio::test]
    async fn sqlite_files_get_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/store.db");
        let url = format!("sqlite://{}", path.display());
        let Database::Sqlite(pool) = open(&url).await.unwrap() else {
            panic!("expected a SQLite pool for {url}");
        };
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        assert!(path.exists());
    }

    /// A second writer waits for the write lock; cancelled while it
    /// waits, it leaves the pool usable: once the lock is free, every
    /// connection still begins, writes and commits.
    #[tokio::test]
    async fn writers_wait_for_the_lock_and_may_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        let holder = begin_write_sqlite(&pool).await.unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(200), begin_write_sqlite(&pool)).await;
        assert!(waited.is_err(), "the second writer waits for the lock");
        holder.commit().await.unwrap();
        // Give a BEGIN that was still in flight time to finish.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for x in 0..4 {
            let mut tx = begin_write_sqlite(&pool).await.unwrap();
            sqlx::query("INSERT INTO t (x) VALUES ($1)")
                .bind(x)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 4);
    }
}
