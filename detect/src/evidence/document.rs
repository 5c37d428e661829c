//! The evidence document of one detection run, rendered from what the
//! store holds for the run, so the same stored run always gives the same
//! bytes. Determinism: fields in a fixed order (struct declaration order),
//! maps keyed and sorted by name, anomalies by id, every time taken from
//! the run (never the clock at write time), floats printed as the shortest
//! decimal that reads back to the same value (serde_json's `ryu`), two-space
//! indentation and a final newline.

use std::collections::BTreeMap;

use joust_models::features::FEATURE_NAMES;
use serde::Serialize;

use crate::domain::{Anomaly, Run};
use crate::rules::RuleMatch;

/// The document's format; bumped when a field changes meaning.
pub const SCHEMA: &str = "joust.detection.evidence/v1";

/// The detection code that wrote the document.
pub const DETECTION_VERSION: &str = concat!("joust-detect ", env!("CARGO_PKG_VERSION"));

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    run: RunDoc<'a>,
    series: SeriesDoc<'a>,
    detected_anomalies: Vec<AnomalyDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<VerificationDoc<'a>>,
    metadata: Metadata<'a>,
    created_at: String,
}

#[derive(Serialize)]
struct RunDoc<'a> {
    id: i64,
    trigger: &'static str,
    status: &'static str,
    started_at: String,
    completed_at: String,
    rows_loaded: u64,
    rows_preprocessed: u64,
    rows_scored: u64,
    anomalies_found: u64,
    anomalies_whitelisted: u64,
    error: &'a str,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct SeriesDoc<'a> {
    ticker: &'a str,
    interval: &'a str,
}

#[derive(Serialize)]
struct MatchDoc {
    value: f64,
    operator: &'static str,
    threshold: f64,
}

#[derive(Serialize)]
struct AnomalyDoc {
    id: i64,
    /// The first of `types` (by name): the seed format's single type.
    event_type: &'static str,
    types: BTreeMap<&'static str, MatchDoc>,
    bar_time: String,
    timestamp: i64,
    close: f64,
    volume: f64,
    score: f32,
    label: bool,
    whitelisted: bool,
    features: BTreeMap<&'static str, f32>,
    evidence_refs: Vec<String>,
}

#[derive(Serialize)]
struct VerificationDoc<'a> {
    anomaly_id: i64,
    original: ScoredDoc<'a>,
    current: ScoredDoc<'a>,
    still_anomaly: bool,
}

#[derive(Serialize)]
struct ScoredDoc<'a> {
    model_version: &'a str,
    model_sha256: &'a str,
    score: f32,
    label: bool,
    types: BTreeMap<&'static str, MatchDoc>,
    features: BTreeMap<&'static str, f32>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    detection_version: &'static str,
    model: ModelDoc<'a>,
    thresholds_applied: BTreeMap<&'static str, MatchRule>,
    whitelist_checks: WhitelistChecks,
    feature_names: &'static [&'static str],
}

#[derive(Serialize)]
struct ModelDoc<'a> {
    name: &'a str,
    version: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
struct MatchRule {
    operator: &'static str,
    threshold: f64,
}

#[derive(Serialize)]
struct WhitelistChecks {
    /// Whitelist entries covering the series when the run ran.
    whitelist_count: u64,
    whitelisted_anomalies: u64,
}

/// Unix ms as RFC 3339 UTC with milliseconds.
fn ms_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Unix seconds as RFC 3339 UTC.
fn secs_time(s: i64) -> String {
    chrono::DateTime::from_timestamp(s, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| s.to_string())
}

fn types(matches: &[RuleMatch]) -> BTreeMap<&'static str, MatchDoc> {
    matches
        .iter()
        .map(|m| {
            (
                m.anomaly_type.as_str(),
                MatchDoc {
                    value: m.value,
                    operator: m.operator.as_str(),
                    threshold: m.threshold,
                },
            )
        })
        .collect()
}

fn features(values: &[f32]) -> BTreeMap<&'static str, f32> {
    FEATURE_NAMES
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect()
}

fn anomaly_doc(run: &Run, a: &Anomaly) -> AnomalyDoc {
    let types = types(&a.matches);
    AnomalyDoc {
        id: a.id,
        event_type: types.keys().next().copied().unwrap_or(""),
        types,
        bar_time: secs_time(a.timestamp),
        timestamp: a.timestamp,
        close: a.close,
        volume: a.volume,
        score: a.score,
        label: a.label,
        whitelisted: a.whitelisted,
        features: features(&a.features),
        evidence_refs: vec![
            format!("run:{}", run.id),
            format!("anomaly:{}", a.id),
            format!("bar:{}/{}/{}", a.ticker, a.interval, a.timestamp),
            format!(
                "model:{}:{}@sha256:{}",
                a.model_name, a.model_version, a.model_sha256
            ),
        ],
    }
}

