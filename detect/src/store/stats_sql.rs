//! Statistics over anomalies and runs: one trait, one SQL implementation
//! shared by PostgreSQL and SQLite (like `sql.rs`).

use async_trait::async_trait;

use crate::domain::{Stats, StatsFilter};
use crate::error::Result;

#[async_trait]
pub trait StatsStore: Send + Sync + 'static {
    /// Anomalies by ticker, matched type, whitelist status and bar day;
    /// runs by status, trigger and start day (keys sorted).
    async fn stats(&self, filter: &StatsFilter) -> Result<Stats>;
}

/// Implements `StatsStore` for `$store` over database `$db`.
macro_rules! impl_stats_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// ` AND …` conditions of `filter`: ticker, and `time_column`
            /// (in seconds × `time_scale`) within `from`..=`to`.
            fn push_stats_filter(
                qb: &mut sqlx::QueryBuilder<$db>,
                filter: &$crate::domain::StatsFilter,
                time_column: &str,
                time_scale: i64,
            ) {
                if let Some(t) = &filter.ticker {
                    qb.push(" AND ticker = ").push_bind(t.clone());
                }
                if let Some(from) = filter.from {
                    qb.push(format!(" AND {time_column} >= "))
                        .push_bind(from.saturating_mul(time_scale));
                }
                if let Some(to) = filter.to {
                    qb.push(format!(" AND {time_column} <= "))
                        .push_bind(to.saturating_add(1).saturating_mul(time_scale) - 1);
                }
            }

            /// `(key, count)` rows of a `SELECT key, COUNT(*) … WHERE 1 = 1`
            /// prefix with the stats filter, grouped and ordered by key.
            async fn count_by<K>(
                conn: &mut <$db as sqlx::Database>::Connection,
                select: &str,
                filter: &$crate::domain::StatsFilter,
                time_column: &str,
                time_scale: i64,
            ) -> $crate::error::Result<Vec<(K, u64)>>
            where
                K: Send + Unpin + for<'r> sqlx::Decode<'r, $db> + sqlx::Type<$db>,
            {
                let mut qb = sqlx::QueryBuilder::<$db>::new(select);
                Self::push_stats_filter(&mut qb, filter, time_column, time_scale);
                qb.push(" GROUP BY 1 ORDER BY 1");
                Ok(qb
                    .build_query_as::<(K, i64)>()
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(|(k, n)| (k, $crate::store::rows::u(n)))
                    .collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::StatsStore for $store {
            async fn stats(
                &self,
                filter: &$crate::domain::StatsFilter,
            ) -> $crate::error::Result<$crate::domain::Stats> {
                let mut conn = self.pool.acquire().await?;
                // Anomalies are filtered on the bar time (seconds), runs on
                // their start (milliseconds).
                let (bar, run) = (("ts", 1), ("started_at_ms", 1000));
                let by_ticker: Vec<(String, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT ticker, COUNT(*) FROM anomalies WHERE 1 = 1",
                    filter,
                    bar.0,
                    bar.1,
                )
                .await?;
                let by_day: Vec<(i64, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT (ts - ((ts % 86400) + 86400) % 86400) / 86400, COUNT(*) FROM anomalies WHERE 1 = 1",
                    filter,
                    bar.0,
                    bar.1,
                )
                .await?;
                let by_type: Vec<(String, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT m.anomaly_type, COUNT(*) FROM anomaly_matches m \
                     JOIN anomalies ON anomalies.id = m.anomaly_id WHERE 1 = 1",
                    filter,
                    bar.0,
                    bar.1,
                )
                .await?;
                let by_whitelist: Vec<(bool, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT whitelisted, COUNT(*) FROM anomalies WHERE 1 = 1",
                    filter,
                    bar.0,
                    bar.1,
                )
                .await?;
                let by_status: Vec<(String, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT status, COUNT(*) FROM detection_runs WHERE 1 = 1",
                    filter,
                    run.0,
                    run.1,
                )
                .await?;
                let by_trigger: Vec<(String, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT run_trigger, COUNT(*) FROM detection_runs WHERE 1 = 1",
                    filter,
                    run.0,
                    run.1,
                )
                .await?;
                let runs_by_day: Vec<(i64, u64)> = Self::count_by(
                    &mut conn,
                    "SELECT (started_at_ms - ((started_at_ms % 86400000) + 86400000) % 86400000) / 86400000, \
                     COUNT(*) FROM detection_runs WHERE 1 = 1",
                    filter,
                    run.0,
                    run.1,
                )
                .await?;
                let whitelist_key = |w: bool| if w { "whitelisted" } else { "not_whitelisted" };
                let mut by_whitelist: Vec<(String, u64)> = by_whitelist
                    .into_iter()
                    .map(|(w, n)| (whitelist_key(w).to_owned(), n))
                    .collect();
                by_whitelist.sort();
                Ok($crate::domain::Stats {
                    total_anomalies: by_ticker.iter().map(|(_, n)| *n).sum(),
                    anomalies_by_ticker: by_ticker,
                    anomalies_by_day: by_day,
                    runs_by_status: by_status,
                    anomalies_by_type: by_type,
                    anomalies_by_whitelist: by_whitelist,
                    runs_by_trigger: by_trigger,
                    runs_by_day,
                })
            }

        }
    };
}
