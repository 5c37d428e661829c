//! Champion/challenger trials: the transport-free domain API ([`Trials`]),
//! comparison records, their per-minute rollups (`rollup`, folded at
//! ingest; reports read them) and the trial report. `stats`, `sample`,
//! `rollup` and `report` are pure;
//! `store` persists (one SQL implementation for both backends, audit
//! events in the registry's `events` table so Watch subscribers see every
//! change); `grpc` is the thin `joust.v1.Trials` edge.

pub mod controller;
pub mod convert;
pub mod domain;
pub mod gates;
pub mod grpc;
pub mod ingest;
pub mod partitions;
pub mod periods;
pub mod plan_convert;
pub mod report;
pub mod retention;
pub mod rollout;
mod rollout_store;
pub mod rollup;
pub mod rollup_check;
mod rollup_store;
mod rows;
pub mod sample;
pub mod sequential;
pub mod stats;
pub mod store;
pub mod timeseries;

use std::sync::Arc;

pub use domain::{
    Arm, ArmResult, ComparisonRecord, Gates, Mode, NewTrial, Outcome, Period, Trial, TrialState,
    TrialUpdate,
};
pub use ingest::{Dropped, Loss, LossKind, Losses, Refusal, check_record};
pub use report::{Report, ReportBuilder, Verdict};
pub use store::TrialStore;
pub use timeseries::{TimeSeries, TimeSeriesBuilder};

use crate::error::{RegistryError, Result};
use crate::names::validate_name;

/// Most records accepted in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Longest record id or request id.
pub const MAX_ID_LEN: usize = 128;
/// Most rows (scores or labels) per arm of one record: as many as a node
/// accepts in one request by default (`joust serve --max-rows`), so a
/// request a node answers yields a record the registry stores.
pub const MAX_ROWS: usize = 10_000;
const MAX_TEXT: usize = 4096;

/// What one `record` call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Records stored.
    pub accepted: u64,
    /// Valid records already stored (retries).
    pub duplicates: u64,
    pub refusals: Vec<Refusal>,
}

/// The trials domain API: validates, then delegates to the store.
/// What a retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsPurged {
    /// Day partitions dropped whole (PostgreSQL), oldest first.
    pub partitions: Vec<String>,
    /// Records deleted row by row.
    pub records: u64,
}

#[derive(Clone)]
pub struct Trials {
    store: Arc<dyn TrialStore>,
    /// How long raw records are kept (`None`: forever).
    record_retention: Option<std::time::Duration>,
    /// The registry's metrics (store latency, records, report time).
    metrics: Arc<crate::metrics::RegistryMetrics>,
    /// How the rollout controller runs (`None`: it does not).
    controller: Option<controller::ControllerConfig>,
}

impl std::fmt::Debug for Trials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trials").finish_non_exhaustive()
    }
}

fn invalid(msg: String) -> RegistryError {
    RegistryError::InvalidArgument(msg)
}

fn check_share(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field}: expected a number in [0, 1], got {v}"
        )))
    }
}

fn check_text(field: &str, s: &str, max: usize) -> Result<()> {
    if s.len() > max {
        return Err(invalid(format!(
            "{field}: expected at most {max} bytes, got {}",
            s.len()
        )));
    }
    Ok(())
}

fn check_gates(g: &Gates) -> Result<()> {
    for (name, v) in [
        ("gates.max_anomaly_rate_delta", g.max_anomaly_rate_delta),
        ("gates.min_agreement", g.min_agreement),
        ("gates.max_error_rate", g.max_error_rate),
    ] {
        if let Some(v) = v {
            check_share(name, v)?;
        }
    }
    if let Some(v) = g.max_error_rate_delta
        && !(v.is_finite() && (-1.0..=1.0).contains(&v))
    {
        return Err(invalid(format!(
            "gates.max_error_rate_delta: expected a number in [-1, 1], got {v}"
        )));
    }
    for (name, v) in [
        ("gates.max_p99_latency_ratio", g.max_p99_latency_ratio),
        ("gates.max_psi", g.max_psi),
    ] {
        if let Some(r) = v
            && !(r.is_finite() && r > 0.0)
        {
            return Err(invalid(format!(
                "{name}: expected a positive number, got {r}"
            )));
        }
    }
    if !(g.confidence > 0.0 && g.confidence < 1.0) {
        return Err(invalid(format!(
            "gates.confidence: expected a number in (0, 1), e.g. 0.95, got {}",
            g.confidence
        )));
    }
    Ok(())
}

