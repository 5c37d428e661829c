//! Trial and comparison-record rows shared by both SQL backends, and their
//! conversion to and from domain values.

use chrono::{DateTime, Utc};

use crate::error::{RegistryError, Result};
use crate::store::rows::{i, u};
use crate::trials::domain::{Arm, ArmResult, ComparisonRecord, Gates, Trial};

pub(crate) const TRIAL_COLUMNS: &str = "id, model, champion_version, challenger_version, mode,
    weight, sampling, sticky, gates, state, outcome, started_at, updated_at, stopped_at,
    started_by, reason";

pub(crate) const RECORD_COLUMNS: &str = "record_id, trial_id, request_id, at, routing_key_hash,
    served, champion_version, champion_scores, champion_labels, champion_latency_us,
    champion_status, challenger_version, challenger_scores, challenger_labels,
    challenger_latency_us, challenger_status";

/// Columns per record row in a multi-row INSERT.
pub(crate) const RECORD_ARITY: usize = 16;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TrialRow {
    pub id: i64,
    pub model: String,
    pub champion_version: i64,
    pub challenger_version: i64,
    pub mode: String,
    pub weight: f64,
    pub sampling: f64,
    pub sticky: bool,
    pub gates: String,
    pub state: String,
    pub outcome: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub started_by: String,
    pub reason: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PeriodRow {
    pub period: i32,
    pub started_at: DateTime<Utc>,
    pub mode: String,
    pub weight: f64,
    pub sampling: f64,
}

impl TryFrom<PeriodRow> for crate::trials::domain::Period {
    type Error = RegistryError;
    fn try_from(r: PeriodRow) -> Result<Self> {
        Ok(crate::trials::domain::Period {
            period: u32::try_from(r.period).map_err(|e| corrupt("period number", e))?,
            started_at: r.started_at,
            mode: r.mode.parse().map_err(|e| corrupt("period mode", e))?,
            weight: r.weight,
            sampling: r.sampling,
        })
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Corrupt(format!("stored {what}: {e}"))
}

impl TryFrom<TrialRow> for Trial {
    type Error = RegistryError;
    fn try_from(r: TrialRow) -> Result<Self> {
        Ok(Trial {
            id: u(r.id),
            model: r.model,
            champion_version: u(r.champion_version),
            challenger_version: u(r.challenger_version),
            mode: r.mode.parse().map_err(|e| corrupt("trial mode", e))?,
            weight: r.weight,
            sampling: r.sampling,
            sticky: r.sticky,
            gates: serde_json::from_str::<Gates>(&r.gates).map_err(|e| corrupt("gates", e))?,
            state: r.state.parse().map_err(|e| corrupt("trial state", e))?,
            outcome: if r.outcome.is_empty() {
                None
            } else {
                Some(r.outcome.parse().map_err(|e| corrupt("outcome", e))?)
            },
            started_at: r.started_at,
            updated_at: r.updated_at,
            stopped_at: r.stopped_at,
            started_by: r.started_by,
            reason: r.reason,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecordRow {
    pub record_id: String,
    pub trial_id: i64,
    pub request_id: String,
    pub at: DateTime<Utc>,
    pub routing_key_hash: i64,
    pub served: String,
    pub champion_version: Option<i64>,
    pub champion_scores: Option<String>,
    pub champion_labels: Option<String>,
    pub champion_latency_us: Option<i64>,
    pub champion_status: Option<i32>,
    pub challenger_version: Option<i64>,
    pub challenger_scores: Option<String>,
    pub challenger_labels: Option<String>,
    pub challenger_latency_us: Option<i64>,
    pub challenger_status: Option<i32>,
}

/// A record row with its time bucket (see `TrialStore::scan_records_bucketed`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BucketedRecordRow {
    #[sqlx(flatten)]
    pub record: RecordRow,
    pub bucket: i64,
}

/// One arm as stored: version, scores (JSON), labels ('0'/'1'), latency,
/// status.
pub(crate) type ArmColumns = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i32>,
);

pub(crate) fn arm_columns(a: Option<&ArmResult>) -> Result<ArmColumns> {
    let Some(a) = a else {
        return Ok((None, None, None, None, None));
    };
    let scores = serde_json::to_string(&a.scores).map_err(|e| {
        RegistryError::InvalidArgument(format!("scores: expected finite numbers ({e})"))
    })?;
    let labels: String = a
        .labels
        .iter()
        .map(|&l| if l { '1' } else { '0' })
        .collect();
    Ok((
        Some(i(a.version)),
        Some(scores),
        Some(labels),
        Some(i(a.latency_us)),
        Some(a.status_code),
    ))
}

fn arm_from(c: ArmColumns) -> Result<Option<ArmResult>> {
    let (Some(version), scores, labels, latency, status) = c else {
        return Ok(None);
    };
    let scores: Vec<f64> = match scores {
        Some(s) => serde_json::from_str(&s).map_err(|e| corrupt("scores", e))?,
        None => Vec::new(),
    };
    Ok(Some(ArmResult {
        version: u(version),
        scores,
        labels: labels
            .unwrap_or_default()
            .chars()
            .map(|c| c == '1')
            .collect(),
        latency_us: u(latency.unwrap_or(0)),
        status_code: status.unwrap_or(0),
    }))
}

/// The routing-key hash is a u64 stored bit for bit in a signed BIGINT.
pub(crate) fn hash_to_db(h: u64) -> i64 {
    i64::from_ne_bytes(h.to_ne_bytes())
}

fn hash_from_db(h: i64) -> u64 {
    u64::from_ne_bytes(h.to_ne_bytes())
}

impl TryFrom<RecordRow> for ComparisonRecord {
    type Error = RegistryError;
    fn try_from(r: RecordRow) -> Result<Self> {
        Ok(ComparisonRecord {
            record_id: r.record_id,
            trial_id: u(r.trial_id),
            request_id: r.request_id,
            time: r.at,
            routing_key_hash: hash_from_db(r.routing_key_hash),
            served: r.served.parse::<Arm>().map_err(|e| corrupt("arm", e))?,
            champion: arm_from((
                r.champion_version,
                r.champion_scores,
                r.champion_labels,
                r.champion_latency_us,
                r.champion_status,
            ))?,
            challenger: arm_from((
                r.challenger_version,
                r.challenger_scores,
                r.challenger_labels,
                r.challenger_latency_us,
                r.challenger_status,
            ))?,
        })
    }
}
