//! PostgreSQL backend. Every write transaction takes one advisory lock so
//! that event ids are assigned in commit order (a Watch reader that has
//! seen id N can never later find an id below N appear), and notifies
//! `joust_events` so that every registry replica on the same database
//! wakes its Watch subscribers (LISTEN/NOTIFY).

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::error::Result;
use crate::watch::EventHub;

/// Key of the advisory lock that serialises registry writes.
const WRITE_LOCK: i64 = 0x006a_6f75_7374; // "joust"
/// The LISTEN/NOTIFY channel carrying new event ids.
pub const CHANNEL: &str = "joust_events";

pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) hub: EventHub,
    /// The LISTEN task stops once this store is dropped.
    _alive: Arc<()>,
}

impl PgStore {
    /// Connects, applies migrations and starts the LISTEN task.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::with_pool(joust_storage::sql::connect_postgres(url).await?).await
    }

    /// Applies migrations to an opened pool and starts the LISTEN task.
    pub async fn with_pool(pool: PgPool) -> Result<Self> {
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let hub = EventHub::new();
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events")
            .fetch_one(&pool)
            .await?;
        hub.publish(max.unwrap_or(0));
        let alive = Arc::new(());
        tokio::spawn(listen(pool.clone(), hub.clone(), Arc::downgrade(&alive)));
        Ok(Self {
            pool,
            hub,
            _alive: alive,
        })
    }

    /// The connection pool (trials and other services share it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        // Cancel-safe: a cancelled request never leaves a pooled
        // connection inside an open transaction (joust_storage::sql).
        Ok(joust_storage::sql::begin_write_postgres(&self.pool, Some(WRITE_LOCK)).await?)
    }

    pub(crate) async fn notify_in_tx(conn: &mut PgConnection, id: i64) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(id.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Forwards notifications to the hub for as long as the hub has a sender;
/// reconnects with backoff and, after a reconnect, re-reads the newest id
/// so nothing announced while disconnected is missed.
async fn listen(pool: PgPool, hub: EventHub, alive: Weak<()>) {
    let retry = joust_runtime::Retry::jittered(Duration::from_millis(100), Duration::from_secs(5));
    let mut failures = 0;
    while alive.strong_count() > 0 {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(error) => {
                tracing::warn!(%error, "LISTEN connection failed; retrying");
                failures += 1;
                tokio::time::sleep(retry.after(failures)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(%error, "LISTEN failed; retrying");
            tokio::time::sleep(retry.after(failures)).await;
            continue;
        }
        failures = 0;
        if let Ok(Some(max)) = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM events")
            .fetch_one(&pool)
            .await
        {
            hub.publish(max);
        }
        loop {
            let received =
                match tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await {
                    Ok(r) => r,
                    Err(_elapsed) => {
                        if alive.strong_count() == 0 {
                            return;
                        }
                        continue;
                    }
                };
            match received {
                Ok(Some(n)) => {
                    if let Ok(id) = n.payload().parse::<i64>() {
                        hub.publish(id);
                    }
                }
                Ok(None) => {
                    tracing::warn!("LISTEN connection lost; reconnecting");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "LISTEN receive failed; reconnecting");
                    break;
                }
            }
            if alive.strong_count() == 0 {
                return;
            }
        }
    }
}

impl_sql_helpers!(PgStore, PgConnection);
impl_model_store!(PgStore, PgConnection);
impl_version_store!(PgStore, PgConnection);
impl_lifecycle_store!(PgStore, PgConnection, " FOR UPDATE");
impl_alias_store!(PgStore, PgConnection);
impl_event_store!(PgStore, PgConnection);
impl_dataset_store!(PgStore, PgConnection);
