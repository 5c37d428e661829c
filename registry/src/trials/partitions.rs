//! Day partitions of the raw comparison records (PostgreSQL; migration
//! 0009). `trial_records` is partitioned by range of `day` (the UTC day of
//! `at`, written by the ingest), one partition per day named
//! `trial_records_pYYYYMMDD`, and a default partition
//! for what no day covers. The registry keeps the partitions of yesterday
//! to [`AHEAD_DAYS`] after today in place (at start and at every upkeep
//! pass), so records land in their day; retention drops whole days whose
//! end is older than the cutoff, which costs the same at a thousand or a
//! billion records, instead of deleting rows.
//!
//! A day is dropped only when none of its records belongs to a trial that
//! is still reported from raw records (a trial from before rollups that
//! has not been backfilled): that day then waits, and the row-by-row
//! retention deletes the records it may delete. Several replicas may run
//! the upkeep at once: creation is serialized by a transaction-scoped
//! advisory lock, and a drop locks the partition before checking it.
//! SQLite keeps one table (embedded, one process) and has no partitions.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use crate::error::Result;
use crate::store::{PgStore, SqliteStore};

/// Days after today whose partitions exist ahead of their records.
pub const AHEAD_DAYS: i64 = 2;

/// The default partition (records outside every day partition).
pub const DEFAULT_PARTITION: &str = "trial_records_default";

/// Advisory lock key serializing partition creation across replicas
/// ("joust-pt").
const CREATE_LOCK: i64 = 0x6a6f_7573_742d_7074;

/// The names of the partitions of `trial_records` in the current schema.
const LIST_PARTITIONS: &str = "SELECT c.relname::text FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    JOIN pg_namespace n ON n.oid = p.relnamespace
    WHERE p.relname = 'trial_records' AND n.nspname = current_schema()";

/// The partition of `day`.
pub fn partition_name(day: NaiveDate) -> String {
    format!(
        "trial_records_p{:04}{:02}{:02}",
        day.year(),
        day.month(),
        day.day()
    )
}

/// The day of a partition named by [`partition_name`], `None` for any
/// other table (the default partition).
pub fn partition_day(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix("trial_records_p")?;
    if digits.len() != 8 {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// `day` as a PostgreSQL date literal.
fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// PostgreSQL's `lock_not_available` (SQLSTATE 55P03): `lock_timeout` hit.
fn is_lock_timeout(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}

impl PgStore {
    /// The names of the partitions of `trial_records`.
    async fn record_partitions(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(LIST_PARTITIONS)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Creates the missing day partitions from yesterday to
    /// [`AHEAD_DAYS`] after `now`'s day; rows of those days already in the
    /// default partition move into their day. Returns how many were
    /// created.
    pub(crate) async fn ensure_record_partitions_impl(&self, now: DateTime<Utc>) -> Result<u32> {
        let today = now.date_naive();
        let wanted: Vec<NaiveDate> = (-1..=AHEAD_DAYS)
            .map(|d| today + TimeDelta::days(d))
            .collect();
        let existing = self.record_partitions().await?;
        if wanted
            .iter()
            .all(|d| existing.contains(&partition_name(*d)))
        {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CREATE_LOCK)
            .execute(&mut *tx)
            .await?;
        // Under the lock: what another replica created meanwhile counts.
        let existing: Vec<String> = sqlx::query_scalar(LIST_PARTITIONS)
            .fetch_all(&mut *tx)
            .await?;
        let mut created = 0;
        for day in wanted {
            let name = partition_name(day);
            if existing.contains(&name) {
                continue;
            }
            let (from, to) = (date(day), date(day + TimeDelta::days(1)));
            // Rows of that day in the default partition would make
            // `PARTITION OF` fail: move them into a table that is then
            // attached as the day.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE {name} (LIKE trial_records INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH moved AS (
                   DELETE FROM {DEFAULT_PARTITION} WHERE day >= '{from}' AND day < '{to}' RETURNING *)
                 INSERT INTO {name} SELECT * FROM moved"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE trial_records ATTACH PARTITION {name} FOR VALUES FROM ('{from}') TO ('{to}')"
            )))
            .execute(&mut *tx)
            .await?;
            created += 1;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Drops the day partitions that end at or before `before` and hold
    /// no record of a trial reported from raw records; returns their
    /// names. A partition (or `trial_records`, which the drop locks for a
    /// moment) another statement holds longer than the 1 s lock timeout
    /// is left for the next pass.
    pub(crate) async fn drop_record_partitions_before_impl(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut due: Vec<(NaiveDate, String)> = self
            .record_partitions()
            .await?
            .into_iter()
            .filter_map(|name| partition_day(&name).map(|day| (day, name)))
            .filter(|(day, _)| {
                (*day + TimeDelta::days(1))
                    .and_hms_opt(0, 0, 0)
                    .is_some_and(|end| end.and_utc() <= before)
            })
            .collect();
        due.sort();
        let mut dropped = Vec::new();
        for (_, name) in due {
            let mut tx = self.pool.begin().await?;
            // The drop locks `trial_records` itself for a moment; ingest
            // waits behind it at most this long (then next pass).
            sqlx::query("SET LOCAL lock_timeout = '1s'")
                .execute(&mut *tx)
                .await?;
            match sqlx::query(sqlx::AssertSqlSafe(format!(
                "LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"
            )))
            .execute(&mut *tx)
            .await
            {
                Ok(_) => {}
                Err(error) if is_lock_timeout(&error) => {
                    tracing::debug!(%error, partition = %name, "partition busy; dropped at a later pass");
                    continue;
                }
                Err(error) => return Err(error.into()),
            }
            let raw_reader: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {name}
                   WHERE trial_id < (SELECT first_trial_id FROM trial_rollups_from)
                     AND trial_id NOT IN (SELECT trial_id FROM trial_rollups_backfilled))"
            )))
            .fetch_one(&mut *tx)
            .await?;
            if raw_reader {
                continue;
            }
            match sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
                .execute(&mut *tx)
                .await
            {
                Ok(_) => {}
                Err(error) if is_lock_timeout(&error) => {
                    tracing::debug!(%error, partition = %name, "trial_records busy; dropped at a later pass");
                    continue;
                }
                Err(error) => return Err(error.into()),
            }
            tx.commit().await?;
            dropped.push(name);
        }
        Ok(dropped)
    }
}

impl SqliteStore {
    /// SQLite has no partitions.
    pub(crate) async fn ensure_record_partitions_impl(&self, _now: DateTime<Utc>) -> Result<u32> {
        Ok(0)
    }

    /// SQLite has no partitions: retention deletes rows.
    pub(crate) async fn drop_record_partitions_before_impl(
        &self,
        _before: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_days_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap_or_default();
        assert_eq!(partition_name(day), "trial_records_p20260307");
        assert_eq!(partition_day("trial_records_p20260307"), Some(day));
        assert_eq!(partition_day(DEFAULT_PARTITION), None);
        assert_eq!(partition_day("trial_records_p2026030"), None);
        assert_eq!(partition_day("trial_records_p20261340"), None);
        assert_eq!(date(day), "2026-03-07");
    }
}
