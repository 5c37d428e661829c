//! Champion/challenger trials: the transport-free domain API ([`Trials`]),
//! comparison records and the trial report. `stats` and `report` are pure;
//! `store` persists (one SQL implementation for both backends, audit
//! events in the registry's `events` table so Watch subscribers see every
//! change); `grpc` is the thin `joust.v1.Trials` edge.

pub mod convert;
pub mod domain;
pub mod grpc;
pub mod report;
mod rows;
pub mod stats;
pub mod store;
pub mod timeseries;

use std::sync::Arc;

pub use domain::{
    Arm, ArmResult, ComparisonRecord, Gates, Mode, NewTrial, Outcome, Trial, TrialState,
    TrialUpdate,
};
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

/// The trials domain API: validates, then delegates to the store.
#[derive(Clone)]
pub struct Trials {
    store: Arc<dyn TrialStore>,
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
    if let Some(r) = g.max_p99_latency_ratio
        && !(r.is_finite() && r > 0.0)
    {
        return Err(invalid(format!(
            "gates.max_p99_latency_ratio: expected a positive number, got {r}"
        )));
    }
    Ok(())
}

fn check_arm(field: &str, a: &ArmResult) -> Result<()> {
    if a.scores.len() > MAX_ROWS || a.labels.len() > MAX_ROWS {
        return Err(invalid(format!(
            "{field}: expected at most {MAX_ROWS} rows, got {}",
            a.scores.len().max(a.labels.len())
        )));
    }
    // Either output may be absent (a request asking only for `score`, or
    // only for `label`); when both are present they pair up row by row.
    if a.ok() && !a.scores.is_empty() && !a.labels.is_empty() && a.scores.len() != a.labels.len() {
        return Err(invalid(format!(
            "{field}: expected one label per score, got {} scores and {} labels",
            a.scores.len(),
            a.labels.len()
        )));
    }
    if let Some(s) = a.scores.iter().find(|s| !s.is_finite()) {
        return Err(invalid(format!(
            "{field}.scores: expected finite numbers, got {s}"
        )));
    }
    Ok(())
}

/// Validates one comparison record (index `i` of its batch).
pub fn check_record(i: usize, r: &ComparisonRecord) -> Result<()> {
    if r.record_id.is_empty() || r.record_id.len() > MAX_ID_LEN {
        return Err(invalid(format!(
            "records[{i}].record_id: expected 1 to {MAX_ID_LEN} bytes, got {}",
            r.record_id.len()
        )));
    }
    check_text(
        &format!("records[{i}].request_id"),
        &r.request_id,
        MAX_ID_LEN,
    )?;
    if r.trial_id == 0 {
        return Err(invalid(format!(
            "records[{i}].trial_id: expected a trial id, got 0"
        )));
    }
    let served = match r.served {
        Arm::Champion => r.champion.as_ref(),
        Arm::Challenger => r.challenger.as_ref(),
    };
    if served.is_none() {
        return Err(invalid(format!(
            "records[{i}]: served by the {} but has no {} result",
            r.served, r.served
        )));
    }
    if let Some(a) = &r.champion {
        check_arm(&format!("records[{i}].champion"), a)?;
    }
    if let Some(a) = &r.challenger {
        check_arm(&format!("records[{i}].challenger"), a)?;
    }
    Ok(())
}

impl Trials {
    pub fn new(store: Arc<dyn TrialStore>) -> Self {
        Self { store }
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
        self.store.start_trial(new, actor).await
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
        self.store.update_trial(model, update, actor).await
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
        self.store.stop_trial(model, outcome, reason, actor).await
    }

    /// A trial by id, else the model's open (or latest) trial.
    pub async fn find(&self, id: u64, model: &str) -> Result<Trial> {
        match (id, model) {
            (0, "") => Err(invalid(
                "expected a trial id or a model name, got neither".to_owned(),
            )),
            (0, model) => {
                validate_name("model", model)?;
                self.store.current_trial(model).await
            }
            (id, _) => self.store.get_trial(id).await,
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
        self.store
            .list_trials(model, open_only, after_id, limit)
            .await
    }

    /// Stores a batch; returns (accepted, duplicates).
    pub async fn record(&self, records: &[ComparisonRecord]) -> Result<(u64, u64)> {
        if records.len() > MAX_BATCH {
            return Err(invalid(format!(
                "records: expected at most {MAX_BATCH} per message, got {}",
                records.len()
            )));
        }
        for (i, r) in records.iter().enumerate() {
            check_record(i, r)?;
        }
        let accepted = self.store.insert_records(records).await?;
        Ok((accepted, records.len() as u64 - accepted))
    }

    /// The trial and its report from every stored record.
    pub async fn report(&self, id: u64, model: &str) -> Result<(Trial, Report)> {
        let trial = self.find(id, model).await?;
        let mut builder = ReportBuilder::new();
        self.store.scan_records(trial.id, &mut builder).await?;
        let report = builder.finish(trial.mode, trial.weight, &trial.gates);
        Ok((trial, report))
    }

    /// The trial's figures per time bucket of `bucket_seconds` (chosen
    /// from the trial's span when `None`), from every stored record.
    pub async fn time_series(
        &self,
        id: u64,
        model: &str,
        bucket_seconds: Option<u32>,
    ) -> Result<(Trial, TimeSeries)> {
        let bucket = bucket_seconds.map(timeseries::check_bucket).transpose()?;
        let trial = self.find(id, model).await?;
        let bucket = bucket.unwrap_or_else(|| timeseries::auto_bucket(&trial, chrono::Utc::now()));
        let mut builder = TimeSeriesBuilder::new(bucket, trial.mode, trial.weight);
        self.store
            .scan_records_bucketed(trial.id, &mut builder)
            .await?;
        Ok((trial, builder.finish()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod record_tests {
    use super::*;

    fn record(scores: usize, labels: usize) -> ComparisonRecord {
        let arm = ArmResult {
            version: 1,
            scores: vec![0.5; scores],
            labels: vec![false; labels],
            latency_us: 10,
            status_code: 0,
        };
        ComparisonRecord {
            record_id: "r-1".into(),
            trial_id: 7,
            request_id: String::new(),
            time: chrono::Utc::now(),
            routing_key_hash: 0,
            served: Arm::Champion,
            champion: Some(arm.clone()),
            challenger: Some(arm),
        }
    }

    #[test]
    fn the_largest_node_request_and_a_score_only_request_yield_valid_records() {
        assert!(check_record(0, &record(10_000, 10_000)).is_ok());
        assert!(check_record(0, &record(4, 0)).is_ok(), "score only");
        assert!(check_record(0, &record(0, 4)).is_ok(), "label only");
        let e = check_record(0, &record(10_001, 10_001))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected at most 10000 rows, got 10001"), "{e}");
        let e = check_record(0, &record(3, 2)).unwrap_err().to_string();
        assert!(e.contains("expected one label per score"), "{e}");
    }
}
