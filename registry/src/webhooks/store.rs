//! The delivery log: one row per (endpoint, event) in `webhook_deliveries`
//! (unique, so each event is queued once per endpoint however many
//! replicas tail the log) and one cursor per endpoint in
//! `webhook_cursors`. One SQL text for both backends (a macro per pool
//! type); PostgreSQL claims rows with `FOR UPDATE SKIP LOCKED`, SQLite
//! serialises writers with `BEGIN IMMEDIATE`. A claim is a lease: the
//! claiming replica moves the row's next attempt past its request timeout,
//! so no other replica sends it meanwhile, and a replica that dies
//! mid-attempt only delays the retry.

use joust_storage::Database;
use sqlx::{PgPool, SqlitePool};

use crate::error::Result;
use crate::store::rows::{EVENT_COLUMNS, EventRow};

use super::config::Endpoint;
use super::kinds;

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Queued or between attempts.
    Pending,
    /// A 2xx answer came.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub endpoint: String,
    pub event_id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
    pub last_http_status: i64,
    pub created_ms: i64,
    pub next_attempt_ms: i64,
    pub finished_ms: i64,
}

/// A row claimed for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub event_id: i64,
    pub kind: String,
    pub payload: String,
    /// Including this one.
    pub attempts: i64,
}

/// What `list` reads (newest first).
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// Only rows with an id below this (paging); 0: from the newest.
    pub before_id: i64,
    pub limit: u32,
}

/// How an attempt ended, as stored.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    pub status: DeliveryStatus,
    pub error: &'a str,
    pub http_status: u16,
    pub next_attempt_ms: i64,
    pub finished_ms: i64,
}

const DELIVERY_COLUMNS: &str = "id, endpoint, event_id, kind, status, attempts, last_error, last_http_status, created_ms, next_attempt_ms, finished_ms";

/// The delivery log on the registry's database; cheap to clone.
#[derive(Clone)]
pub struct WebhookStore {
    db: Db,
}

#[derive(Clone)]
enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl std::fmt::Debug for WebhookStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.db {
            Db::Postgres(_) => "WebhookStore(postgres)",
            Db::Sqlite(_) => "WebhookStore(sqlite)",
        })
    }
}

/// The operations over one pool type; `$lock` is appended to the rows a
/// transaction reads in order to update them, `$skip` to the rows a
/// claim takes.
macro_rules! ops {
    ($name:ident, $pool:ty, $begin:expr, $lock:literal, $skip:literal) => {
        mod $name {
            use super::*;

            pub(super) async fn init_cursor(pool: &$pool, endpoint: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO webhook_cursors (endpoint, last_event_id) \
                     SELECT $1, COALESCE(MAX(id), 0) FROM events WHERE true \
                     ON CONFLICT (endpoint) DO NOTHING",
                )
                .bind(endpoint)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn enqueue(
                pool: &$pool,
                endpoint: &Endpoint,
                batch: u32,
                now_ms: i64,
            ) -> Result<(u64, bool)> {
                let mut tx = $begin(pool).await?;
                let cursor: Option<i64> = sqlx::query_scalar(concat!(
                    "SELECT last_event_id FROM webhook_cursors WHERE endpoint = $1",
                    $lock
                ))
                .bind(&endpoint.name)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(cursor) = cursor else {
                    drop(tx);
                    init_cursor(pool, &endpoint.name).await?;
                    return Ok((0, true));
                };
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
                );
                let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(cursor)
                    .bind(i64::from(batch.max(1)))
                    .fetch_all(&mut *tx)
                    .await?;
                let more = rows.len() >= batch.max(1) as usize;
                let Some(last) = rows.last().map(|r| r.id) else {
                    tx.commit().await?;
                    return Ok((0, false));
                };
                let mut queued = 0;
                for row in rows {
                    let event: crate::domain::EventRecord = row.into();
                    let kind = kinds::of(&event);
                    if !endpoint.wants(kind, &event.kind) {
                        continue;
                    }
                    let done = sqlx::query(
                        "INSERT INTO webhook_deliveries \
                         (endpoint, event_id, kind, payload, status, created_ms, next_attempt_ms) \
                         VALUES ($1, $2, $3, $4, 'pending', $5, $5) \
                         ON CONFLICT (endpoint, event_id) DO NOTHING",
                    )
                    .bind(&endpoint.name)
                    .bind(crate::store::rows::i(event.id))
                    .bind(kind)
                    .bind(kinds::payload(&endpoint.name, &event))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    queued += done.rows_affected();
                }
                sqlx::query(
                    "UPDATE webhook_cursors SET last_event_id = $2 \
                     WHERE endpoint = $1 AND last_event_id < $2",
                )
                .bind(&endpoint.name)
                .bind(last)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((queued, more))
            }

            pub(super) async fn claim(
                pool: &$pool,
                endpoint: &str,
                now_ms: i64,
                lease_until_ms: i64,
                limit: u32,
            ) -> Result<Vec<Claimed>> {
                Ok(sqlx::query_as(concat!(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = $3 \
                     WHERE id IN (SELECT id FROM webhook_deliveries \
                     WHERE endpoint = $1 AND status = 'pending' AND next_attempt_ms <= $2 \
                     ORDER BY event_id LIMIT $4",
                    $skip,
                    ") RETURNING id, event_id, kind, payload, attempts"
                ))
                .bind(endpoint)
                .bind(now_ms)
                .bind(lease_until_ms)
                .bind(i64::from(limit.max(1)))
                .fetch_all(pool)
                .await?)
            }

            pub(super) async fn finish(pool: &$pool, id: i64, f: &Finish<'_>) -> Result<()> {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $2, last_error = $3, \
                     last_http_status = $4, next_attempt_ms = $5, finished_ms = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(f.status.as_str())
                .bind(f.error)
                .bind(i64::from(f.http_status))
                .bind(f.next_attempt_ms)
                .bind(f.finished_ms)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn pending(pool: &$pool, endpoint: &str) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint = $1 AND status = 'pending'",
                )
                .bind(endpoint)
                .fetch_one(pool)
                .await?)
            }

            pub(super) async fn list(pool: &$pool, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
                let sql = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                     WHERE ($1 = '' OR endpoint = $1) AND ($2 = '' OR status = $2) \
                     AND ($3 = 0 OR id < $3) ORDER BY id DESC LIMIT $4"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(f.endpoint.as_deref().unwrap_or(""))
                    .bind(f.status.map_or("", DeliveryStatus::as_str))
                    .bind(f.before_id)
                    .bind(i64::from(f.limit.clamp(1, 1000)))
                    .fetch_all(pool)
                    .await?)
            }
        }
    };
}

