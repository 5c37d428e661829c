//! The trial report (pure): per-arm figures, between-arm tests and the
//! verdict against the trial's gates, computed from comparison records.
//! Definitions are in docs/trials.md; the figures are checked against
//! scipy in `registry/tests/trial_report.rs`.

use crate::trials::domain::{Arm, ComparisonRecord, Gates, Mode};
use crate::trials::stats::{self, Proportion, Test};

/// Score quantiles reported per arm.
pub const SCORE_QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];
/// A sample-ratio mismatch with a p-value below this blocks promotion.
pub const SRM_ALPHA: f64 = 0.001;
/// Bins of the score histogram shared by both arms.
pub const SCORE_HISTOGRAM_BINS: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ArmReport {
    pub arm: Arm,
    /// Requests this arm answered or failed (served or shadowed).
    pub requests: u64,
    /// Requests this arm failed (status code ≠ 0).
    pub errors: u64,
    pub error_rate: f64,
    /// Anomalous rows among the rows this arm scored.
    pub anomaly_rate: Proportion,
    /// (q, score) for each of [`SCORE_QUANTILES`]; empty without scores.
    pub score_quantiles: Vec<(f64, f64)>,
    pub latency_p50_us: Option<f64>,
    pub latency_p95_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArmComparison {
    /// Challenger anomaly rate − champion anomaly rate.
    pub anomaly_rate_delta: f64,
    /// Two-proportion z-test (challenger vs champion anomaly rates).
    pub anomaly_rate_test: Option<Test>,
    /// Rows scored by both arms of the same request (shadow mode).
    pub paired_rows: u64,
    /// Share of paired rows given the same label (shadow mode).
    pub agreement: Option<Proportion>,
    /// McNemar's test on paired labels (shadow mode).
    pub mcnemar: Option<Test>,
    /// Mean |challenger score − champion score| over paired rows.
    pub mean_abs_score_diff: Option<f64>,
    /// PSI of the challenger's scores against the champion's.
    pub psi: Option<f64>,
    /// Chi-square of served-arm counts against the weight (split mode).
    pub sample_ratio_mismatch: Option<Test>,
}

/// Both arms' scores counted over the same equal-width bins (see
/// [`stats::shared_histogram`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreHistogram {
    /// `SCORE_HISTOGRAM_BINS + 1` ascending bin edges.
    pub edges: Vec<f64>,
    pub champion: Vec<u64>,
    pub challenger: Vec<u64>,
}

/// One gate as judged: the measured value against the trial's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    /// The gate's name, as in [`Gates`] (`min_samples`, `max_error_rate`, …).
    pub gate: &'static str,
    pub value: f64,
    pub limit: f64,
    /// The value is at most (`true`) or at least (`false`) the limit.
    pub is_max: bool,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Promote,
    Reject,
    KeepRunning,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Promote => "promote",
            Verdict::Reject => "reject",
            Verdict::KeepRunning => "keep_running",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub records: u64,
    pub champion: ArmReport,
    pub challenger: ArmReport,
    pub comparison: ArmComparison,
    pub verdict: Verdict,
    /// One line per gate (or missing sample) explaining the verdict.
    pub reasons: Vec<String>,
    /// The gates judged, in order (`min_samples` first; the others only
    /// once both arms have enough samples).
    pub checks: Vec<GateCheck>,
    /// `None` when neither arm has scores.
    pub score_histogram: Option<ScoreHistogram>,
    /// Records refused by the registry or dropped by routers (stored
    /// counts; empty from [`ReportBuilder::finish`] alone).
    pub losses: crate::trials::ingest::Losses,
}

#[derive(Debug, Default)]
struct ArmAcc {
    requests: u64,
    errors: u64,
    rows: u64,
    anomalies: u64,
    scores: Vec<f64>,
    latencies: Vec<f64>,
    served: u64,
}