impl Trials {
    pub fn new(store: Arc<dyn TrialStore>) -> Self {
        Self {
            store,
            record_retention: None,
            metrics: Arc::new(crate::metrics::RegistryMetrics::new()),
            controller: None,
        }
    }

    /// Runs the rollout controller with `config` beside the server (see
    /// [`controller`]); `None` turns it off.
    pub fn with_controller(mut self, config: Option<controller::ControllerConfig>) -> Self {
        self.controller = config;
        self
    }

    pub fn controller(&self) -> Option<&controller::ControllerConfig> {
        self.controller.as_ref()
    }

    /// The rollback watch after a promotion, in ms (`None`: off).
    pub fn rollback_watch_ms(&self) -> Option<u64> {
        self.controller
            .as_ref()
            .and_then(|c| c.rollback_watch)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Counts into `metrics` (the registry's, so one `/metrics` shows both).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::RegistryMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Keeps raw records for `keep` (`None`: forever); see
    /// [`retention`].
    pub fn with_record_retention(mut self, keep: Option<std::time::Duration>) -> Self {
        self.record_retention = keep;
        self
    }

    pub fn record_retention(&self) -> Option<std::time::Duration> {
        self.record_retention
    }

    pub fn store(&self) -> &Arc<dyn TrialStore> {
        &self.store
    }

    pub async fn start(&self, new: NewTrial, actor: &str) -> Result<Trial> {
        validate_name("model", &new.model)?;
        if new.challenger_version == 0 {
            return Err(invalid(
                "challenger_version: expected a version number ≥ 1, got 0".to_owned(),
            ));
        }
        check_share("weight", new.weight)?;
        check_share("sampling", new.sampling)?;
        check_gates(&new.gates)?;
        check_text("reason", &new.reason, MAX_TEXT)?;
        let mut new = new;
        if let Some(plan) = &new.plan {
            plan.validate().map_err(invalid)?;
            // The trial runs the plan's first step.
            if let Some((mode, weight, sampling)) = plan.settings(0) {
                new.mode = mode;
                new.weight = weight;
                new.sampling = sampling;
            }
        }
        self.metrics
            .store_op("start_trial", self.store.start_trial(new, actor))
            .await
    }

    pub async fn update(&self, model: &str, update: TrialUpdate, actor: &str) -> Result<Trial> {
        validate_name("model", model)?;
        if let Some(w) = update.weight {
            check_share("weight", w)?;
        }
        if let Some(s) = update.sampling {
            check_share("sampling", s)?;
        }
        if let Some(g) = &update.gates {
            check_gates(g)?;
        }
        check_text("reason", &update.reason, MAX_TEXT)?;
        self.metrics
            .store_op(
                "update_trial",
                self.store.update_trial(model, update, actor),
            )
            .await
    }

    pub async fn stop(
        &self,
        model: &str,
        outcome: Outcome,
        reason: &str,
        actor: &str,
    ) -> Result<Trial> {
        validate_name("model", model)?;
        check_text("reason", reason, MAX_TEXT)?;
        if outcome == Outcome::Promote
            && let Some(ms) = self.rollback_watch_ms()
        {
            // A watched trial is not watched again (its promote is a
            // person's rollback).
            let open = self.store.current_trial(model).await?;
            let watched = self
                .store
                .trial_plan(open.id)
                .await?
                .is_some_and(|p| p.plan.watch);
            if !watched {
                return self
                    .metrics
                    .store_op(
                        "stop_trial",
                        self.store.promote_watched(model, reason, actor, ms),
                    )
                    .await;
            }
        }
        self.metrics
            .store_op(
                "stop_trial",
                self.store.stop_trial(model, outcome, reason, actor),
            )
            .await
    }

    /// Grants (`grant`) or denies the model's pending approval.
    pub async fn decide_approval(
        &self,
        model: &str,
        grant: bool,
        reason: &str,
        actor: &str,
    ) -> Result<Trial> {
        validate_name("model", model)?;
        check_text("reason", reason, MAX_TEXT)?;
        let op = if grant { "approve_trial" } else { "deny_trial" };
        self.metrics
            .store_op(op, self.store.decide_approval(model, grant, reason, actor))
            .await
    }

    /// The trial's plan and where it is, if it has one.
    pub async fn plan(&self, trial_id: u64) -> Result<Option<rollout::PlanState>> {
        self.metrics
            .store_op("trial_plan", self.store.trial_plan(trial_id))
            .await
    }

    /// A trial by id, else the model's open (or latest) trial.
    pub async fn find(&self, id: u64, model: &str) -> Result<Trial> {
        match (id, model) {
            (0, "") => Err(invalid(
                "expected a trial id or a model name, got neither".to_owned(),
            )),
            (0, model) => {
                validate_name("model", model)?;
                self.metrics
                    .store_op("current_trial", self.store.current_trial(model))
                    .await
            }
            (id, _) => {
                self.metrics
                    .store_op("get_trial", self.store.get_trial(id))
                    .await
            }
        }
    }

    pub async fn list(
        &self,
        model: Option<&str>,
        open_only: bool,
        after_id: u64,
        limit: u32,
    ) -> Result<Vec<Trial>> {
        if let Some(m) = model {
            validate_name("model", m)?;
        }
        let limit = if limit == 0 { 100 } else { limit.min(1000) };
        self.metrics
            .store_op(
                "list_trials",
                self.store.list_trials(model, open_only, after_id, limit),
            )
            .await
    }

    /// Stores the valid records of one message of a call (records
    /// `first_index..` of the call; conversion failures arrive as
    /// refusals), in one transaction with the counts of the refused
    /// records and of the records the sender reports `dropped`. One bad
    /// record never refuses the others.
    pub async fn record(
        &self,
        incoming: Vec<std::result::Result<ComparisonRecord, Refusal>>,
        dropped: Vec<Dropped>,
        first_index: u64,
    ) -> Result<Recorded> {
        if incoming.len() > MAX_BATCH {
            return Err(invalid(format!(
                "records: expected at most {MAX_BATCH} per message, got {}",
                incoming.len()
            )));
        }
        for (i, d) in dropped.iter().enumerate() {
            ingest::check_dropped(i, d).map_err(invalid)?;
        }
        let mut ids: Vec<u64> = incoming
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|r| r.trial_id))
            .chain(dropped.iter().map(|d| d.trial_id))
            .filter(|&id| id != 0)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let known = self
            .metrics
            .store_op("known_trials", self.store.known_trials(&ids))
            .await?;
        let plan = ingest::plan(incoming, dropped, &known, first_index);
        let accepted = self
            .metrics
            .store_op(
                "insert_records",
                self.store.insert_records(&plan.records, &plan.losses),
            )
            .await?;
        let duplicates = plan.records.len() as u64 - accepted;
        self.metrics
            .records(accepted, duplicates, plan.refusals.len() as u64);
        Ok(Recorded {
            accepted,
            duplicates,
            refusals: plan.refusals,
        })
    }

