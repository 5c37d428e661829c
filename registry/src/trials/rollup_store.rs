//! Rollup persistence for both SQL backends (`impl_rollup_store!`): folds
//! newly stored records into `trial_rollups` inside the transaction that
//! stores them (insert, or on conflict lock the row, merge and update, so
//! every registry replica merges into one row per trial, period and
//! minute), compacts minute rows into one `trial_rollup_totals` row per
//! trial and period (so a report reads that row and the last few minutes,
//! whatever the trial's age), reads them for the report, and deletes old
//! raw records in batches (retention).
//!
//! Locking (PostgreSQL): an ingest locks each (trial, period) totals row
//! it touches, in key order, before that group's minute rows; compaction
//! locks the totals row, then reads the minute rows. Either the ingest
//! commits first (the compaction, waiting on the lock, then reads its
//! minute rows) or it sees the new `through_minute` and merges its late
//! records into the totals too. A record is counted once either way.

use std::collections::BTreeMap;

/// Minutes a minute rollup stays uncompacted after it ends (records of
/// the current minute keep arriving; later ones are merged either way).
pub const COMPACT_AFTER_MINUTES: i64 = 2;

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
            /// A trial's periods, oldest first.
            pub(crate) async fn periods_of(
                conn: &mut $conn,
                trial: u64,
            ) -> $crate::error::Result<Vec<$crate::trials::domain::Period>> {
                sqlx::query_as::<_, $crate::trials::rows::PeriodRow>(
                    "SELECT period, started_at, mode, weight, sampling FROM trial_periods
                     WHERE trial_id = $1 ORDER BY period",
                )
                .bind($crate::store::rows::i(trial))
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            /// The (trial, period) totals row, created empty when missing.
            async fn ensure_totals(
                conn: &mut $conn,
                trial: u64,
                period: u32,
            ) -> $crate::error::Result<()> {
                sqlx::query(
                    "INSERT INTO trial_rollup_totals (trial_id, period, through_minute, state)
                     VALUES ($1, $2, 0, NULL)
                     ON CONFLICT (trial_id, period) DO NOTHING",
                )
                .bind($crate::store::rows::i(trial))
                .bind(i64::from(period))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

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
                    let ps = Self::periods_of(&mut *conn, r.trial_id).await?;
                    periods.insert(r.trial_id, ps);
                }
                // Grouped by (trial, period), in key order: that group's
                // totals row is locked first, then its minute rows.
                let folded = fold(records.iter().copied(), &periods);
                let mut groups: Vec<((u64, u32), Vec<(i64, Rollup)>)> = Vec::new();
                for ((trial, period, minute), rollup) in folded {
                    match groups.last_mut() {
                        Some((key, v)) if *key == (trial, period) => v.push((minute, rollup)),
                        _ => groups.push(((trial, period), vec![(minute, rollup)])),
                    }
                }
                for ((trial, period), minutes) in groups {
                    Self::ensure_totals(&mut *conn, trial, period).await?;
                    let sql = format!(
                        "SELECT through_minute FROM trial_rollup_totals
                         WHERE trial_id = $1 AND period = $2 {}",
                        $lock
                    );
                    let through: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(i(trial))
                        .bind(i64::from(period))
                        .fetch_one(&mut *conn)
                        .await?;
                    // Records of minutes already compacted (late ones) go
                    // into the totals as well as their minute rows.
                    let mut late: Option<Rollup> = None;
                    for (minute, rollup) in minutes {
                        if minute < through {
                            match &mut late {
                                Some(l) => l.merge(&rollup)?,
                                None => late = Some(rollup.clone()),
                            }
                        }
                        Self::merge_minute(&mut *conn, trial, period, minute, &rollup).await?;
                    }
                    if let Some(late) = late {
                        let state: Option<Vec<u8>> = sqlx::query_scalar(
                            "SELECT state FROM trial_rollup_totals WHERE trial_id = $1 AND period = $2",
                        )
                        .bind(i(trial))
                        .bind(i64::from(period))
                        .fetch_one(&mut *conn)
                        .await?;
                        let mut merged = match state {
                            Some(s) => Rollup::decode(&s)?,
                            None => Rollup::default(),
                        };
                        merged.merge(&late)?;
                        sqlx::query(
                            "UPDATE trial_rollup_totals SET state = $3 WHERE trial_id = $1 AND period = $2",
                        )
                        .bind(i(trial))
                        .bind(i64::from(period))
                        .bind(merged.encode()?)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                Ok(())
            }

            /// Merges `rollup` into its minute row (inserted, or locked,
            /// merged and updated).
            async fn merge_minute(
                conn: &mut $conn,
                trial: u64,
                period: u32,
                minute: i64,
                rollup: &$crate::trials::rollup::Rollup,
            ) -> $crate::error::Result<()> {
                use $crate::store::rows::i;
                use $crate::trials::rollup::Rollup;
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
                    return Ok(());
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
                merged.merge(rollup)?;
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
                Ok(())
            }

            /// Merges every minute row before `before` not yet compacted
            /// into its (trial, period) totals row, one transaction per
            /// totals row (locked first, so a concurrent ingest either
            /// sees the new `through_minute` or is seen by this merge);
            /// returns how many minute rows were merged.
            pub(crate) async fn compact_rollups_impl(
                &self,
                before: i64,
            ) -> $crate::error::Result<u64> {
                use $crate::trials::rollup::Rollup;
                let due: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT t.trial_id, CAST(t.period AS BIGINT) FROM trial_rollup_totals t
                     WHERE t.through_minute < $1 AND EXISTS (
                       SELECT 1 FROM trial_rollups r
                       WHERE r.trial_id = t.trial_id AND r.period = t.period
                         AND r.minute >= t.through_minute AND r.minute < $1)
                     ORDER BY t.trial_id, t.period",
                )
                .bind(before)
                .fetch_all(&self.pool)
                .await?;
                let mut merged_rows = 0;
                for (trial, period) in due {
                    let mut tx = self.begin_records().await?;
                    let sql = format!(
                        "SELECT through_minute, state FROM trial_rollup_totals
                         WHERE trial_id = $1 AND period = $2 {}",
                        $lock
                    );
                    let (through, state): (i64, Option<Vec<u8>>) =
                        sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(trial)
                            .bind(period)
                            .fetch_one(&mut *tx)
                            .await?;
                    if through >= before {
                        continue;
                    }
                    let mut totals = match state {
                        Some(s) => Rollup::decode(&s)?,
                        None => Rollup::default(),
                    };
                    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
                        "SELECT state FROM trial_rollups
                         WHERE trial_id = $1 AND period = $2 AND minute >= $3 AND minute < $4",
                    )
                    .bind(trial)
                    .bind(period)
                    .bind(through)
                    .bind(before)
                    .fetch_all(&mut *tx)
                    .await?;
                    for row in &rows {
                        totals.merge(&Rollup::decode(row)?)?;
                    }
                    sqlx::query(
                        "UPDATE trial_rollup_totals SET through_minute = $3, state = $4
                         WHERE trial_id = $1 AND period = $2",
                    )
                    .bind(trial)
                    .bind(period)
                    .bind(before)
                    .bind(totals.encode()?)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    merged_rows += rows.len() as u64;
                }
                Ok(merged_rows)
            }

            /// Feeds a trial's rollups to `builder`; `false` (nothing fed)
            /// when the trial started before rollups existed.
            pub(crate) async fn scan_rollups_impl(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::report::ReportBuilder,
            ) -> $crate::error::Result<bool> {
                use futures::TryStreamExt;
                if !self.reads_rollups(trial_id).await? {
                    return Ok(false);
                }
                // The compacted totals, then the minute rows after them.
                let mut rows = sqlx::query_as::<_, (i64, Vec<u8>)>(
                    "SELECT CAST(period AS BIGINT), state FROM trial_rollup_totals
                     WHERE trial_id = $1 AND state IS NOT NULL
                     UNION ALL
                     SELECT CAST(r.period AS BIGINT), r.state FROM trial_rollups r
                     JOIN trial_rollup_totals t ON t.trial_id = r.trial_id AND t.period = r.period
                     WHERE r.trial_id = $1 AND r.minute >= t.through_minute",
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

            /// Feeds a trial's minute rollups, oldest first, to `builder`;
            /// `false` when the trial started before rollups existed.
            pub(crate) async fn scan_rollups_bucketed_impl(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::timeseries::TimeSeriesBuilder,
            ) -> $crate::error::Result<bool> {
                use futures::TryStreamExt;
                if !self.reads_rollups(trial_id).await? {
                    return Ok(false);
                }
                let mut rows = sqlx::query_as::<_, (i64, i64, Vec<u8>)>(
                    "SELECT minute, CAST(period AS BIGINT), state FROM trial_rollups
                     WHERE trial_id = $1 ORDER BY minute, period",
                )
                .bind($crate::store::rows::i(trial_id))
                .fetch(&self.pool);
                while let Some((minute, period, state)) = rows.try_next().await? {
                    let period = u32::try_from(period).map_err(|e| {
                        $crate::error::RegistryError::Corrupt(format!("stored rollup period: {e}"))
                    })?;
                    builder.add_rollup(minute, period, &$crate::trials::rollup::Rollup::decode(&state)?)?;
                }
                Ok(true)
            }

            /// Whether the trial is reported from rollups (it started
            /// after they existed, or its rollups were backfilled).
            async fn reads_rollups(&self, trial_id: u64) -> $crate::error::Result<bool> {
                let id = $crate::store::rows::i(trial_id);
                let first: i64 =
                    sqlx::query_scalar("SELECT first_trial_id FROM trial_rollups_from")
                        .fetch_one(&self.pool)
                        .await?;
                if id >= first {
                    return Ok(true);
                }
                let backfilled: Option<i64> = sqlx::query_scalar(
                    "SELECT trial_id FROM trial_rollups_backfilled WHERE trial_id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(backfilled.is_some())
            }

            /// Rebuilds the rollups of the oldest stopped trial that
            /// started before rollups existed and is not backfilled yet,
            /// from its raw records, in one transaction that first locks
            /// the trial's row (a record insert's foreign-key check shares
            /// that lock, so none lands meanwhile). Its minute rows replace
            /// any folded since the migration; its totals start empty (the
            /// next compaction merges them). Returns the trial and how many
            /// records were folded; `None` when none is due.
            pub(crate) async fn backfill_rollups_impl(
                &self,
            ) -> $crate::error::Result<Option<(u64, u64)>> {
                use futures::TryStreamExt;
                use $crate::store::rows::i;
                use $crate::trials::rollup::{Rollup, minute, period_of};
                let due: Option<i64> = sqlx::query_scalar(
                    "SELECT t.id FROM trials t
                     WHERE t.state = 'stopped'
                       AND t.id < (SELECT first_trial_id FROM trial_rollups_from)
                       AND NOT EXISTS (SELECT 1 FROM trial_rollups_backfilled b WHERE b.trial_id = t.id)
                     ORDER BY t.id LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                let Some(id) = due else {
                    return Ok(None);
                };
                let mut tx = self.begin_records().await?;
                let sql = format!("SELECT id FROM trials WHERE id = $1 {}", $lock);
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let trial = $crate::store::rows::u(id);
                let periods = Self::periods_of(&mut *tx, trial).await?;
                let mut folded: std::collections::BTreeMap<(u32, i64), Rollup> =
                    std::collections::BTreeMap::new();
                let mut records = 0u64;
                {
                    let sql = format!(
                        "SELECT {} FROM trial_records WHERE trial_id = $1",
                        $crate::trials::rows::RECORD_COLUMNS
                    );
                    let mut rows =
                        sqlx::query_as::<_, $crate::trials::rows::RecordRow>(sqlx::AssertSqlSafe(sql))
                            .bind(id)
                            .fetch(&mut *tx);
                    while let Some(row) = rows.try_next().await? {
                        let r: $crate::trials::domain::ComparisonRecord = row.try_into()?;
                        folded
                            .entry((period_of(&periods, r.time), minute(r.time)))
                            .or_default()
                            .add(&r);
                        records += 1;
                    }
                }
                for table in ["trial_rollup_totals", "trial_rollups"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE trial_id = $1"
                    )))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                for ((period, m), rollup) in &folded {
                    Self::ensure_totals(&mut *tx, trial, *period).await?;
                    Self::merge_minute(&mut *tx, trial, *period, *m, rollup).await?;
                }
                sqlx::query("INSERT INTO trial_rollups_backfilled (trial_id, records) VALUES ($1, $2)")
                    .bind(id)
                    .bind(i(records))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some((trial, records)))
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
                         AND (trial_id >= (SELECT first_trial_id FROM trial_rollups_from)
                              OR trial_id IN (SELECT trial_id FROM trial_rollups_backfilled))
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
