//! `joust model evaluate`: scores a version on a dataset, checks quality
//! gates, records the run on the version (annotations `eval.*`, metrics
//! `eval_*`) and, when every gate passes and the version is a candidate,
//! moves it to `evaluated`. A failing run leaves the status alone; the
//! report lists the failing gates and the command exits non-zero.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::Context;
use joust_client::{RegistryClient, pb};
use joust_models::Model;
use joust_models::dataset::feature_matrix;
use joust_models::metrics;
use serde::Serialize;

use super::train::DatasetRef;
use super::{LABELLED_KEY, Progress, blocking, parse_dataset};
use crate::output::status_name;

/// Thresholds; `None` = not checked. Label-based gates fail when the dataset
/// has no labels (or only one class, for ROC-AUC).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Gates {
    pub max_anomaly_rate: Option<f64>,
    pub min_precision: Option<f64>,
    pub min_recall: Option<f64>,
    pub min_auc: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateArgs {
    /// Version ref: `name:N`, `name@alias` or `name`.
    pub reference: String,
    /// Dataset ref: `name`, `name:N` or `name@latest`.
    pub dataset: String,
    pub gates: Gates,
}

/// What the run measured. Label-based metrics are `None` without labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalMetrics {
    pub rows: u64,
    pub anomaly_rate: f64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub roc_auc: Option<f64>,
    /// Scoring throughput (rows / scoring wall time), one thread.
    pub rows_per_sec: f64,
    pub scoring_ms: f64,
}

/// One checked gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// Flag name without dashes, e.g. `max_anomaly_rate`.
    pub gate: &'static str,
    /// Metric compared, e.g. `anomaly_rate`.
    pub metric: &'static str,
    /// `<=` or `>=`.
    pub op: &'static str,
    pub threshold: f64,
    /// `None` when the metric could not be computed (no labels).
    pub value: Option<f64>,
    pub passed: bool,
}

impl GateResult {
    /// `min_auc: roc_auc 0.9123 < 0.999`-style text (the operator shows
    /// the outcome: the gate's own when it passed, its negation when not).
    pub fn describe(&self) -> String {
        match self.value {
            Some(v) => {
                let op = if self.passed {
                    self.op
                } else {
                    negate(self.op)
                };
                format!(
                    "{}: {} {v:.4} {op} {}",
                    self.gate, self.metric, self.threshold
                )
            }
            None => format!(
                "{}: {} unknown (needs labels with both classes), required {} {}",
                self.gate, self.metric, self.op, self.threshold
            ),
        }
    }
}

fn negate(op: &str) -> &'static str {
    if op == "<=" { ">" } else { "<" }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluateReport {
    pub model: String,
    pub version: u64,
    pub eval_run_id: String,
    pub dataset: DatasetRef,
    pub labelled: bool,
    pub metrics: EvalMetrics,
    pub gates: Vec<GateResult>,
    pub passed: bool,
    pub failed_gates: Vec<String>,
    /// Status before the run.
    pub status_before: &'static str,
    /// Status after the run (`evaluated` after a passing candidate).
    pub status: &'static str,
}