    /// The trial and its report from its rollups (trials started before
    /// rollups existed: from every stored record).
    pub async fn report(&self, id: u64, model: &str) -> Result<(Trial, Report)> {
        self.report_with(id, model, false).await
    }

    /// [`report`](Self::report) with the arms swapped (see
    /// [`ReportBuilder::swap_arms`]): how the controller judges a rollback
    /// watch.
    pub async fn report_reversed(&self, id: u64) -> Result<(Trial, Report)> {
        self.report_with(id, "", true).await
    }

    async fn report_with(&self, id: u64, model: &str, reversed: bool) -> Result<(Trial, Report)> {
        let started = std::time::Instant::now();
        let trial = self.find(id, model).await?;
        let mut builder = ReportBuilder::new();
        let end = trial.stopped_at.unwrap_or_else(chrono::Utc::now);
        builder.running_secs((end - trial.started_at).as_seconds_f64().max(0.0));
        builder.periods(
            self.metrics
                .store_op("trial_periods", self.store.trial_periods(trial.id))
                .await?,
        );
        if !self
            .metrics
            .store_op(
                "scan_rollups",
                self.store.scan_rollups(trial.id, &mut builder),
            )
            .await?
        {
            self.metrics
                .store_op(
                    "scan_records",
                    self.store.scan_records(trial.id, &mut builder),
                )
                .await?;
        }
        if reversed {
            builder.swap_arms();
        }
        let mut report = builder.finish(trial.mode, trial.weight, &trial.gates);
        report.losses = self
            .metrics
            .store_op("record_losses", self.store.record_losses(trial.id))
            .await?;
        self.metrics.report_took(started.elapsed());
        Ok((trial, report))
    }

