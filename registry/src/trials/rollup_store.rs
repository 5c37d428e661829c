//! Rollup persistence for both SQL backends (`impl_rollup_store!`): folds
//! newly stored records into `trial_rollups` inside the transaction that
//! stores them (insert, or on conflict lock the row, merge and update, so
//! every registry replica merges into one row per trial, period and
//! minute), reads a trial's rollups for the report, and deletes old raw
//! records in batches (retention).

use std::collections::BTreeMap;

/// Raw records deleted per retention statement.
pub const RETENTION_BATCH: u32 = 10_000;

/// PostgreSQL locks the rollup row it merges into; SQLite's one writer
/// already holds the database.
pub(crate) const PG_LOCK: &str = "FOR UPDATE";
pub(crate) const SQLITE_LOCK: &str = "";

/// Trials whose records arrived in one transaction, keyed for [`fold`](crate::trials::rollup::fold).
pub(crate) type PeriodsByTrial = BTreeMap<u64, Vec<crate::trials::domain::Period>>;

macro_rules! impl_rollup_store {
    ($store:ty, $conn:ty, $lock:expr) => {
        impl $store {
            /// Folds `records` (just inserted in the open transaction)
            /// into their rollup rows.
            pub(crate) async fn fold_rollups(
                conn: &mut $conn,
                records: &[&$crate::trials::domain::ComparisonRecord],
            ) -> $crate::error::Result<()> {
                use $crate::store::rows::i;
                use $crate::trials::rollup::{Rollup, fold};
                if records.is_empty() {
                    return Ok(());
                }
                let mut periods = $crate::trials::rollup_store::PeriodsByTrial::new();
                for r in records {
                    if periods.contains_key(&r.trial_id) {
                        continue;
                    }
                    let rows = sqlx::query_as::<_, $crate::trials::rows::PeriodRow>(
                        "SELECT period, started_at, mode, weight, sampling FROM trial_periods
                         WHERE trial_id = $1 ORDER BY period",
                    )
                    .bind(i(r.trial_id))
                    .fetch_all(&mut *conn)
                    .await?;
                    let ps = rows
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<$crate::error::Result<Vec<_>>>()?;
                    periods.insert(r.trial_id, ps);
                }
                for ((trial, period, minute), rollup) in fold(records.iter().copied(), &periods) {
                    let done = sqlx::query(
                        "INSERT INTO trial_rollups (trial_id, period, minute, state)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (trial_id, period, minute) DO NOTHING",
                    )
                    .bind(i(trial))
                    .bind(i64::from(period))
                    .bind(minute)
                    .bind(rollup.encode()?)
                    .execute(&mut *conn)
                    .await?;
                    if done.rows_affected() == 1 {
                        continue;
                    }
                    let sql = format!(
                        "SELECT state FROM trial_rollups
                         WHERE trial_id = $1 AND period = $2 AND minute = $3 {}",
                        $lock
                    );
                    let state: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(i(trial))
                        .bind(i64::from(period))
                        .bind(minute)
                        .fetch_one(&mut *conn)
                        .await?;
                    let mut merged = Rollup::decode(&state)?;
                    merged.merge(&rollup)?;
                    sqlx::query(
                        "UPDATE trial_rollups SET state = $4
                         WHERE trial_id = $1 AND period = $2 AND minute = $3",
                    )
                    .bind(i(trial))
                    .bind(i64::from(period))
                    .bind(minute)
                    .bind(merged.encode()?)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            /// Feeds a trial's rollups to `builder`; `false` (nothing fed)
            /// when the trial started before rollups existed.
            pub(crate) async fn scan_rollups_impl(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::report::ReportBuilder,
            ) -> $crate::error::Result<bool> {
                use futures::TryStreamExt;
                let first: i64 =
                    sqlx::query_scalar("SELECT first_trial_id FROM trial_rollups_from")
                        .fetch_one(&self.pool)
                        .await?;
                if $crate::store::rows::i(trial_id) < first {
                    return Ok(false);
                }
                let mut rows = sqlx::query_as::<_, (i64, Vec<u8>)>(
                    "SELECT CAST(period AS BIGINT), state FROM trial_rollups WHERE trial_id = $1",
                )
                .bind($crate::store::rows::i(trial_id))
                .fetch(&self.pool);
                while let Some((period, state)) = rows.try_next().await? {
                    let period = u32::try_from(period).map_err(|e| {
                        $crate::error::RegistryError::Corrupt(format!("stored rollup period: {e}"))
                    })?;
                    builder.add_rollup(period, &$crate::trials::rollup::Rollup::decode(&state)?)?;
                }
                Ok(true)
            }

            /// Deletes up to `batch` raw records older than `before` of
            /// trials reported from rollups; returns how many.
            pub(crate) async fn delete_records_before_impl(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                batch: u32,
            ) -> $crate::error::Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM trial_records WHERE record_id IN (
                       SELECT record_id FROM trial_records
                       WHERE at < $1
                         AND trial_id >= (SELECT first_trial_id FROM trial_rollups_from)
                       LIMIT $2)",
                )
                .bind(before)
                .bind(i64::from(batch))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

impl_rollup_store!(crate::store::PgStore, sqlx::PgConnection, PG_LOCK);
impl_rollup_store!(
    crate::store::SqliteStore,
    sqlx::SqliteConnection,
    SQLITE_LOCK
);
