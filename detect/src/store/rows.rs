//! Row types as the database returns them, and their conversion to the
//! domain (both backends decode the same column types).

use crate::domain::{Anomaly, Run, RunStatus, SeriesMeta, Trigger, VerifiedResult};
use crate::error::{DetectError, Result};
use crate::rules::{AnomalyType, Operator, Rule, RuleMatch, WhitelistEntry};

pub(crate) const SERIES_COLUMNS: &str =
    "id, ticker, bar_interval, last_detected_ts, detected_from_ts, model_version";
pub(crate) const RUN_COLUMNS: &str = "id, run_trigger, ticker, bar_interval, model_name, model_version, model_sha256, \
     started_at_ms, completed_at_ms, rows_loaded, rows_preprocessed, rows_scored, anomalies_found, \
     status, error, warnings, rules_applied, whitelist_entries, anomalies_whitelisted, evidence_uri, \
     verification";
pub(crate) const ANOMALY_COLUMNS: &str = "id, ticker, bar_interval, ts, close, volume, features, score, label, \
     model_name, model_version, model_sha256, run_id, created_at_ms, whitelisted, run_trigger, \
     run_started_at_ms, evidence_uri, notification_state";
pub(crate) const RULE_COLUMNS: &str =
    "anomaly_type, operator, threshold, enabled, description, updated_at_ms";
pub(crate) const WHITELIST_COLUMNS: &str =
    "ticker, bar_interval, reason, created_by, created_at_ms";
pub(crate) const MATCH_COLUMNS: &str = "anomaly_id, anomaly_type, measured, operator, threshold";

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
    rules_applied: String,
    whitelist_entries: i64,
    anomalies_whitelisted: i64,
    evidence_uri: String,
    verification: String,
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
            rules_applied: rules_from_json(r.id, &r.rules_applied)?,
            whitelist_entries: u(r.whitelist_entries),
            anomalies_whitelisted: u(r.anomalies_whitelisted),
            evidence_uri: r.evidence_uri,
            verification: verification_from_json(r.id, &r.verification)?,
            anomaly_ids: Vec::new(),
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
    whitelisted: bool,
    run_trigger: String,
    run_started_at_ms: i64,
    evidence_uri: String,
    notification_state: String,
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
            matches: Vec::new(),
            whitelisted: r.whitelisted,
            run_trigger: Trigger::parse(&r.run_trigger)?,
            run_started_at_ms: r.run_started_at_ms,
            evidence_uri: r.evidence_uri,
            notification_state: r.notification_state,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RuleRow {
    anomaly_type: String,
    operator: String,
    threshold: f64,
    enabled: bool,
    description: String,
    updated_at_ms: i64,
}

impl TryFrom<RuleRow> for Rule {
    type Error = DetectError;