/// Renders the evidence of `run` with the anomalies it stored (any order:
/// they are sorted by id) and, for a verification run, the anomaly it
/// re-scored as stored.
pub fn render(run: &Run, anomalies: &[Anomaly], verified: Option<&Anomaly>) -> Vec<u8> {
    let mut sorted: Vec<&Anomaly> = anomalies.iter().collect();
    sorted.sort_by_key(|a| a.id);
    let completed = run.completed_at_ms.unwrap_or(run.started_at_ms);
    let verification = match (&run.verification, verified) {
        (Some(v), Some(original)) => Some(VerificationDoc {
            anomaly_id: v.anomaly_id,
            original: ScoredDoc {
                model_version: &original.model_version,
                model_sha256: &original.model_sha256,
                score: original.score,
                label: original.label,
                types: types(&original.matches),
                features: features(&original.features),
            },
            current: ScoredDoc {
                model_version: &run.model_version,
                model_sha256: &run.model_sha256,
                score: v.score,
                label: v.label,
                types: types(&v.matches),
                features: features(&v.features),
            },
            still_anomaly: !v.matches.is_empty(),
        }),
        _ => None,
    };
    let doc = Document {
        schema: SCHEMA,
        run: RunDoc {
            id: run.id,
            trigger: run.trigger.as_str(),
            status: run.status.as_str(),
            started_at: ms_time(run.started_at_ms),
            completed_at: ms_time(completed),
            rows_loaded: run.rows_loaded,
            rows_preprocessed: run.rows_preprocessed,
            rows_scored: run.rows_scored,
            anomalies_found: run.anomalies_found,
            anomalies_whitelisted: run.anomalies_whitelisted,
            error: &run.error,
            warnings: &run.warnings,
        },
        series: SeriesDoc {
            ticker: &run.ticker,
            interval: &run.interval,
        },
        detected_anomalies: sorted.into_iter().map(|a| anomaly_doc(run, a)).collect(),
        verification,
        metadata: Metadata {
            detection_version: DETECTION_VERSION,
            model: ModelDoc {
                name: &run.model_name,
                version: &run.model_version,
                sha256: &run.model_sha256,
            },
            thresholds_applied: run
                .rules_applied
                .iter()
                .map(|r| {
                    (
                        r.anomaly_type.as_str(),
                        MatchRule {
                            operator: r.operator.as_str(),
                            threshold: r.threshold,
                        },
                    )
                })
                .collect(),
            whitelist_checks: WhitelistChecks {
                whitelist_count: run.whitelist_entries,
                whitelisted_anomalies: run.anomalies_whitelisted,
            },
            feature_names: &FEATURE_NAMES,
        },
        created_at: ms_time(completed),
    };
    // Serializing plain structs, maps with string keys and numbers cannot
    // fail; an empty document would be caught by the evidence tests.
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::domain::{RunStatus, Trigger};
    use crate::rules::{AnomalyType, Operator, Rule};

    fn run() -> Run {
        Run {
            id: 3,
            trigger: Trigger::Api,
            ticker: "SYN000".into(),
            interval: "1d".into(),
            model_name: "m".into(),
            model_version: "1".into(),
            model_sha256: "ab".into(),
            started_at_ms: 1_704_067_200_000,
            completed_at_ms: Some(1_704_067_200_123),
            rows_loaded: 10,
            rows_preprocessed: 5,
            rows_scored: 5,
            anomalies_found: 2,
            status: RunStatus::Complete,
            error: String::new(),
            warnings: vec![],
            rules_applied: vec![Rule {
                anomaly_type: AnomalyType::ModelLabel,
                operator: Operator::Eq,
                threshold: 1.0,
                enabled: true,
                description: String::new(),
                updated_at_ms: 0,
            }],
            whitelist_entries: 1,
            anomalies_whitelisted: 2,
            evidence_uri: String::new(),
            verification: None,
            anomaly_ids: vec![],
        }
    }

    fn anomaly(id: i64, ts: i64) -> Anomaly {
        Anomaly {
            id,
            ticker: "SYN000".into(),
            interval: "1d".into(),
            timestamp: ts,
            close: 101.25,
            volume: 12_345.0,
            features: (0..14).map(|i| i as f32 * 0.1).collect(),
            score: 0.7,
            label: true,
            model_name: "m".into(),
            model_version: "1".into(),
            model_sha256: "ab".into(),
            run_id: 3,
            created_at_ms: 1_704_067_200_123,
            matches: vec![RuleMatch {
                anomaly_type: AnomalyType::ModelLabel,
                value: 1.0,
                operator: Operator::Eq,
                threshold: 1.0,
            }],
            whitelisted: true,
            run_trigger: Trigger::Api,
            run_started_at_ms: 1_704_067_200_000,
            evidence_uri: String::new(),
            notification_state: String::new(),
        }
    }

    #[test]
    fn renders_the_same_bytes_whatever_the_input_order() {
        let r = run();
        let a = render(&r, &[anomaly(1, 86_400), anomaly(2, 172_800)], None);
        let b = render(&r, &[anomaly(2, 172_800), anomaly(1, 86_400)], None);
        assert_eq!(a, b);
        let doc: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(doc["schema"], SCHEMA);
        assert_eq!(doc["created_at"], "2024-01-01T00:00:00.123Z");
        assert_eq!(doc["detected_anomalies"][0]["id"], 1);
        assert_eq!(doc["detected_anomalies"][0]["event_type"], "model_label");
        assert_eq!(
            doc["detected_anomalies"][0]["evidence_refs"],
            serde_json::json!([
                "run:3",
                "anomaly:1",
                "bar:SYN000/1d/86400",
                "model:m:1@sha256:ab"
            ])
        );
        assert_eq!(
            doc["metadata"]["thresholds_applied"]["model_label"]["operator"],
            "eq"
        );
        assert_eq!(doc["metadata"]["whitelist_checks"]["whitelist_count"], 1);
        assert_eq!(doc["detected_anomalies"][1]["features"]["return_5"], 0.1);
        assert!(doc.get("verification").is_none());
        assert!(a.ends_with(b"}\n"));
        let text = String::from_utf8(a).unwrap();
        // Fixed field order: the run comes first, created_at last.
        assert!(text.find("\"run\"").unwrap() < text.find("\"metadata\"").unwrap());
        assert!(
            text.trim_end()
                .ends_with("\"created_at\": \"2024-01-01T00:00:00.123Z\"\n}")
        );
    }
}