    /// The trial and its report from every stored raw record (the
    /// reference the rollups are checked against; incomplete once
    /// retention has deleted records).
    pub async fn report_from_records(&self, id: u64, model: &str) -> Result<(Trial, Report)> {
        let trial = self.find(id, model).await?;
        let mut builder = ReportBuilder::new();
        let end = trial.stopped_at.unwrap_or_else(chrono::Utc::now);
        builder.running_secs((end - trial.started_at).as_seconds_f64().max(0.0));
        builder.periods(
            self.metrics
                .store_op("trial_periods", self.store.trial_periods(trial.id))
                .await?,
        );
        self.metrics
            .store_op(
                "scan_records",
                self.store.scan_records(trial.id, &mut builder),
            )
            .await?;
        let mut report = builder.finish(trial.mode, trial.weight, &trial.gates);
        report.losses = self
            .metrics
            .store_op("record_losses", self.store.record_losses(trial.id))
            .await?;
        Ok((trial, report))
    }

    /// Retention of raw records older than `before`, for the trials
    /// reported from rollups: on PostgreSQL first drops the day
    /// partitions that end by then (whole days, whatever their size), then
    /// deletes what remains older than `before` in batches of
    /// `RETENTION_BATCH` (10,000): the rest of the cutoff's day, the
    /// default partition, and SQLite's one table.
    pub async fn delete_records_before(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<RecordsPurged> {
        let partitions = self
            .metrics
            .store_op(
                "drop_record_partitions",
                self.store.drop_record_partitions_before(before),
            )
            .await?;
        let mut records = 0;
        loop {
            let n = self
                .metrics
                .store_op(
                    "delete_records_before",
                    self.store
                        .delete_records_before(before, rollup_store::RETENTION_BATCH),
                )
                .await?;
            records += n;
            if n < u64::from(rollup_store::RETENTION_BATCH) {
                return Ok(RecordsPurged {
                    partitions,
                    records,
                });
            }
        }
    }

    /// Creates the raw records' day partitions from yesterday to
    /// [`partitions::AHEAD_DAYS`] after `now` that are missing
    /// (PostgreSQL; nothing on SQLite); returns how many were created.
    pub async fn ensure_record_partitions(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32> {
        self.metrics
            .store_op(
                "ensure_record_partitions",
                self.store.ensure_record_partitions(now),
            )
            .await
    }

    /// Compacts the minute rollups that ended at least
    /// two minutes before `now` into each trial
    /// period's totals (what a report reads); returns how many minute rows
    /// were merged. Safe to run on every replica at once.
    pub async fn compact_rollups(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let before = rollup::minute(now) - rollup_store::COMPACT_AFTER_MINUTES;
        self.metrics
            .store_op("compact_rollups", self.store.compact_rollups(before))
            .await
    }

    /// Rebuilds from raw records the rollups of one stopped trial that
    /// started before rollups existed (migration 0006); its report then
    /// reads rollups and retention applies to its records. The trial and
    /// how many records were folded, or `None` when none is due.
    pub async fn backfill_rollups(&self) -> Result<Option<(u64, u64)>> {
        self.store.backfill_rollups().await
    }

    /// The trial's figures per time bucket of `bucket_seconds` (chosen
    /// from the trial's span when `None`): from the minute rollups when
    /// the buckets are whole minutes (complete after raw-record
    /// retention), else from the stored records.
    pub async fn time_series(
        &self,
        id: u64,
        model: &str,
        bucket_seconds: Option<u32>,
    ) -> Result<(Trial, TimeSeries)> {
        let (trial, mut builder) = self.series_builder(id, model, bucket_seconds).await?;
        if !(builder.from_minutes()
            && self
                .store
                .scan_rollups_bucketed(trial.id, &mut builder)
                .await?)
        {
            self.store
                .scan_records_bucketed(trial.id, &mut builder)
                .await?;
        }
        Ok((trial, builder.finish()))
    }

    /// [`time_series`](Self::time_series) from every stored raw record
    /// (the reference the rollup series is checked against).
    pub async fn time_series_from_records(
        &self,
        id: u64,
        model: &str,
        bucket_seconds: Option<u32>,
    ) -> Result<(Trial, TimeSeries)> {
        let (trial, mut builder) = self.series_builder(id, model, bucket_seconds).await?;
        self.store
            .scan_records_bucketed(trial.id, &mut builder)
            .await?;
        Ok((trial, builder.finish()))
    }

    async fn series_builder(
        &self,
        id: u64,
        model: &str,
        bucket_seconds: Option<u32>,
    ) -> Result<(Trial, TimeSeriesBuilder)> {
        let bucket = bucket_seconds.map(timeseries::check_bucket).transpose()?;
        let trial = self.find(id, model).await?;
        let bucket = bucket.unwrap_or_else(|| timeseries::auto_bucket(&trial, chrono::Utc::now()));
        let builder = TimeSeriesBuilder::new(bucket, trial.mode, trial.weight);
        Ok((trial, builder))
    }
}
