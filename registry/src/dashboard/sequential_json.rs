//! The JSON API's views of a report's sequential figures and periods
//! (`joust.v1.TrialSequential`, `joust.v1.TrialPeriod`; same names).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::trials::gates::{ArmCounts, SequentialFigures};
use crate::trials::periods::PeriodReport;
use crate::trials::sequential::Sequence;

/// A confidence sequence; an unbounded end (+∞) is `null`.
#[derive(Debug, Serialize)]
pub struct SequenceJson {
    pub estimate: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub alpha: f64,
}

impl From<&Sequence> for SequenceJson {
    fn from(s: &Sequence) -> Self {
        let finite = |v: f64| v.is_finite().then_some(v);
        Self {
            estimate: s.estimate,
            low: finite(s.low),
            high: finite(s.high),
            alpha: s.alpha,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ServedShareJson {
    pub period: u32,
    pub weight: f64,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub share: SequenceJson,
}

#[derive(Debug, Serialize)]
pub struct SequentialJson {
    pub confidence: f64,
    pub gate_alpha: f64,
    pub challenger_error_rate: Option<SequenceJson>,
    pub error_rate_delta: Option<SequenceJson>,
    pub anomaly_rate_delta: Option<SequenceJson>,
    pub agreement: Option<SequenceJson>,
    pub p99_latency_ratio: Option<SequenceJson>,
    pub served_share: Vec<ServedShareJson>,
}

impl From<&SequentialFigures> for SequentialJson {
    fn from(f: &SequentialFigures) -> Self {
        let seq = |s: &Option<Sequence>| s.as_ref().map(Into::into);
        Self {
            confidence: f.confidence,
            gate_alpha: f.gate_alpha,
            challenger_error_rate: seq(&f.challenger_error_rate),
            error_rate_delta: seq(&f.error_rate_delta),
            anomaly_rate_delta: seq(&f.anomaly_rate_delta),
            agreement: seq(&f.agreement),
            p99_latency_ratio: seq(&f.p99_latency_ratio),
            served_share: f
                .served_share
                .iter()
                .map(|(p, s)| ServedShareJson {
                    period: p.period,
                    weight: p.weight,
                    champion_served: p.champion_served,
                    challenger_served: p.challenger_served,
                    share: s.into(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PeriodArmJson {
    pub requests: u64,
    pub errors: u64,
    pub rows: u64,
    pub anomalies: u64,
}

impl From<&ArmCounts> for PeriodArmJson {
    fn from(c: &ArmCounts) -> Self {
        Self {
            requests: c.requests,
            errors: c.errors,
            rows: c.rows,
            anomalies: c.anomalies,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PeriodJson {
    pub period: u32,
    pub started_at: DateTime<Utc>,
    pub mode: &'static str,
    pub weight: f64,
    pub sampling: f64,
    pub records: u64,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub champion: PeriodArmJson,
    pub challenger: PeriodArmJson,
    pub paired_rows: u64,
    pub agreeing_rows: u64,
}

impl From<&PeriodReport> for PeriodJson {
    fn from(p: &PeriodReport) -> Self {
        Self {
            period: p.period.period,
            started_at: p.period.started_at,
            mode: p.period.mode.as_str(),
            weight: p.period.weight,
            sampling: p.period.sampling,
            records: p.records,
            champion_served: p.champion_served,
            challenger_served: p.challenger_served,
            champion: (&p.champion).into(),
            challenger: (&p.challenger).into(),
            paired_rows: p.paired_rows,
            agreeing_rows: p.agreeing_rows,
        }
    }
}