pub async fn evaluate(
    client: &RegistryClient,
    args: &EvaluateArgs,
    progress: &Progress,
) -> anyhow::Result<EvaluateReport> {
    let run_id = uuid::Uuid::new_v4().to_string();
    progress.stage(format!("downloading {}", args.reference));
    let (version, artifact) = client
        .download_artifact(&args.reference)
        .await
        .with_context(|| format!("model version {}", args.reference))?;
    let version_ref = format!("{}:{}", version.model, version.version);
    progress.stage(format!("downloading dataset {}", args.dataset));
    let (dataset, blob) = client
        .download_dataset(&args.dataset)
        .await
        .with_context(|| format!("--dataset {}", args.dataset))?;
    let dataset_ref = DatasetRef {
        name: dataset.name.clone(),
        version: dataset.version,
        sha256: dataset.sha256.clone(),
    };
    // Datasets ingested without labels carry an all-false label column.
    let labelled = dataset
        .annotations
        .get(LABELLED_KEY)
        .is_none_or(|v| v != "false");

    progress.stage(format!(
        "scoring {version_ref} on {}:{}",
        dataset.name, dataset.version
    ));
    let (name, dv) = (dataset.name.clone(), dataset.version);
    let vr = version_ref.clone();
    let metrics = blocking(move || {
        let model = Model::from_bytes(&artifact)
            .with_context(|| format!("{vr}: cannot decode the artifact"))?;
        let series = parse_dataset(&name, dv, &blob)?;
        let data = feature_matrix(&series);
        if data.x.nrows() == 0 {
            anyhow::bail!("dataset {name}:{dv}: no feature rows after the warm-up");
        }
        let labels = if labelled { data.labels } else { None };
        score(&model, data.x.view(), labels.as_deref())
            .with_context(|| format!("scoring {vr} on {name}:{dv}"))
    })
    .await?;

    let gates = check(&args.gates, &metrics);
    let failed: Vec<&GateResult> = gates.iter().filter(|g| !g.passed).collect();
    let passed = failed.is_empty();
    let failed_gates: Vec<String> = failed.iter().map(|g| g.describe()).collect();
    let checked: Vec<String> = gates.iter().map(GateResult::describe).collect();

    progress.stage("recording the evaluation");
    let dataset_text = format!("{}:{}", dataset_ref.name, dataset_ref.version);
    let annotations: HashMap<String, String> = [
        ("eval.run_id", run_id.clone()),
        ("eval.dataset", dataset_text.clone()),
        ("eval.dataset.sha256", dataset_ref.sha256.clone()),
        ("eval.passed", passed.to_string()),
        ("eval.gates", checked.join("; ")),
        ("eval.failed_gates", failed_gates.join("; ")),
        ("eval.joust.version", env!("CARGO_PKG_VERSION").to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    client
        .annotate(&version_ref, annotations, &metrics_json(&metrics)?)
        .await
        .with_context(|| format!("recording the evaluation on {version_ref}"))?;

    let status_before = status_name(version.status);
    let mut status = status_before;
    if passed && version.status == pb::VersionStatus::Candidate as i32 {
        let reason = format!(
            "eval {run_id} on {dataset_text} passed: {}",
            if checked.is_empty() {
                "no gates".to_owned()
            } else {
                checked.join("; ")
            }
        );
        let v = client
            .transition(&version_ref, pb::VersionStatus::Evaluated, &reason)
            .await
            .with_context(|| format!("moving {version_ref} to evaluated"))?;
        status = status_name(v.status);
    }
    progress.finish();
    Ok(EvaluateReport {
        model: version.model,
        version: version.version,
        eval_run_id: run_id,
        dataset: dataset_ref,
        labelled,
        metrics,
        gates,
        passed,
        failed_gates,
        status_before,
        status,
    })
}

fn score(
    model: &Model,
    x: ndarray::ArrayView2<'_, f32>,
    labels: Option<&[bool]>,
) -> anyhow::Result<EvalMetrics> {
    let started = Instant::now();
    let scores = model.score(x)?;
    let elapsed = started.elapsed().as_secs_f64();
    let threshold = model.threshold();
    let predicted: Vec<bool> = scores.iter().map(|s| *s > threshold).collect();
    let rows = scores.len();
    let prf = labels.map(|l| metrics::precision_recall_f1(&predicted, l));
    Ok(EvalMetrics {
        rows: rows as u64,
        anomaly_rate: metrics::anomaly_rate(&predicted),
        precision: prf.map(|m| m.precision),
        recall: prf.map(|m| m.recall),
        f1: prf.map(|m| m.f1),
        roc_auc: labels.and_then(|l| metrics::roc_auc(&scores, l)),
        rows_per_sec: if elapsed > 0.0 {
            rows as f64 / elapsed
        } else {
            f64::INFINITY
        },
        scoring_ms: elapsed * 1e3,
    })
}

/// Checks each configured gate, in flag order.
pub fn check(gates: &Gates, m: &EvalMetrics) -> Vec<GateResult> {
    let mut out = Vec::new();
    let mut gate = |gate, metric, op, threshold: Option<f64>, value: Option<f64>| {
        if let Some(threshold) = threshold {
            let passed = value.is_some_and(|v| {
                if op == "<=" {
                    v <= threshold
                } else {
                    v >= threshold
                }
            });
            out.push(GateResult {
                gate,
                metric,
                op,
                threshold,
                value,
                passed,
            });
        }
    };
    gate(
        "max_anomaly_rate",
        "anomaly_rate",
        "<=",
        gates.max_anomaly_rate,
        Some(m.anomaly_rate),
    );
    gate(
        "min_precision",
        "precision",
        ">=",
        gates.min_precision,
        m.precision,
    );
    gate("min_recall", "recall", ">=", gates.min_recall, m.recall);
    gate("min_auc", "roc_auc", ">=", gates.min_auc, m.roc_auc);
    out
}

/// `eval_*` metrics for the version's metrics JSON (label metrics omitted
/// when unknown; non-finite throughput omitted).
fn metrics_json(m: &EvalMetrics) -> anyhow::Result<String> {
    let numbers = [
        ("eval_anomaly_rate", Some(m.anomaly_rate)),
        ("eval_precision", m.precision),
        ("eval_recall", m.recall),
        ("eval_f1", m.f1),
        ("eval_roc_auc", m.roc_auc),
        ("eval_rows_per_sec", Some(m.rows_per_sec)),
        ("eval_scoring_ms", Some(m.scoring_ms)),
    ];
    let mut map: BTreeMap<&str, serde_json::Value> = numbers
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| v.is_finite()).map(|v| (k, v.into())))
        .collect();
    map.insert("eval_rows", m.rows.into());
    Ok(serde_json::to_string(&map)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn metrics(anomaly_rate: f64, auc: Option<f64>) -> EvalMetrics {
        EvalMetrics {
            rows: 100,
            anomaly_rate,
            precision: auc.map(|_| 0.5),
            recall: auc.map(|_| 0.8),
            f1: auc.map(|_| 0.6),
            roc_auc: auc,
            rows_per_sec: 1e6,
            scoring_ms: 0.1,
        }
    }

    #[test]
    fn gates_pass_and_fail_on_their_bounds() {
        let gates = Gates {
            max_anomaly_rate: Some(0.05),
            min_precision: Some(0.5),
            min_recall: Some(0.9),
            min_auc: None,
        };
        let r = check(&gates, &metrics(0.05, Some(0.9)));
        assert_eq!(r.len(), 3);
        assert!(r[0].passed && r[1].passed);
        assert!(!r[2].passed);
        assert_eq!(r[2].describe(), "min_recall: recall 0.8000 < 0.9");
    }

    #[test]
    fn label_gates_fail_without_labels() {
        let gates = Gates {
            min_auc: Some(0.5),
            ..Gates::default()
        };
        let r = check(&gates, &metrics(0.01, None));
        assert!(!r[0].passed);
        assert!(r[0].describe().contains("needs labels"));
    }

    #[test]
    fn metrics_json_omits_unknowns() {
        let json = metrics_json(&metrics(0.1, None)).unwrap();
        assert!(json.contains("\"eval_anomaly_rate\":0.1"));
        assert!(json.contains("\"eval_rows\":100,"));
        assert!(!json.contains("eval_roc_auc"));
    }
}
