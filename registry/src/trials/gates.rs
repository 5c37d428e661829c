//! Gates as hypotheses (pure): each gate is a tolerance; the verdict is
//! `promote` when every gate is satisfied with the trial's confidence (its
//! confidence sequence lies entirely inside the tolerance), `reject` as
//! soon as one is violated with that confidence (entirely outside), and
//! `keep_running` otherwise. The gates' miscoverage α = 1 − confidence is
//! split evenly over the sequential gates set (Bonferroni), so all of them
//! hold together with probability ≥ confidence, at every report.
//!
//! The decision reads counts and sorted latencies only ([`Evidence`]), so
//! the simulation tests drive the same function the report uses.

use crate::trials::domain::Gates;
use crate::trials::report::Verdict;
use crate::trials::sample::Sample;
use crate::trials::sequential::{self, Sequence};

/// Miscoverage of the sequential sample-ratio-mismatch check (per period).
pub const SRM_ALPHA: f64 = 0.001;

/// Counts of one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArmCounts {
    pub requests: u64,
    pub errors: u64,
    /// Labelled rows and the anomalous ones among them.
    pub rows: u64,
    pub anomalies: u64,
    /// Per-request sums of the labelled rows (for the anomaly-rate
    /// variance when rows of one request are correlated).
    pub row_sums: sequential::RowSums,
}

impl ArmCounts {
    pub fn ok(&self) -> u64 {
        self.requests - self.errors
    }
}

/// Served-arm counts of one split period, with its configured weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitPeriod {
    pub period: u32,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub weight: f64,
}

/// Everything the verdict reads.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub champion: ArmCounts,
    pub challenger: ArmCounts,
    /// Rows labelled by both arms of one request, and those labelled alike.
    pub paired_rows: u64,
    pub agreeing_rows: u64,
    /// Successful requests' latencies, ascending.
    pub champion_latencies: &'a dyn Sample,
    pub challenger_latencies: &'a dyn Sample,
    pub psi: Option<f64>,
    /// Seconds the trial has run; `None` when unknown.
    pub running_secs: Option<f64>,
    pub split_periods: &'a [SplitPeriod],
}

/// The always-valid figures, each at the per-gate α.
#[derive(Debug, Clone, PartialEq)]
pub struct SequentialFigures {
    pub confidence: f64,
    /// α of each sequence: (1 − confidence) / sequential gates set (≥ 1).
    pub gate_alpha: f64,
    pub challenger_error_rate: Option<Sequence>,
    pub error_rate_delta: Option<Sequence>,
    pub anomaly_rate_delta: Option<Sequence>,
    pub agreement: Option<Sequence>,
    pub p99_latency_ratio: Option<Sequence>,
    /// Per split period: the challenger's served share at [`SRM_ALPHA`].
    pub served_share: Vec<(SplitPeriod, Sequence)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateState {
    Satisfied,
    Violated,
    Undecided,
}

impl GateState {
    pub fn as_str(self) -> &'static str {
        match self {
            GateState::Satisfied => "satisfied",
            GateState::Violated => "violated",
            GateState::Undecided => "undecided",
        }
    }
}

/// One gate as judged.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    /// The gate's name, as in [`Gates`] (`min_samples`, `max_error_rate`, …).
    pub gate: &'static str,
    /// The point estimate.
    pub value: f64,
    pub limit: f64,
    /// The value must be at most (`true`) or at least (`false`) the limit
    /// (`max_anomaly_rate_delta`: within ± the limit, `true`).
    pub is_max: bool,
    /// The confidence sequence, for sequential gates.
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub state: GateState,
    /// `state == Satisfied`.
    pub passed: bool,
}

/// The verdict, why, and what it was judged on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub checks: Vec<GateCheck>,
    pub figures: SequentialFigures,
}

/// Sequential gates set in `g` (the Bonferroni divisor).
pub fn sequential_gates(g: &Gates) -> usize {
    [
        g.max_error_rate,
        g.max_error_rate_delta,
        g.max_anomaly_rate_delta,
        g.min_agreement,
        g.max_p99_latency_ratio,
    ]
    .iter()
    .filter(|v| v.is_some())
    .count()
}

