//! Row types as the database returns them, and their conversion to the
//! domain (both backends decode the same column types).

use crate::domain::{Anomaly, Run, RunStatus, SeriesMeta, Trigger};
use crate::error::{DetectError, Result};

pub(crate) const SERIES_COLUMNS: &str =
    "id, ticker, bar_interval, last_detected_ts, detected_from_ts, model_version";
pub(crate) const RUN_COLUMNS: &str = "id, run_trigger, ticker, bar_interval, model_name, model_version, model_sha256, \
     started_at_ms, completed_at_ms, rows_loaded, rows_preprocessed, rows_scored, anomalies_found, \
     status, error, warnings";
pub(crate) const ANOMALY_COLUMNS: &str = "id, ticker, bar_interval, ts, close, volume, features, score, label, \
     model_name, model_version, model_sha256, run_id, created_at_ms";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SeriesRow {
    id: i64,
    ticker: String,
    bar_interval: String,
    last_detected_ts: Option<i64>,
    detected_from_ts: Option<i64>,
    model_version: String,
}

impl From<SeriesRow> for SeriesMeta {
    fn from(r: SeriesRow) -> Self {
        SeriesMeta {
            id: r.id,
            ticker: r.ticker,
            interval: r.bar_interval,
            last_detected_ts: r.last_detected_ts,
            detected_from_ts: r.detected_from_ts,
            model_version: r.model_version,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BarRow {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl From<BarRow> for joust_models::features::Bar {
    fn from(r: BarRow) -> Self {
        Self {
            timestamp: r.ts,
            open: r.open,
            high: r.high,
            low: r.low,
            close: r.close,
            volume: r.volume,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RunRow {
    id: i64,
    run_trigger: String,
    ticker: String,
    bar_interval: String,
    model_name: String,
    model_version: String,
    model_sha256: String,
    started_at_ms: i64,
    completed_at_ms: Option<i64>,
    rows_loaded: i64,
    rows_preprocessed: i64,
    rows_scored: i64,
    anomalies_found: i64,
    status: String,
    error: String,
    warnings: String,
}

impl TryFrom<RunRow> for Run {
    type Error = DetectError;

    fn try_from(r: RunRow) -> Result<Self> {
        let warnings: Vec<String> = serde_json::from_str(&r.warnings).map_err(|e| {
            DetectError::Corrupt(format!("detection_runs.warnings of run {}: {e}", r.id))
        })?;
        Ok(Run {
            id: r.id,
            trigger: Trigger::parse(&r.run_trigger)?,
            ticker: r.ticker,
            interval: r.bar_interval,
            model_name: r.model_name,
            model_version: r.model_version,
            model_sha256: r.model_sha256,
            started_at_ms: r.started_at_ms,
            completed_at_ms: r.completed_at_ms,
            rows_loaded: u(r.rows_loaded),
            rows_preprocessed: u(r.rows_preprocessed),
            rows_scored: u(r.rows_scored),
            anomalies_found: u(r.anomalies_found),
            status: RunStatus::parse(&r.status)?,
            error: r.error,
            warnings,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AnomalyRow {
    id: i64,
    ticker: String,
    bar_interval: String,
    ts: i64,
    close: f64,
    volume: f64,
    features: String,
    score: f64,
    label: bool,
    model_name: String,
    model_version: String,
    model_sha256: String,
    run_id: i64,
    created_at_ms: i64,
}

impl TryFrom<AnomalyRow> for Anomaly {
    type Error = DetectError;

    fn try_from(r: AnomalyRow) -> Result<Self> {
        let features: Vec<f32> = serde_json::from_str(&r.features).map_err(|e| {
            DetectError::Corrupt(format!("anomalies.features of anomaly {}: {e}", r.id))
        })?;
        Ok(Anomaly {
            id: r.id,
            ticker: r.ticker,
            interval: r.bar_interval,
            timestamp: r.ts,
            close: r.close,
            volume: r.volume,
            features,
            score: r.score as f32,
            label: r.label,
            model_name: r.model_name,
            model_version: r.model_version,
            model_sha256: r.model_sha256,
            run_id: r.run_id,
            created_at_ms: r.created_at_ms,
        })
    }
}

/// A stored count as u64 (never negative).
pub(crate) fn u(v: i64) -> u64 {
    v.max(0) as u64
}

/// A count as the i64 the databases store.
pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Features as stored: a JSON array (f32 printed shortest round-trip).
pub(crate) fn features_json(values: &[f32]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}
