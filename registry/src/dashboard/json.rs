//! The JSON API's documents: serde views of registry and trial values.
//! Field names follow the protobuf messages (`joust.v1.TrialReport` and
//! friends), so a script reading `/api/trials/{id}/report` and one calling
//! `GetTrialReport` see the same names and the same figures.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{EventRecord, Metrics, ModelRecord, VersionRecord};
use crate::trials::ingest::{LossKind, Losses};
use crate::trials::report::{ArmReport, GateCheck, Report, ScoreHistogram};
use crate::trials::stats::{Proportion, Test};
use crate::trials::timeseries::{Point, TimeSeries};
use crate::trials::{Arm, Gates, Trial};

#[derive(Debug, Serialize)]
pub struct ModelJson {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub latest_version: u64,
    pub champion_version: Option<u64>,
    pub challenger_version: Option<u64>,
    /// Custom aliases and the versions they point at.
    pub aliases: BTreeMap<String, u64>,
}

impl From<&ModelRecord> for ModelJson {
    fn from(m: &ModelRecord) -> Self {
        Self {
            name: m.name.clone(),
            description: m.description.clone(),
            created_at: m.created_at,
            created_by: m.created_by.clone(),
            latest_version: m.latest_version,
            champion_version: m.champion_version,
            challenger_version: m.challenger_version,
            aliases: m
                .aliases
                .iter()
                .map(|a| (a.alias.clone(), a.version))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VersionJson {
    pub model: String,
    pub version: u64,
    pub kind: String,
    pub status: &'static str,
    pub aliases: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub status_changed_at: DateTime<Utc>,
    pub artifact_uri: String,
    pub sha256: String,
    pub size_bytes: u64,
    /// Lineage and evaluation annotations.
    pub annotations: BTreeMap<String, String>,
    pub metrics: Metrics,
}

impl From<&VersionRecord> for VersionJson {
    fn from(v: &VersionRecord) -> Self {
        Self {
            model: v.model.clone(),
            version: v.version,
            kind: v.kind.clone(),
            status: v.status.as_str(),
            aliases: v.aliases.clone(),
            created_at: v.created_at,
            created_by: v.created_by.clone(),
            status_changed_at: v.status_changed_at,
            artifact_uri: v.artifact_uri.clone(),
            sha256: v.sha256.clone(),
            size_bytes: v.size_bytes,
            annotations: v.annotations.clone(),
            metrics: v.metrics.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EventJson {
    pub id: u64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub model: String,
    pub version: Option<u64>,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

impl From<&EventRecord> for EventJson {
    fn from(e: &EventRecord) -> Self {
        Self {
            id: e.id,
            time: e.time,
            actor: e.actor.clone(),
            model: e.model.clone(),
            version: e.version,
            kind: e.kind.clone(),
            from: e.from.clone(),
            to: e.to.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// `/api/models/{name}`: the model, its versions and its trials.
#[derive(Debug, Serialize)]
pub struct ModelPageJson {
    pub model: ModelJson,
    pub versions: Vec<VersionJson>,
    pub trials: Vec<TrialJson>,
}

/// `/api/models/{name}/versions/{v}`: the version and its audit history.
#[derive(Debug, Serialize)]
pub struct VersionPageJson {
    pub version: VersionJson,
    pub history: Vec<EventJson>,
}

#[derive(Debug, Serialize)]
pub struct TrialJson {
    pub id: u64,
    pub model: String,
    pub champion_version: u64,
    pub challenger_version: u64,
    pub mode: &'static str,
    pub weight: f64,
    pub sampling: f64,
    pub sticky: bool,
    pub gates: Gates,
    pub state: &'static str,
    pub outcome: Option<&'static str>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub started_by: String,
    pub reason: String,
}

impl From<&Trial> for TrialJson {
    fn from(t: &Trial) -> Self {
        Self {
            id: t.id,
            model: t.model.clone(),
            champion_version: t.champion_version,
            challenger_version: t.challenger_version,
            mode: t.mode.as_str(),
            weight: t.weight,
            sampling: t.sampling,
            sticky: t.sticky,
            gates: t.gates.clone(),
            state: t.state.as_str(),
            outcome: t.outcome.map(|o| o.as_str()),
            started_at: t.started_at,
            updated_at: t.updated_at,
            stopped_at: t.stopped_at,
            started_by: t.started_by.clone(),
            reason: t.reason.clone(),
        }
    }
}

/// `joust.v1.TrialInterval`.
#[derive(Debug, Serialize)]
pub struct IntervalJson {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub successes: u64,
    pub trials: u64,
}

impl From<Proportion> for IntervalJson {
    fn from(p: Proportion) -> Self {
        Self {
            estimate: p.estimate,
            low: p.low,
            high: p.high,
            successes: p.successes,
            trials: p.trials,
        }
    }
}

/// `joust.v1.TrialTest`.
#[derive(Debug, Serialize)]
pub struct TestJson {
    pub statistic: f64,
    pub p_value: f64,
}

impl From<Test> for TestJson {
    fn from(t: Test) -> Self {
        Self {
            statistic: t.statistic,
            p_value: t.p_value,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct QuantileJson {
    pub q: f64,
    pub value: f64,
}

/// `joust.v1.TrialArmReport`.
#[derive(Debug, Serialize)]
pub struct ArmReportJson {
    pub arm: &'static str,
    pub version: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub anomaly_rate: IntervalJson,
    pub score_quantiles: Vec<QuantileJson>,
    pub latency_p50_us: Option<f64>,
    pub latency_p95_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
    /// Records of this arm refused by the registry / dropped by routers
    /// (the trial report only; not per time bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

impl ArmReportJson {
    pub fn new(a: &ArmReport, version: u64) -> Self {
        Self {
            arm: a.arm.as_str(),
            version,
            requests: a.requests,
            errors: a.errors,
            error_rate: a.error_rate,
            anomaly_rate: a.anomaly_rate.into(),
            score_quantiles: a
                .score_quantiles
                .iter()
                .map(|&(q, value)| QuantileJson { q, value })
                .collect(),
            latency_p50_us: a.latency_p50_us,
            latency_p95_us: a.latency_p95_us,
            latency_p99_us: a.latency_p99_us,
            refused: None,
            dropped: None,
        }
    }

    /// With the arm's lost-record counts.
    fn with_losses(mut self, arm: Arm, l: &Losses) -> Self {
        self.refused = Some(l.count(Some(arm), LossKind::Refused));
        self.dropped = Some(l.count(Some(arm), LossKind::Dropped));
        self
    }
}

/// `joust.v1.TrialRecordLoss`.
#[derive(Debug, Serialize)]
pub struct LossJson {
    /// `champion`, `challenger`, or `""` (no valid arm).
    pub arm: &'static str,
    pub kind: &'static str,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct GateCheckJson {
    pub gate: &'static str,
    pub value: f64,
    pub limit: f64,
    /// `"max"`: the value may be at most the limit; `"min"`: at least.
    pub bound: &'static str,
    pub passed: bool,
    /// `satisfied`, `violated` or `undecided`.
    pub state: &'static str,
    /// The gate's confidence sequence (sequential gates).
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl From<&GateCheck> for GateCheckJson {
    fn from(c: &GateCheck) -> Self {
        Self {
            gate: c.gate,
            value: c.value,
            limit: c.limit,
            bound: if c.is_max { "max" } else { "min" },
            passed: c.passed,
            state: c.state.as_str(),
            low: c.low,
            high: c.high,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct HistogramJson {
    pub edges: Vec<f64>,
    pub champion: Vec<u64>,
    pub challenger: Vec<u64>,
}

impl From<&ScoreHistogram> for HistogramJson {
    fn from(h: &ScoreHistogram) -> Self {
        Self {
            edges: h.edges.clone(),
            champion: h.champion.clone(),
            challenger: h.challenger.clone(),
        }
    }
}

/// `joust.v1.TrialReport`, plus the judged gates and the score histogram.
#[derive(Debug, Serialize)]
pub struct ReportJson {
    pub trial: TrialJson,
    pub records: u64,
    pub champion: ArmReportJson,
    pub challenger: ArmReportJson,
    pub anomaly_rate_delta: f64,
    pub anomaly_rate_test: Option<TestJson>,
    pub paired_rows: u64,
    pub agreement: Option<IntervalJson>,
    pub mcnemar: Option<TestJson>,
    pub mean_abs_score_diff: Option<f64>,
    pub psi: Option<f64>,
    pub sample_ratio_mismatch: Option<TestJson>,
    pub verdict: &'static str,
    pub reasons: Vec<String>,
    pub checks: Vec<GateCheckJson>,
    /// The always-valid figures the verdict is judged on.
    pub sequential: super::sequential_json::SequentialJson,
    /// Per period, oldest first.
    pub periods: Vec<super::sequential_json::PeriodJson>,
    pub score_histogram: Option<HistogramJson>,
    pub refused: u64,
    pub dropped: u64,
    pub losses: Vec<LossJson>,
}

impl ReportJson {
    pub fn new(trial: &Trial, r: &Report) -> Self {
        let c = &r.comparison;
        Self {
            trial: trial.into(),
            records: r.records,
            champion: ArmReportJson::new(&r.champion, trial.champion_version)
                .with_losses(Arm::Champion, &r.losses),
            challenger: ArmReportJson::new(&r.challenger, trial.challenger_version)
                .with_losses(Arm::Challenger, &r.losses),
            anomaly_rate_delta: c.anomaly_rate_delta,
            anomaly_rate_test: c.anomaly_rate_test.map(Into::into),
            paired_rows: c.paired_rows,
            agreement: c.agreement.map(Into::into),
            mcnemar: c.mcnemar.map(Into::into),
            mean_abs_score_diff: c.mean_abs_score_diff,
            psi: c.psi,
            sample_ratio_mismatch: c.sample_ratio_mismatch.map(Into::into),
            verdict: r.verdict.as_str(),
            reasons: r.reasons.clone(),
            checks: r.checks.iter().map(Into::into).collect(),
            sequential: (&r.sequential).into(),
            periods: r.periods.iter().map(Into::into).collect(),
            score_histogram: r.score_histogram.as_ref().map(Into::into),
            refused: r.losses.total(LossKind::Refused),
            dropped: r.losses.total(LossKind::Dropped),
            losses: r
                .losses
                .rows
                .iter()
                .map(|l| LossJson {
                    arm: l.arm.map_or("", Arm::as_str),
                    kind: l.kind.as_str(),
                    reason: l.reason.clone(),
                    count: l.count,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PointJson {
    pub start: DateTime<Utc>,
    pub records: u64,
    pub champion: ArmReportJson,
    pub challenger: ArmReportJson,
    pub agreement: Option<IntervalJson>,
}

/// `/api/trials/{id}/timeseries`.
#[derive(Debug, Serialize)]
pub struct TimeSeriesJson {
    pub trial: TrialJson,
    pub bucket_seconds: u32,
    pub truncated: bool,
    pub points: Vec<PointJson>,
}

impl TimeSeriesJson {
    pub fn new(trial: &Trial, s: &TimeSeries) -> Self {
        let point = |p: &Point| PointJson {
            start: p.start,
            records: p.records,
            champion: ArmReportJson::new(&p.champion, trial.champion_version),
            challenger: ArmReportJson::new(&p.challenger, trial.challenger_version),
            agreement: p.agreement.map(Into::into),
        };
        Self {
            trial: trial.into(),
            bucket_seconds: s.bucket_seconds,
            truncated: s.truncated,
            points: s.points.iter().map(point).collect(),
        }
    }
}
