//! The trial report (pure): per-arm figures, between-arm tests and the
//! verdict against the trial's gates, computed from comparison records.
//! Definitions are in docs/trials.md; the figures are checked against
//! scipy in `registry/tests/trial_report.rs`.

use crate::trials::domain::{Arm, ComparisonRecord, Gates, Mode, Period};
use crate::trials::gates::{self, ArmCounts, Evidence, SplitPeriod};
pub use crate::trials::gates::{GateCheck, GateState, SRM_ALPHA, SequentialFigures};
pub use crate::trials::periods::PeriodReport;
use crate::trials::periods::PeriodsBuilder;
use crate::trials::rollup::{ArmRollup, Latencies, Rollup, Scores};
use crate::trials::sample::{self, Sample};
use crate::trials::sequential::RowSums;
use crate::trials::stats::{self, Proportion, Test};

/// Score quantiles reported per arm.
pub const SCORE_QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];
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
    /// Per-request sums of the labelled rows (mergeable; for the
    /// sequential anomaly-rate figures).
    pub row_sums: RowSums,
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
    /// Chi-square of served-arm counts against the weight, over the latest
    /// period when it is a split period (fixed-horizon).
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
    /// The always-valid (sequential) figures the verdict is judged on.
    pub sequential: SequentialFigures,
    /// Per-period counts, oldest first (empty when the builder was given
    /// no periods).
    pub periods: Vec<PeriodReport>,
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
    row_sums: RowSums,
    /// Merged rollup sketches (the distribution figures read these when
    /// the report is built from rollups).
    sketch: Option<(Latencies, Scores)>,
}

impl ArmAcc {
    fn add(&mut self, r: &crate::trials::domain::ArmResult) {
        self.requests += 1;
        if !r.ok() {
            self.errors += 1;
            return;
        }
        self.latencies.push(r.latency_us as f64);
        let rows = r.labels.len() as u64;
        let anomalies = r.labels.iter().filter(|&&l| l).count() as u64;
        self.rows += rows;
        self.anomalies += anomalies;
        self.row_sums.add(rows, anomalies);
        self.scores.extend_from_slice(&r.scores);
    }

    fn merge(&mut self, r: &ArmRollup) -> crate::error::Result<()> {
        let c = &r.counts;
        self.requests += c.requests;
        self.errors += c.errors;
        self.rows += c.rows;
        self.anomalies += c.anomalies;
        self.row_sums.merge(&c.row_sums);
        let mut one = ArmRollup::default();
        if let Some((l, s)) = self.sketch.take() {
            one.latencies = l;
            one.scores = s;
        }
        one.merge(r)?;
        self.sketch = Some((one.latencies, one.scores));
        Ok(())
    }

    /// The latency and score distributions: the sketches when built from
    /// rollups, else the sorted values.
    fn samples(&self) -> (&dyn Sample, &dyn Sample) {
        match &self.sketch {
            Some((l, s)) => (l, s),
            None => (&self.latencies, &self.scores),
        }
    }

