//! The notification outbox in the detection store (`detection_notifications`,
//! 0005): events written in the run's transaction (or alone for a queue
//! alert), claimed by the delivery loop (PostgreSQL with `FOR UPDATE SKIP
//! LOCKED`, SQLite under its write lock), and their outcome copied to the
//! anomalies they carry.

use async_trait::async_trait;

use crate::error::Result;

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, delivery_id, kind, run_id, body, status, attempts, \
     next_attempt_at_ms, http_status, last_error, created_at_ms, updated_at_ms";

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub delivery_id: String,
    /// `detect.anomalies` or `detect.queue_alert`.
    pub kind: String,
    pub run_id: Option<i64>,
    pub body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub http_status: i32,
    pub last_error: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Which notifications to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    pub status: Option<String>,
    pub run_id: Option<i64>,
    /// 0 = from the newest.
    pub before_id: i64,
    pub limit: u32,
}

/// How one attempt ended, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// `sent`, `failed`, or `pending` (retried at `next_attempt_at_ms`).
    pub status: &'static str,
    pub next_attempt_at_ms: i64,
    pub http_status: i32,
    pub error: String,
    pub at_ms: i64,
}

#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Writes a pending event (a queue alert; a run's event is written by
    /// the run's commit).
    async fn insert_notification(
        &self,
        delivery_id: &str,
        kind: &str,
        body: &str,
        at_ms: i64,
    ) -> Result<Notification>;
    /// Claims up to `limit` pending events due by `now_ms`: their next
    /// attempt moves to `lease_until_ms` (another claim skips them until
    /// then: a claimer that dies leaves them to be tried again) and their
    /// attempts count one more.
    async fn claim_notifications(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<Notification>>;
    /// Records the attempt's result; a final one (`sent`, `failed`) is
    /// copied to the notification state of the run's anomalies.
    async fn finish_attempt(&self, id: i64, result: &AttemptResult) -> Result<()>;
    async fn list_notifications(&self, filter: &NotificationFilter) -> Result<Vec<Notification>>;
}

/// Implements `NotificationStore` for `$store` over `$db`, `$lock` being
/// the claim's row lock clause.
macro_rules! impl_notification_store {
    ($store:ty, $db:ty, $lock:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::notify_sql::NotificationStore for $store {
            async fn insert_notification(
                &self,
                delivery_id: &str,
                kind: &str,
                body: &str,
                at_ms: i64,
            ) -> $crate::error::Result<$crate::store::notify_sql::Notification> {
                let sql = format!(
                    "INSERT INTO detection_notifications (delivery_id, kind, run_id, body, status,
                     next_attempt_at_ms, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, NULL, $3, 'pending', $4, $4, $4) RETURNING {}",
                    $crate::store::notify_sql::NOTIFICATION_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::store::notify_sql::Notification>(sqlx::AssertSqlSafe(sql))
                    .bind(delivery_id)
                    .bind(kind)
                    .bind(body)
                    .bind(at_ms)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn claim_notifications(
                &self,
                now_ms: i64,
                lease_until_ms: i64,
                limit: usize,
            ) -> $crate::error::Result<Vec<$crate::store::notify_sql::Notification>> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "UPDATE detection_notifications SET attempts = attempts + 1,
                     next_attempt_at_ms = $1, updated_at_ms = $2
                     WHERE id IN (SELECT id FROM detection_notifications
                         WHERE status = 'pending' AND next_attempt_at_ms <= $2
                         ORDER BY id LIMIT $3{})
                     RETURNING {}",
                    $lock,
                    $crate::store::notify_sql::NOTIFICATION_COLUMNS
                );
                let mut claimed =
                    sqlx::query_as::<_, $crate::store::notify_sql::Notification>(sqlx::AssertSqlSafe(sql))
                        .bind(lease_until_ms)
                        .bind(now_ms)
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                claimed.sort_by_key(|n| n.id);
                Ok(claimed)
            }

            async fn finish_attempt(
                &self,
                id: i64,
                result: &$crate::store::notify_sql::AttemptResult,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                let run_id: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE detection_notifications SET status = $1, next_attempt_at_ms = $2,
                     http_status = $3, last_error = $4, updated_at_ms = $5
                     WHERE id = $6 AND status = 'pending' RETURNING run_id",
                )
                .bind(result.status)
                .bind(result.next_attempt_at_ms)
                .bind(result.http_status)
                .bind(&result.error)
                .bind(result.at_ms)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if result.status != "pending"
                    && let Some(Some(run_id)) = run_id
                {
                    sqlx::query(
                        "UPDATE anomalies SET notification_state = $1
                         WHERE run_id = $2 AND notification_state = 'pending'",
                    )
                    .bind(result.status)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_notifications(
                &self,
                filter: &$crate::store::notify_sql::NotificationFilter,
            ) -> $crate::error::Result<Vec<$crate::store::notify_sql::Notification>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM detection_notifications WHERE 1 = 1",
                    $crate::store::notify_sql::NOTIFICATION_COLUMNS
                ));
                if let Some(s) = &filter.status {
                    qb.push(" AND status = ").push_bind(s.clone());
                }
                if let Some(r) = filter.run_id {
                    qb.push(" AND run_id = ").push_bind(r);
                }
                if filter.before_id > 0 {
                    qb.push(" AND id < ").push_bind(filter.before_id);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
                Ok(qb
                    .build_query_as::<$crate::store::notify_sql::Notification>()
                    .fetch_all(&self.pool)
                    .await?)
            }
        }
    };
}