    fn try_from(r: RuleRow) -> Result<Self> {
        Ok(Rule {
            anomaly_type: stored_type("detection_rules.anomaly_type", &r.anomaly_type)?,
            operator: stored_operator("detection_rules.operator", &r.operator)?,
            threshold: r.threshold,
            enabled: r.enabled,
            description: r.description,
            updated_at_ms: r.updated_at_ms,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WhitelistRow {
    ticker: String,
    bar_interval: String,
    reason: String,
    created_by: String,
    created_at_ms: i64,
}

impl From<WhitelistRow> for WhitelistEntry {
    fn from(r: WhitelistRow) -> Self {
        WhitelistEntry {
            ticker: r.ticker,
            interval: r.bar_interval,
            reason: r.reason,
            created_by: r.created_by,
            created_at_ms: r.created_at_ms,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MatchRow {
    pub anomaly_id: i64,
    anomaly_type: String,
    measured: f64,
    operator: String,
    threshold: f64,
}

impl TryFrom<MatchRow> for RuleMatch {
    type Error = DetectError;

    fn try_from(r: MatchRow) -> Result<Self> {
        Ok(RuleMatch {
            anomaly_type: stored_type("anomaly_matches.anomaly_type", &r.anomaly_type)?,
            value: r.measured,
            operator: stored_operator("anomaly_matches.operator", &r.operator)?,
            threshold: r.threshold,
        })
    }
}

/// Attaches `rows` (matches of some of `anomalies`, any order) to their
/// anomalies, each anomaly's matches sorted by type.
pub(crate) fn attach_matches(anomalies: &mut [Anomaly], rows: Vec<MatchRow>) -> Result<()> {
    let index: std::collections::HashMap<i64, usize> = anomalies
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id, i))
        .collect();
    for row in rows {
        if let Some(&i) = index.get(&row.anomaly_id) {
            anomalies[i].matches.push(row.try_into()?);
        }
    }
    for a in anomalies {
        a.matches.sort_by_key(|m| m.anomaly_type);
    }
    Ok(())
}

fn stored_type(column: &str, text: &str) -> Result<AnomalyType> {
    AnomalyType::parse(column, text).map_err(|e| DetectError::Corrupt(e.to_string()))
}

fn stored_operator(column: &str, text: &str) -> Result<Operator> {
    Operator::parse(column, text).map_err(|e| DetectError::Corrupt(e.to_string()))
}

/// A rule as stored in `detection_runs.rules_applied`.
#[derive(serde::Serialize, serde::Deserialize)]
struct RuleJson {
    anomaly_type: String,
    operator: String,
    threshold: f64,
    enabled: bool,
    description: String,
    updated_at_ms: i64,
}

/// Rules as the JSON array `detection_runs.rules_applied` stores.
pub(crate) fn rules_json(rules: &[Rule]) -> String {
    let rows: Vec<RuleJson> = rules
        .iter()
        .map(|r| RuleJson {
            anomaly_type: r.anomaly_type.as_str().to_owned(),
            operator: r.operator.as_str().to_owned(),
            threshold: r.threshold,
            enabled: r.enabled,
            description: r.description.clone(),
            updated_at_ms: r.updated_at_ms,
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

/// A rule match inside `detection_runs.verification`.
#[derive(serde::Serialize, serde::Deserialize)]
struct MatchJson {
    anomaly_type: String,
    value: f64,
    operator: String,
    threshold: f64,
}

/// `detection_runs.verification`.
#[derive(serde::Serialize, serde::Deserialize)]
struct VerificationJson {
    anomaly_id: i64,
    score: f32,
    label: bool,
    features: Vec<f32>,
    matches: Vec<MatchJson>,
}

/// A verification result as stored ("" for none).
pub(crate) fn verification_json(v: Option<&VerifiedResult>) -> String {
    let Some(v) = v else {
        return String::new();
    };
    let doc = VerificationJson {
        anomaly_id: v.anomaly_id,
        score: v.score,
        label: v.label,
        features: v.features.clone(),
        matches: v
            .matches
            .iter()
            .map(|m| MatchJson {
                anomaly_type: m.anomaly_type.as_str().to_owned(),
                value: m.value,
                operator: m.operator.as_str().to_owned(),
                threshold: m.threshold,
            })
            .collect(),
    };
    serde_json::to_string(&doc).unwrap_or_default()
}

fn verification_from_json(run_id: i64, text: &str) -> Result<Option<VerifiedResult>> {
    if text.is_empty() {
        return Ok(None);
    }
    let v: VerificationJson = serde_json::from_str(text).map_err(|e| {
        DetectError::Corrupt(format!("detection_runs.verification of run {run_id}: {e}"))
    })?;
    let column = "detection_runs.verification";
    Ok(Some(VerifiedResult {
        anomaly_id: v.anomaly_id,
        score: v.score,
        label: v.label,
        features: v.features,
        matches: v
            .matches
            .into_iter()
            .map(|m| {
                Ok(RuleMatch {
                    anomaly_type: stored_type(column, &m.anomaly_type)?,
                    value: m.value,
                    operator: stored_operator(column, &m.operator)?,
                    threshold: m.threshold,
                })
            })
            .collect::<Result<Vec<_>>>()?,
    }))
}

fn rules_from_json(run_id: i64, text: &str) -> Result<Vec<Rule>> {
    let rows: Vec<RuleJson> = serde_json::from_str(text).map_err(|e| {
        DetectError::Corrupt(format!("detection_runs.rules_applied of run {run_id}: {e}"))
    })?;
    rows.into_iter()
        .map(|r| {
            Ok(Rule {
                anomaly_type: stored_type("detection_runs.rules_applied", &r.anomaly_type)?,
                operator: stored_operator("detection_runs.rules_applied", &r.operator)?,
                threshold: r.threshold,
                enabled: r.enabled,
                description: r.description,
                updated_at_ms: r.updated_at_ms,
            })
        })
        .collect()
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