    fn finish(mut self, arm: Arm) -> ArmReport {
        self.scores.sort_by(f64::total_cmp);
        self.latencies.sort_by(f64::total_cmp);
        let (latencies, scores) = self.samples();
        let score_quantiles = SCORE_QUANTILES
            .iter()
            .filter_map(|&q| sample::quantile(scores, q).map(|s| (q, s)))
            .collect();
        let (p50, p95, p99) = (
            sample::quantile(latencies, 0.50),
            sample::quantile(latencies, 0.95),
            sample::quantile(latencies, 0.99),
        );
        ArmReport {
            arm,
            requests: self.requests,
            errors: self.errors,
            error_rate: ratio(self.errors, self.requests),
            anomaly_rate: stats::wilson(self.anomalies, self.rows),
            score_quantiles,
            latency_p50_us: p50,
            latency_p95_us: p95,
            latency_p99_us: p99,
            row_sums: self.row_sums,
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
    running_secs: Option<f64>,
    periods: PeriodsBuilder,
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the trial has run (for `min_duration_secs`); unknown
    /// otherwise, and a minimum duration then holds the verdict.
    pub fn running_secs(&mut self, secs: f64) {
        self.running_secs = Some(secs);
    }

    /// The trial's periods (oldest first): records are also counted per
    /// period, and each split period gets its own sample-ratio check.
    /// Without periods the whole trial is one period of the mode and
    /// weight given to [`finish`](Self::finish).
    pub fn periods(&mut self, periods: Vec<Period>) {
        self.periods = PeriodsBuilder::new(periods);
    }

    /// Swaps the arms of everything added so far (not the per-period
    /// counts): the report then judges the champion as the challenger of
    /// the challenger. A rollback watch reads its trial this way — the new
    /// champion against the one it replaced, with the same gates.
    pub fn swap_arms(&mut self) {
        std::mem::swap(&mut self.champion, &mut self.challenger);
        std::mem::swap(&mut self.champion_only, &mut self.challenger_only);
    }

    /// Adds a rollup of period `period` (see [`crate::trials::rollup`]).
    pub fn add_rollup(&mut self, period: u32, r: &Rollup) -> crate::error::Result<()> {
        self.records += r.records;
        self.periods.add_rollup(period, r);
        self.champion.served += r.champion_served;
        self.challenger.served += r.challenger_served;
        self.champion.merge(&r.champion)?;
        self.challenger.merge(&r.challenger)?;
        let p = &r.pairs;
        self.both += p.both;
        self.champion_only += p.champion_only;
        self.challenger_only += p.challenger_only;
        self.neither += p.neither;
        self.abs_diff_sum += p.abs_diff_sum;
        self.abs_diff_n += p.abs_diff_n;
        Ok(())
    }

    pub fn add(&mut self, r: &ComparisonRecord) {
        self.records += 1;
        self.periods.add(r);
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
    pub fn finish(mut self, mode: Mode, weight: f64, gates: &Gates) -> Report {
        let paired = self.both + self.champion_only + self.challenger_only + self.neither;
        // Pairs exist only where both arms answered one request (shadow
        // periods); their figures use those rows whatever the mode now.
        let shadow = paired > 0;
        let psi = if self.champion.sketch.is_some() || self.challenger.sketch.is_some() {
            sample::psi(self.champion.samples().1, self.challenger.samples().1)
        } else {
            stats::psi(&self.champion.scores, &self.challenger.scores)
        };
        let periods = if self.periods.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.periods).finish())
        };
        // The splits to check: each split period's own counts and weight
        // (the fixed-horizon χ² uses the latest one).
        let split_periods: Vec<SplitPeriod> = match &periods {
            Some(ps) => ps.iter().filter_map(PeriodReport::split).collect(),
            None if mode == Mode::Split => vec![SplitPeriod {
                period: 0,
                champion_served: self.champion.served,
                challenger_served: self.challenger.served,
                weight,
            }],
            None => Vec::new(),
        };
        let current_split = match &periods {
            Some(ps) => ps.last().and_then(PeriodReport::split),
            None => split_periods.first().copied(),
        };
        let srm = current_split.and_then(|p| {
            stats::sample_ratio_mismatch(p.champion_served, p.challenger_served, p.weight)
        });
        let score_histogram = if self.champion.sketch.is_some() || self.challenger.sketch.is_some()
        {
            sample::shared_histogram(
                self.champion.samples().1,
                self.challenger.samples().1,
                SCORE_HISTOGRAM_BINS,
            )
        } else {
            stats::shared_histogram(
                &self.champion.scores,
                &self.challenger.scores,
                SCORE_HISTOGRAM_BINS,
            )
        }
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
        let counts = |a: &ArmAcc| ArmCounts {
            requests: a.requests,
            errors: a.errors,
            rows: a.rows,
            anomalies: a.anomalies,
            row_sums: a.row_sums,
        };
        self.champion.latencies.sort_by(f64::total_cmp);
        self.challenger.latencies.sort_by(f64::total_cmp);
        let decision = gates::decide(
            &Evidence {
                champion: counts(&self.champion),
                challenger: counts(&self.challenger),
                paired_rows: paired,
                agreeing_rows: self.both + self.neither,
                champion_latencies: self.champion.samples().0,
                challenger_latencies: self.challenger.samples().0,
                psi,
                running_secs: self.running_secs,
                split_periods: &split_periods,
            },
            gates,
        );
        let champion = self.champion.finish(Arm::Champion);
        let challenger = self.challenger.finish(Arm::Challenger);
        let gates::Decision {
            verdict,
            reasons,
            checks,
            figures: sequential,
        } = decision;
        Report {
            records: self.records,
            champion,
            challenger,
            comparison,
            verdict,
            reasons,
            checks,
            sequential,
            periods: periods.unwrap_or_default(),
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
