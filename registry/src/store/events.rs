//! The events aggregate: reading the append-only audit log (every other
//! aggregate appends to it inside its own transactions) and the hub that
//! announces new events to Watch.

use async_trait::async_trait;

use crate::domain::{EventFilter, EventRecord};
use crate::error::Result;
use crate::watch::EventHub;

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>>;
    /// A trivial query: `Ok` when the database answers (health).
    async fn ping(&self) -> Result<()>;
    /// Writes one `rollout_blocked` event for `model` `version` when it is
    /// the champion and none was written for it yet (writes are
    /// serialized, so several routers reporting write one). Returns
    /// (written, the champion).
    async fn record_rollout_blocked(
        &self,
        model: &str,
        version: u64,
        reason: &str,
        actor: &str,
    ) -> Result<(bool, Option<u64>)>;
    /// The hub that announces new events (for Watch).
    fn hub(&self) -> &EventHub;
}

/// Implements `EventStore` for `$store` (transactions on `$conn`).
macro_rules! impl_event_store {
    ($store:ty, $conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::EventStore for $store {
            async fn list_events(
                &self,
                filter: &$crate::domain::EventFilter,
            ) -> $crate::error::Result<Vec<$crate::domain::EventRecord>> {
                let mut conn = self.pool.acquire().await?;
                let limit = i64::from(filter.limit.max(1));
                let after = $crate::store::rows::i(filter.after_id);
                let cols = $crate::store::rows::EVENT_COLUMNS;
                let rows = if let [one] = filter.models.as_slice() {
                    let sql = format!("SELECT {cols} FROM events WHERE id > $1 AND model = $2 ORDER BY id LIMIT $3");
                    sqlx::query_as::<_, $crate::store::rows::EventRow>(sqlx::AssertSqlSafe(sql))
                        .bind(after)
                        .bind(one)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await?
                } else {
                    let sql = format!("SELECT {cols} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
                    let rows = sqlx::query_as::<_, $crate::store::rows::EventRow>(sqlx::AssertSqlSafe(sql))
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await?;
                    if filter.models.is_empty() {
                        rows
                    } else {
                        rows.into_iter().filter(|r| filter.models.contains(&r.model)).collect()
                    }
                };
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn ping(&self) -> $crate::error::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
            async fn record_rollout_blocked(
                &self,
                model: &str,
                version: u64,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<(bool, Option<u64>)> {
                use $crate::store::rows::{i, nonzero};
                let mut tx = self.begin_write().await?;
                let row = Self::model_row(&mut tx, model).await?;
                let champion = nonzero(row.champion_version);
                if champion != Some(version) {
                    return Ok((false, champion));
                }
                let seen: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM events WHERE model = $1 AND kind = 'rollout_blocked' AND version = $2 LIMIT 1",
                )
                .bind(model)
                .bind(i(version))
                .fetch_optional(&mut *tx)
                .await?;
                if seen.is_some() {
                    return Ok((false, champion));
                }
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some(version),
                    $crate::domain::event_kind::ROLLOUT_BLOCKED,
                    "champion",
                    "",
                    reason,
                )
                .await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok((true, champion))
            }


            fn hub(&self) -> &$crate::watch::EventHub {
                &self.hub
            }
        }
    };
}
