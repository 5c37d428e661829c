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

            fn hub(&self) -> &$crate::watch::EventHub {
                &self.hub
            }
        }
    };
}