/// The figures at the per-gate α of `g`.
pub fn figures(e: &Evidence<'_>, g: &Gates) -> SequentialFigures {
    let alpha = (1.0 - g.confidence) / sequential_gates(g).max(1) as f64;
    let (a, b) = (e.champion, e.challenger);
    SequentialFigures {
        confidence: g.confidence,
        gate_alpha: alpha,
        challenger_error_rate: sequential::rate(b.errors, b.requests, alpha),
        error_rate_delta: sequential::rate_difference(
            a.errors, a.requests, b.errors, b.requests, alpha,
        ),
        anomaly_rate_delta: sequential::clustered_rate_difference(
            (a.anomalies, a.rows, &a.row_sums),
            (b.anomalies, b.rows, &b.row_sums),
            alpha,
        ),
        agreement: sequential::rate(e.agreeing_rows, e.paired_rows, alpha),
        p99_latency_ratio: sequential::quantile_ratio(
            e.champion_latencies,
            e.challenger_latencies,
            0.99,
            alpha,
        ),
        served_share: e
            .split_periods
            .iter()
            .filter_map(|p| {
                sequential::rate(
                    p.challenger_served,
                    p.champion_served + p.challenger_served,
                    SRM_ALPHA,
                )
                .map(|s| (*p, s))
            })
            .collect(),
    }
}

/// State of an upper-tolerance gate (value ≤ limit).
fn at_most(s: &Sequence, limit: f64) -> GateState {
    if s.high <= limit {
        GateState::Satisfied
    } else if s.low > limit {
        GateState::Violated
    } else {
        GateState::Undecided
    }
}

fn at_least(s: &Sequence, limit: f64) -> GateState {
    if s.low >= limit {
        GateState::Satisfied
    } else if s.high < limit {
        GateState::Violated
    } else {
        GateState::Undecided
    }
}

fn within(s: &Sequence, limit: f64) -> GateState {
    if s.low >= -limit && s.high <= limit {
        GateState::Satisfied
    } else if s.high < -limit || s.low > limit {
        GateState::Violated
    } else {
        GateState::Undecided
    }
}

fn check(
    gate: &'static str,
    limit: f64,
    is_max: bool,
    seq: Option<Sequence>,
    judge: fn(&Sequence, f64) -> GateState,
) -> GateCheck {
    let state = seq.map_or(GateState::Undecided, |s| judge(&s, limit));
    GateCheck {
        gate,
        value: seq.map_or(f64::NAN, |s| s.estimate),
        limit,
        is_max,
        low: seq.map(|s| s.low),
        high: seq.map(|s| s.high),
        state,
        passed: state == GateState::Satisfied,
    }
}

fn point_check(gate: &'static str, value: Option<f64>, limit: f64, is_max: bool) -> GateCheck {
    let state = match value {
        Some(v) if (is_max && v <= limit) || (!is_max && v >= limit) => GateState::Satisfied,
        _ => GateState::Undecided,
    };
    GateCheck {
        gate,
        value: value.unwrap_or(f64::NAN),
        limit,
        is_max,
        low: None,
        high: None,
        state,
        passed: state == GateState::Satisfied,
    }
}

/// Split periods whose served share excludes their weight.
pub fn mismatched(f: &SequentialFigures) -> impl Iterator<Item = &(SplitPeriod, Sequence)> {
    f.served_share
        .iter()
        .filter(|(p, s)| s.low > p.weight || s.high < p.weight)
}

/// A sequential gate: name, tolerance, sequence, at most?, judgement.
type SequentialGate = (
    &'static str,
    Option<f64>,
    Option<Sequence>,
    bool,
    fn(&Sequence, f64) -> GateState,
);