impl ArmAcc {
    fn add(&mut self, r: &crate::trials::domain::ArmResult) {
        self.requests += 1;
        if !r.ok() {
            self.errors += 1;
            return;
        }
        self.latencies.push(r.latency_us as f64);
        self.rows += r.labels.len() as u64;
        self.anomalies += r.labels.iter().filter(|&&l| l).count() as u64;
        self.scores.extend_from_slice(&r.scores);
    }

    fn finish(mut self, arm: Arm) -> ArmReport {
        self.scores.sort_by(f64::total_cmp);
        self.latencies.sort_by(f64::total_cmp);
        let score_quantiles = SCORE_QUANTILES
            .iter()
            .filter_map(|&q| stats::quantile(&self.scores, q).map(|s| (q, s)))
            .collect();
        ArmReport {
            arm,
            requests: self.requests,
            errors: self.errors,
            error_rate: ratio(self.errors, self.requests),
            anomaly_rate: stats::wilson(self.anomalies, self.rows),
            score_quantiles,
            latency_p50_us: stats::quantile(&self.latencies, 0.50),
            latency_p95_us: stats::quantile(&self.latencies, 0.95),
            latency_p99_us: stats::quantile(&self.latencies, 0.99),
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Accumulates records (streamed from the store) into a report.
#[derive(Debug, Default)]
pub struct ReportBuilder {
    records: u64,
    champion: ArmAcc,
    challenger: ArmAcc,
    /// Paired rows: (champion anomaly, challenger anomaly) counts.
    both: u64,
    champion_only: u64,
    challenger_only: u64,
    neither: u64,
    abs_diff_sum: f64,
    abs_diff_n: u64,
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, r: &ComparisonRecord) {
        self.records += 1;
        match r.served {
            Arm::Champion => self.champion.served += 1,
            Arm::Challenger => self.challenger.served += 1,
        }
        if let Some(a) = &r.champion {
            self.champion.add(a);
        }
        if let Some(b) = &r.challenger {
            self.challenger.add(b);
        }
        let (Some(a), Some(b)) = (&r.champion, &r.challenger) else {
            return;
        };
        if !a.ok() || !b.ok() || a.labels.len() != b.labels.len() {
            return;
        }
        for (la, lb) in a.labels.iter().zip(&b.labels) {
            match (la, lb) {
                (true, true) => self.both += 1,
                (true, false) => self.champion_only += 1,
                (false, true) => self.challenger_only += 1,
                (false, false) => self.neither += 1,
            }
        }
        if a.scores.len() == b.scores.len() {
            for (sa, sb) in a.scores.iter().zip(&b.scores) {
                self.abs_diff_sum += (sb - sa).abs();
                self.abs_diff_n += 1;
            }
        }
    }

    /// The report for a trial in `mode` with challenger share `weight`.
    pub fn finish(self, mode: Mode, weight: f64, gates: &Gates) -> Report {
        let paired = self.both + self.champion_only + self.challenger_only + self.neither;
        let shadow = mode == Mode::Shadow;
        let psi = stats::psi(&self.champion.scores, &self.challenger.scores);
        let srm = if mode == Mode::Split {
            stats::sample_ratio_mismatch(self.champion.served, self.challenger.served, weight)
        } else {
            None
        };
        let score_histogram = stats::shared_histogram(
            &self.champion.scores,
            &self.challenger.scores,
            SCORE_HISTOGRAM_BINS,
        )
        .map(|(edges, champion, challenger)| ScoreHistogram {
            edges,
            champion,
            challenger,
        });
        let (ca, cb) = (&self.champion, &self.challenger);
        let comparison = ArmComparison {
            anomaly_rate_delta: ratio(cb.anomalies, cb.rows) - ratio(ca.anomalies, ca.rows),
            anomaly_rate_test: stats::two_proportion_z(
                ca.anomalies,
                ca.rows,
                cb.anomalies,
                cb.rows,
            ),
            paired_rows: paired,
            agreement: (shadow && paired > 0)
                .then(|| stats::wilson(self.both + self.neither, paired)),
            mcnemar: if shadow {
                stats::mcnemar(self.champion_only, self.challenger_only)
            } else {
                None
            },
            mean_abs_score_diff: (shadow && self.abs_diff_n > 0)
                .then(|| self.abs_diff_sum / self.abs_diff_n as f64),
            psi,
            sample_ratio_mismatch: srm,
        };
        let champion = self.champion.finish(Arm::Champion);
        let challenger = self.challenger.finish(Arm::Challenger);
        let (verdict, reasons, checks) = judge(&champion, &challenger, &comparison, gates);
        Report {
            records: self.records,
            champion,
            challenger,
            comparison,
            verdict,
            reasons,
            checks,
            score_histogram,
            losses: Default::default(),
        }
    }
}

/// Computes the report of a record set at once.
pub fn compute<'a>(
    records: impl IntoIterator<Item = &'a ComparisonRecord>,
    mode: Mode,
    weight: f64,
    gates: &Gates,
) -> Report {
    let mut b = ReportBuilder::new();
    for r in records {
        b.add(r);
    }
    b.finish(mode, weight, gates)
}

/// The verdict: `keep_running` until both arms have `min_samples`
/// successful requests; then `reject` if any gate is violated, else
/// `keep_running` on a sample-ratio mismatch (p < [`SRM_ALPHA`]: the
/// assignment is broken and the figures cannot be trusted), else `promote`.
/// Also returns the reasons (one line each) and the gates checked.
pub fn judge(
    champion: &ArmReport,
    challenger: &ArmReport,
    cmp: &ArmComparison,
    gates: &Gates,
) -> (Verdict, Vec<String>, Vec<GateCheck>) {
    let ok = |a: &ArmReport| a.requests - a.errors;
    let mut reasons = Vec::new();
    let (n1, n2) = (ok(champion), ok(challenger));
    let enough = n1 >= gates.min_samples && n2 >= gates.min_samples;
    let mut checks = vec![GateCheck {
        gate: "min_samples",
        value: n1.min(n2) as f64,
        limit: gates.min_samples as f64,
        is_max: false,
        passed: enough,
    }];
    if !enough {
        reasons.push(format!(
            "min_samples: need {} successful requests per arm, have champion {n1}, challenger {n2}",
            gates.min_samples
        ));
        return (Verdict::KeepRunning, reasons, checks);
    }
    let mut violated = false;
    let mut check = |name: &'static str, value: Option<f64>, limit: Option<f64>, max: bool| {
        let (Some(v), Some(l)) = (value, limit) else {
            return;
        };
        let bad = if max { v > l } else { v < l };
        violated |= bad;
        checks.push(GateCheck {
            gate: name,
            value: v,
            limit: l,
            is_max: max,
            passed: !bad,
        });
        let op = match (max, bad) {
            (true, true) => ">",
            (true, false) => "≤",
            (false, true) => "<",
            (false, false) => "≥",
        };
        let status = if bad { "violated" } else { "ok" };
        reasons.push(format!("{name}: {v:.6} {op} {l} ({status})"));
    };
    check(
        "max_error_rate",
        Some(challenger.error_rate),
        gates.max_error_rate,
        true,
    );
    check(
        "max_anomaly_rate_delta",
        Some(cmp.anomaly_rate_delta.abs()),
        gates.max_anomaly_rate_delta,
        true,
    );
    check(
        "min_agreement",
        cmp.agreement.map(|a| a.estimate),
        gates.min_agreement,
        false,
    );
    let p99_ratio = match (challenger.latency_p99_us, champion.latency_p99_us) {
        (Some(b), Some(a)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    check(
        "max_p99_latency_ratio",
        p99_ratio,
        gates.max_p99_latency_ratio,
        true,
    );
    if violated {
        return (Verdict::Reject, reasons, checks);
    }
    if let Some(srm) = cmp.sample_ratio_mismatch
        && srm.p_value < SRM_ALPHA
    {
        reasons.push(format!(
            "sample ratio mismatch: chi2 {:.3}, p {:.2e} < {SRM_ALPHA}; check the routing before deciding",
            srm.statistic, srm.p_value
        ));
        return (Verdict::KeepRunning, reasons, checks);
    }
    (Verdict::Promote, reasons, checks)
}
