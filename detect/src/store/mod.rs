//! The detection store: one trait, two backends (PostgreSQL and SQLite)
//! sharing one SQL implementation (`sql.rs`), migrations embedded and
//! applied at open — the registry's pattern.

use std::sync::Arc;

use async_trait::async_trait;
use joust_models::features::Bar;

use crate::domain::{
    Anomaly, AnomalyFilter, NewAnomaly, Run, RunFilter, RunOutcome, SeriesMeta, Trigger,
};
use crate::error::Result;

#[macro_use]
mod sql;
#[macro_use]
pub mod jobs;
#[macro_use]
mod rules_sql;
#[macro_use]
mod stats_sql;
#[macro_use]
pub mod notify_sql;
mod postgres;
pub(crate) mod rows;
mod sqlite;

#[cfg(test)]
mod job_queue_tests;

pub use jobs::JobStore;

pub use notify_sql::NotificationStore;
pub use rules_sql::RuleStore;
pub use stats_sql::StatsStore;

pub use postgres::PgDetectStore;
pub use sqlite::SqliteDetectStore;

/// Rows per multi-row INSERT (at most 14 parameters each: within both
/// PostgreSQL's 65,535 and SQLite's 32,766 parameter limits).
pub const INSERT_CHUNK: usize = 1000;

/// Everything the detection service persists (the backfill job queue's
/// part is [`JobStore`]; rules, whitelist and evidence bookkeeping:
/// [`RuleStore`]; statistics: [`StatsStore`]).
#[async_trait]
pub trait DetectStore:
    JobStore + RuleStore + StatsStore + NotificationStore + Send + Sync + 'static
{
    /// Stores bars of one series (created if new), ignoring timestamps
    /// already stored. Returns how many were new.
    async fn insert_bars(&self, ticker: &str, interval: &str, bars: &[Bar]) -> Result<u64>;
    /// The series' detection metadata; `NotFound` for an unknown series.
    async fn series(&self, ticker: &str, interval: &str) -> Result<SeriesMeta>;
    /// Timestamp of the series' newest bar.
    async fn newest_bar(&self, series_id: i64) -> Result<Option<i64>>;
    /// The bars after `after` (all when `None`), preceded by up to
    /// `history` bars at or before it, in time order.
    async fn load_window(
        &self,
        series_id: i64,
        after: Option<i64>,
        history: usize,
    ) -> Result<Vec<Bar>>;
    /// Records a run `in_progress` started at `at_ms` (committed at once,
    /// so a run that fails later stays visible).
    async fn start_run(
        &self,
        trigger: Trigger,
        ticker: &str,
        interval: &str,
        model_name: &str,
        at_ms: i64,
    ) -> Result<Run>;
    /// In one transaction: stores the anomalies, moves the series'
    /// last detected bar from `series.last_detected_ts` to `detected_to`
    /// (`Aborted` if another run moved it meanwhile) and completes the run
    /// at `at_ms` (also the anomalies' creation time).
    async fn complete_run(
        &self,
        run_id: i64,
        series: &SeriesMeta,
        detected_to: Option<i64>,
        outcome: &RunOutcome,
        anomalies: &[NewAnomaly],
        at_ms: i64,
    ) -> Result<(Run, Vec<Anomaly>)>;
    /// Marks a run failed with `error` at `at_ms` if it is still in
    /// progress (a finished run is left as it is). Returns the run.
    async fn fail_run(&self, run_id: i64, error: &str, at_ms: i64) -> Result<Run>;
    async fn get_run(&self, id: i64) -> Result<Run>;
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>>;
    async fn list_anomalies(&self, filter: &AnomalyFilter) -> Result<Vec<Anomaly>>;
    async fn get_anomaly(&self, id: i64) -> Result<Anomaly>;
    /// Up to `count` bars ending at `ts` (inclusive), in time order.
    async fn bars_until(&self, series_id: i64, ts: i64, count: usize) -> Result<Vec<Bar>>;
    /// Deletes finished runs completed before `before_ms`, whatever they
    /// found (their anomalies stay, with a copy of what they need from the
    /// run). Returns how many.
    async fn purge_runs(&self, before_ms: i64) -> Result<u64>;
    /// Deletes anomalies (and their rule matches) created before
    /// `before_ms`. Returns how many.
    async fn purge_anomalies(&self, before_ms: i64) -> Result<u64>;
    /// Closes as failed with `error` at `at_ms` the runs still in progress
    /// that started before `started_before_ms`, except those of an active
    /// backfill job (its lease decides). Returns how many.
    async fn fail_stale_runs(&self, started_before_ms: i64, error: &str, at_ms: i64)
    -> Result<u64>;
    /// A trivial query (`SELECT 1`): whether the database answers (health).
    async fn ping(&self) -> Result<()>;
}

/// Opens the store named by a database URL (`postgres://…` or
/// `sqlite://PATH`), applying migrations.
pub async fn open(url: &str) -> Result<Arc<dyn DetectStore>> {
    Ok(match joust_storage::open(url).await? {
        joust_storage::Database::Postgres(pool) => Arc::new(PgDetectStore::with_pool(pool).await?),
        joust_storage::Database::Sqlite(pool) => {
            Arc::new(SqliteDetectStore::with_pool(pool).await?)
        }
    })
}