/// The verdict and the gates as judged, without the prose (what the
/// simulation tests call after every batch).
pub fn judge(e: &Evidence<'_>, g: &Gates) -> (Verdict, Vec<GateCheck>, SequentialFigures) {
    let figures = figures(e, g);
    let (n1, n2) = (e.champion.ok(), e.challenger.ok());
    let enough = n1 >= g.min_samples && n2 >= g.min_samples;
    let mut checks = vec![point_check(
        "min_samples",
        Some(n1.min(n2) as f64),
        g.min_samples as f64,
        false,
    )];
    if !enough {
        // The error-rate gates count every request, failed ones included:
        // a challenger that fails most of its requests never gathers
        // `min_samples` successes, and must still be rejected. Their
        // confidence sequences are valid at every sample size, so they
        // are judged once each arm has `min_samples` requests (successful
        // or not); they can reject here, never promote.
        let requests = e.champion.requests.min(e.challenger.requests);
        if requests >= g.min_samples {
            let error_gates: [SequentialGate; 2] = [
                (
                    "max_error_rate",
                    g.max_error_rate,
                    figures.challenger_error_rate,
                    true,
                    at_most,
                ),
                (
                    "max_error_rate_delta",
                    g.max_error_rate_delta,
                    figures.error_rate_delta,
                    true,
                    at_most,
                ),
            ];
            for (gate, limit, seq, is_max, judge) in error_gates {
                if let Some(limit) = limit {
                    checks.push(check(gate, limit, is_max, seq, judge));
                }
            }
            if checks.iter().any(|c| c.state == GateState::Violated) {
                return (Verdict::Reject, checks, figures);
            }
            checks.truncate(1);
        }
        return (Verdict::KeepRunning, checks, figures);
    }
    let sequential: [SequentialGate; 5] = [
        (
            "max_error_rate",
            g.max_error_rate,
            figures.challenger_error_rate,
            true,
            at_most,
        ),
        (
            "max_error_rate_delta",
            g.max_error_rate_delta,
            figures.error_rate_delta,
            true,
            at_most,
        ),
        (
            "max_anomaly_rate_delta",
            g.max_anomaly_rate_delta,
            figures.anomaly_rate_delta,
            true,
            within,
        ),
        (
            "min_agreement",
            g.min_agreement,
            figures.agreement,
            false,
            at_least,
        ),
        (
            "max_p99_latency_ratio",
            g.max_p99_latency_ratio,
            figures.p99_latency_ratio,
            true,
            at_most,
        ),
    ];
    for (gate, limit, seq, is_max, judge) in sequential {
        if let Some(limit) = limit {
            checks.push(check(gate, limit, is_max, seq, judge));
        }
    }
    if let Some(limit) = g.max_psi {
        checks.push(point_check("max_psi", e.psi, limit, true));
    }
    if let Some(limit) = g.min_duration_secs {
        checks.push(point_check(
            "min_duration_secs",
            e.running_secs,
            limit as f64,
            false,
        ));
    }
    let verdict = if checks.iter().any(|c| c.state == GateState::Violated) {
        Verdict::Reject
    } else if checks.iter().all(|c| c.state == GateState::Satisfied)
        // A broken assignment makes every split figure suspect: hold a
        // promotion (never a rejection) while a period's served share
        // excludes its configured weight.
        && mismatched(&figures).next().is_none()
    {
        Verdict::Promote
    } else {
        Verdict::KeepRunning
    };
    (verdict, checks, figures)
}

fn reason(c: &GateCheck, alpha: f64) -> String {
    let name = c.gate;
    if c.value.is_nan() {
        let missing = match name {
            "min_agreement" => "no paired rows: agreement needs a shadow period",
            "max_p99_latency_ratio" => "an arm has no successful request",
            "min_duration_secs" => "running time unknown",
            _ => "an arm has no sample",
        };
        return format!("{name}: not measured yet ({missing}); undecided");
    }
    match (c.low, c.high) {
        (Some(lo), Some(hi)) => format!(
            "{name}: {:.6}, {:.4} confidence sequence [{lo:.6}, {hi:.6}] vs tolerance {}{} ({})",
            c.value,
            1.0 - alpha,
            match (name, c.is_max) {
                ("max_anomaly_rate_delta", _) => "±",
                (_, true) => "≤ ",
                (_, false) => "≥ ",
            },
            c.limit,
            c.state.as_str()
        ),
        _ => format!(
            "{name}: {:.6} vs {} {} ({}; a point figure: it holds promotion, never rejects)",
            c.value,
            if c.is_max { "at most" } else { "at least" },
            c.limit,
            c.state.as_str()
        ),
    }
}

/// The verdict of evidence `e` against gates `g`, with one reason line
/// per gate judged (and per mismatched split period).
pub fn decide(e: &Evidence<'_>, g: &Gates) -> Decision {
    let (verdict, checks, figures) = judge(e, g);
    let mut reasons = Vec::new();
    if checks
        .first()
        .is_some_and(|c| c.state != GateState::Satisfied)
    {
        reasons.push(format!(
            "min_samples: need {} successful requests per arm, have champion {}, challenger {}",
            g.min_samples,
            e.champion.ok(),
            e.challenger.ok()
        ));
        // Error-rate gates judged before min_samples (they rejected).
        reasons.extend(checks.iter().skip(1).map(|c| reason(c, figures.gate_alpha)));
    } else {
        reasons.extend(checks.iter().skip(1).map(|c| reason(c, figures.gate_alpha)));
    }
    for (p, s) in mismatched(&figures) {
        reasons.push(format!(
            "sample ratio mismatch in period {}: challenger served share {:.6}, {:.4} confidence sequence [{:.6}, {:.6}] excludes the weight {}; check the routing before deciding",
            p.period,
            s.estimate,
            1.0 - SRM_ALPHA,
            s.low,
            s.high,
            p.weight
        ));
    }
    Decision {
        verdict,
        reasons,
        checks,
        figures,
    }
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;