async fn begin_pg(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    Ok(joust_storage::sql::begin_write_postgres(pool, None).await?)
}

async fn begin_sqlite(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    Ok(joust_storage::sql::begin_write_sqlite(pool).await?)
}

ops!(
    pg,
    PgPool,
    begin_pg,
    " FOR UPDATE",
    " FOR UPDATE SKIP LOCKED"
);
ops!(lite, SqlitePool, begin_sqlite, "", "");

macro_rules! dispatch {
    ($self:ident, $f:ident($($arg:expr),*)) => {
        match &$self.db {
            Db::Postgres(p) => pg::$f(p, $($arg),*).await,
            Db::Sqlite(p) => lite::$f(p, $($arg),*).await,
        }
    };
}

impl WebhookStore {
    /// The delivery log on `db` (migrated by the registry's store).
    pub fn new(db: &Database) -> Self {
        Self {
            db: match db {
                Database::Postgres(p) => Db::Postgres(p.clone()),
                Database::Sqlite(p) => Db::Sqlite(p.clone()),
            },
        }
    }

    /// Starts `endpoint`'s cursor at the newest event when it has none (a
    /// new endpoint receives what happens from now on).
    pub async fn init_cursor(&self, endpoint: &str) -> Result<()> {
        dispatch!(self, init_cursor(endpoint))
    }

    /// Queues the deliveries of up to `batch` events after `endpoint`'s
    /// cursor and moves it; returns (rows queued, more events may follow).
    pub async fn enqueue(
        &self,
        endpoint: &Endpoint,
        batch: u32,
        now_ms: i64,
    ) -> Result<(u64, bool)> {
        dispatch!(self, enqueue(endpoint, batch, now_ms))
    }

    /// Claims up to `limit` due deliveries of `endpoint` (oldest event
    /// first) until `lease_until_ms`, counting the attempt.
    pub async fn claim(
        &self,
        endpoint: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        dispatch!(self, claim(endpoint, now_ms, lease_until_ms, limit))
    }

    /// Records how an attempt ended.
    pub async fn finish(&self, id: i64, finish: &Finish<'_>) -> Result<()> {
        dispatch!(self, finish(id, finish))
    }

    /// Deliveries of `endpoint` not yet delivered nor failed.
    pub async fn pending(&self, endpoint: &str) -> Result<i64> {
        dispatch!(self, pending(endpoint))
    }

    /// The delivery log, newest first.
    pub async fn list(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
        dispatch!(self, list(filter))
    }
}
