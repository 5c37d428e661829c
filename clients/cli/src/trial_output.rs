//! What `joust trial …` prints: serde views of trials and trial reports
//! for `--json`, and tables for people.

use joust_client::pb;
use serde::Serialize;

use crate::output::time;

pub fn mode_name(raw: i32) -> &'static str {
    match pb::TrialMode::try_from(raw) {
        Ok(pb::TrialMode::Off) => "off",
        Ok(pb::TrialMode::Split) => "split",
        Ok(pb::TrialMode::Shadow) => "shadow",
        _ => "unspecified",
    }
}

pub fn state_name(raw: i32) -> &'static str {
    match pb::TrialState::try_from(raw) {
        Ok(pb::TrialState::Open) => "open",
        Ok(pb::TrialState::Stopped) => "stopped",
        _ => "unspecified",
    }
}

pub fn outcome_name(raw: i32) -> Option<&'static str> {
    match pb::TrialOutcome::try_from(raw) {
        Ok(pb::TrialOutcome::Promote) => Some("promote"),
        Ok(pb::TrialOutcome::Reject) => Some("reject"),
        Ok(pb::TrialOutcome::Abort) => Some("abort"),
        _ => None,
    }
}

pub fn verdict_name(raw: i32) -> &'static str {
    match pb::TrialVerdict::try_from(raw) {
        Ok(pb::TrialVerdict::Promote) => "promote",
        Ok(pb::TrialVerdict::Reject) => "reject",
        Ok(pb::TrialVerdict::KeepRunning) => "keep_running",
        _ => "unspecified",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GatesView {
    pub min_samples: u64,
    pub max_anomaly_rate_delta: Option<f64>,
    pub min_agreement: Option<f64>,
    pub max_p99_latency_ratio: Option<f64>,
    pub max_error_rate: Option<f64>,
    pub max_error_rate_delta: Option<f64>,
    pub max_psi: Option<f64>,
    pub min_duration_secs: Option<u64>,
    pub confidence: f64,
}

impl From<pb::TrialGates> for GatesView {
    fn from(g: pb::TrialGates) -> Self {
        GatesView {
            min_samples: g.min_samples,
            max_anomaly_rate_delta: g.max_anomaly_rate_delta,
            min_agreement: g.min_agreement,
            max_p99_latency_ratio: g.max_p99_latency_ratio,
            max_error_rate: g.max_error_rate,
            max_error_rate_delta: g.max_error_rate_delta,
            max_psi: g.max_psi,
            min_duration_secs: g.min_duration_secs,
            confidence: g.confidence,
        }
    }
}

impl GatesView {
    /// (name, threshold) of every set gate, in the order the verdict
    /// checks them.
    pub fn set(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("min_samples", self.min_samples.to_string())];
        let opt = [
            ("max_error_rate", self.max_error_rate),
            ("max_error_rate_delta", self.max_error_rate_delta),
            ("max_anomaly_rate_delta", self.max_anomaly_rate_delta),
            ("min_agreement", self.min_agreement),
            ("max_p99_latency_ratio", self.max_p99_latency_ratio),
            ("max_psi", self.max_psi),
            (
                "min_duration_secs",
                self.min_duration_secs.map(|s| s as f64),
            ),
        ];
        out.extend(
            opt.into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v.to_string()))),
        );
        out
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialView {
    pub id: u64,
    pub model: String,
    pub champion_version: u64,
    pub challenger_version: u64,
    pub mode: &'static str,
    pub weight: f64,
    pub sampling: f64,
    pub sticky: bool,
    pub gates: GatesView,
    pub state: &'static str,
    pub outcome: Option<&'static str>,
    pub started_at: String,
    pub updated_at: String,
    pub stopped_at: String,
    pub started_by: String,
    pub reason: String,
    /// The trial's plan and where it is (absent: no plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::trial_plan::PlanView>,
}

impl From<pb::Trial> for TrialView {
    fn from(t: pb::Trial) -> Self {
        TrialView {
            started_at: time(&t.started_at),
            updated_at: time(&t.updated_at),
            stopped_at: time(&t.stopped_at),
            mode: mode_name(t.mode),
            state: state_name(t.state),
            outcome: outcome_name(t.outcome),
            gates: t.gates.unwrap_or_default().into(),
            id: t.id,
            model: t.model,
            champion_version: t.champion_version,
            challenger_version: t.challenger_version,
            weight: t.weight,
            sampling: t.sampling,
            sticky: t.sticky,
            started_by: t.started_by,
            reason: t.reason,
            plan: t.plan.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct IntervalView {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub successes: u64,
    pub trials: u64,
}

impl From<pb::TrialInterval> for IntervalView {
    fn from(i: pb::TrialInterval) -> Self {
        IntervalView {
            estimate: i.estimate,
            low: i.low,
            high: i.high,
            successes: i.successes,
            trials: i.trials,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TestView {
    pub statistic: f64,
    pub p_value: f64,
}

impl From<pb::TrialTest> for TestView {
    fn from(t: pb::TrialTest) -> Self {
        TestView {
            statistic: t.statistic,
            p_value: t.p_value,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmView {
    pub version: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub anomaly_rate: Option<IntervalView>,
    /// (q, score).
    pub score_quantiles: Vec<(f64, f64)>,
    pub latency_p50_us: Option<f64>,
    pub latency_p95_us: Option<f64>,
    pub latency_p99_us: Option<f64>,
    /// Records refused by the registry / dropped by routers on this arm.
    pub refused: u64,
    pub dropped: u64,
}

impl From<pb::TrialArmReport> for ArmView {
    fn from(a: pb::TrialArmReport) -> Self {
        ArmView {
            version: a.version,
            requests: a.requests,
            errors: a.errors,
            error_rate: a.error_rate,
            anomaly_rate: a.anomaly_rate.map(Into::into),
            score_quantiles: a.score_quantiles.iter().map(|q| (q.q, q.value)).collect(),
            latency_p50_us: a.latency_p50_us,
            latency_p95_us: a.latency_p95_us,
            latency_p99_us: a.latency_p99_us,
            refused: a.refused,
            dropped: a.dropped,
        }
    }
}

/// Lost records of one arm, kind (`refused`, `dropped`) and reason.
#[derive(Debug, Clone, Serialize)]
pub struct LossView {
    /// `champion`, `challenger` or `-` (the record named no valid arm).
    pub arm: &'static str,
    pub kind: String,
    pub reason: String,
    pub count: u64,
}

impl From<pb::TrialRecordLoss> for LossView {
    fn from(l: pb::TrialRecordLoss) -> Self {
        LossView {
            arm: match pb::TrialArm::try_from(l.arm) {
                Ok(pb::TrialArm::Champion) => "champion",
                Ok(pb::TrialArm::Challenger) => "challenger",
                _ => "-",
            },
            kind: l.kind,
            reason: l.reason,
            count: l.count,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub gate: &'static str,
    pub threshold: String,
    /// `pass`, `fail`, `undecided` or `not_checked` (min_samples not
    /// reached).
    pub result: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub trial: TrialView,
    pub records: u64,
    pub champion: Option<ArmView>,
    pub challenger: Option<ArmView>,
    pub anomaly_rate_delta: f64,
    pub anomaly_rate_test: Option<TestView>,
    pub paired_rows: u64,
    pub agreement: Option<IntervalView>,
    pub mcnemar: Option<TestView>,
    pub mean_abs_score_diff: Option<f64>,
    pub psi: Option<f64>,
    pub sample_ratio_mismatch: Option<TestView>,
    /// Always-valid figures (confidence sequences); the figures above are
    /// fixed-horizon (valid for a single look).
    pub sequential: Option<SequentialView>,
    /// Per period (mode, weight or sampling change), oldest first.
    pub periods: Vec<PeriodView>,
    pub gates: Vec<GateResult>,
    pub verdict: &'static str,
    pub reasons: Vec<String>,
    /// Records refused by the registry and dropped by routers, all arms.
    pub refused: u64,
    pub dropped: u64,
    pub losses: Vec<LossView>,
}

/// Result of each set gate, from the registry's checks (the registry
/// judges; the CLI does not recompute): `pass` (satisfied with the trial's
/// confidence), `fail` (violated with it), `undecided`, or `not_checked`
/// (min_samples not reached).
fn gate_results(
    gates: &GatesView,
    checks: &[pb::TrialGateCheck],
    reasons: &[String],
) -> Vec<GateResult> {
    gates
        .set()
        .into_iter()
        .map(|(gate, threshold)| {
            let check = checks.iter().find(|c| c.gate == gate);
            let result = match check.map(|c| c.state.as_str()) {
                Some("satisfied") => "pass",
                Some("violated") => "fail",
                Some(_) if gate == "min_samples" => "fail",
                Some(_) => "undecided",
                None => "not_checked",
            };
            let reason = reasons.iter().find(|r| r.starts_with(&format!("{gate}:")));
            GateResult {
                gate,
                threshold,
                result,
                detail: reason.cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// An always-valid figure: estimate with its confidence sequence.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SequenceView {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub alpha: f64,
}

impl From<pb::TrialSequence> for SequenceView {
    fn from(s: pb::TrialSequence) -> Self {
        SequenceView {
            estimate: s.estimate,
            low: s.low,
            high: s.high,
            alpha: s.alpha,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServedShareView {
    pub period: u32,
    pub weight: f64,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub share: Option<SequenceView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodArmView {
    pub requests: u64,
    pub errors: u64,
    pub rows: u64,
    pub anomalies: u64,
}

impl From<pb::TrialPeriodArm> for PeriodArmView {
    fn from(a: pb::TrialPeriodArm) -> Self {
        PeriodArmView {
            requests: a.requests,
            errors: a.errors,
            rows: a.rows,
            anomalies: a.anomalies,
        }
    }
}

/// One period of a trial.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodView {
    pub period: u32,
    pub started_at: String,
    pub mode: &'static str,
    pub weight: f64,
    pub sampling: f64,
    pub records: u64,
    pub champion_served: u64,
    pub challenger_served: u64,
    pub champion: Option<PeriodArmView>,
    pub challenger: Option<PeriodArmView>,
    pub paired_rows: u64,
    pub agreeing_rows: u64,
}

impl From<pb::TrialPeriod> for PeriodView {
    fn from(p: pb::TrialPeriod) -> Self {
        PeriodView {
            period: p.period,
            started_at: time(&p.started_at),
            mode: mode_name(p.mode),
            weight: p.weight,
            sampling: p.sampling,
            records: p.records,
            champion_served: p.champion_served,
            challenger_served: p.challenger_served,
            champion: p.champion.map(Into::into),
            challenger: p.challenger.map(Into::into),
            paired_rows: p.paired_rows,
            agreeing_rows: p.agreeing_rows,
        }
    }
}

fn print_periods(periods: &[PeriodView]) {
    if periods.is_empty() {
        return;
    }
    outln!(
        "{:<7} {:<25} {:<7} {:>7} {:>9} {:>9} {:>10} {:>10} {:>16} {:>16} {:>9}",
        "PERIOD",
        "STARTED",
        "MODE",
        "WEIGHT",
        "SAMPLING",
        "RECORDS",
        "SERVED A",
        "SERVED B",
        "A ANOM/ROWS",
        "B ANOM/ROWS",
        "PAIRED"
    );
    let rows = |a: &Option<PeriodArmView>| {
        a.as_ref()
            .map_or_else(|| "-".to_owned(), |a| format!("{}/{}", a.anomalies, a.rows))
    };
    for p in periods {
        outln!(
            "{:<7} {:<25} {:<7} {:>7} {:>9} {:>9} {:>10} {:>10} {:>16} {:>16} {:>9}",
            p.period,
            p.started_at,
            p.mode,
            p.weight,
            p.sampling,
            p.records,
            p.champion_served,
            p.challenger_served,
            rows(&p.champion),
            rows(&p.challenger),
            p.paired_rows
        );
    }
    outln!();
}

/// The sequential figures the verdict is judged on.
#[derive(Debug, Clone, Serialize)]
pub struct SequentialView {
    pub confidence: f64,
    pub gate_alpha: f64,
    pub challenger_error_rate: Option<SequenceView>,
    pub error_rate_delta: Option<SequenceView>,
    pub anomaly_rate_delta: Option<SequenceView>,
    pub agreement: Option<SequenceView>,
    pub p99_latency_ratio: Option<SequenceView>,
    pub served_share: Vec<ServedShareView>,
}

impl From<pb::TrialSequential> for SequentialView {
    fn from(s: pb::TrialSequential) -> Self {
        SequentialView {
            confidence: s.confidence,
            gate_alpha: s.gate_alpha,
            challenger_error_rate: s.challenger_error_rate.map(Into::into),
            error_rate_delta: s.error_rate_delta.map(Into::into),
            anomaly_rate_delta: s.anomaly_rate_delta.map(Into::into),
            agreement: s.agreement.map(Into::into),
            p99_latency_ratio: s.p99_latency_ratio.map(Into::into),
            served_share: s
                .served_share
                .into_iter()
                .map(|p| ServedShareView {
                    period: p.period,
                    weight: p.weight,
                    champion_served: p.champion_served,
                    challenger_served: p.challenger_served,
                    share: p.share.map(Into::into),
                })
                .collect(),
        }
    }
}

impl From<pb::TrialReport> for ReportView {
    fn from(r: pb::TrialReport) -> Self {
        let trial = TrialView::from(r.trial.unwrap_or_default());
        let gates = gate_results(&trial.gates, &r.checks, &r.reasons);
        ReportView {
            trial,
            records: r.records,
            champion: r.champion.map(Into::into),
            challenger: r.challenger.map(Into::into),
            anomaly_rate_delta: r.anomaly_rate_delta,
            anomaly_rate_test: r.anomaly_rate_test.map(Into::into),
            paired_rows: r.paired_rows,
            agreement: r.agreement.map(Into::into),
            mcnemar: r.mcnemar.map(Into::into),
            mean_abs_score_diff: r.mean_abs_score_diff,
            psi: r.psi,
            sample_ratio_mismatch: r.sample_ratio_mismatch.map(Into::into),
            sequential: r.sequential.map(Into::into),
            periods: r.periods.into_iter().map(Into::into).collect(),
            gates,
            verdict: verdict_name(r.verdict),
            reasons: r.reasons,
            refused: r.refused,
            dropped: r.dropped,
            losses: r.losses.into_iter().map(Into::into).collect(),
        }
    }
}

pub fn print_trial(t: &TrialView) {
    let outcome = t.outcome.map(|o| format!(" ({o})")).unwrap_or_default();
    outln!(
        "trial {}  {}  champion v{} vs challenger v{}  {}{}",
        t.id,
        t.model,
        t.champion_version,
        t.challenger_version,
        t.state,
        outcome
    );
    let share = match t.mode {
        "split" => format!("weight {}", t.weight),
        "shadow" => format!("sampling {}", t.sampling),
        _ => String::new(),
    };
    outln!(
        "  mode {} {}{}",
        t.mode,
        share,
        if t.sticky { "  sticky" } else { "" }
    );
    let gates: Vec<String> = t
        .gates
        .set()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    outln!(
        "  gates {}  confidence {}",
        gates.join(" "),
        t.gates.confidence
    );
    outln!("  started {} by {}", t.started_at, t.started_by);
    if !t.stopped_at.is_empty() {
        outln!("  stopped {}", t.stopped_at);
    }
    if !t.reason.is_empty() {
        outln!("  reason: {}", t.reason);
    }
    if let Some(p) = &t.plan {
        crate::trial_plan::print_plan(p);
    }
}

pub fn print_trial_row(t: &TrialView) {
    outln!(
        "{:>5}  {:<24} {:>8} {:>10}  {:<6} {:>6} {:>8}  {:<7} {:<8} {}",
        t.id,
        t.model,
        t.champion_version,
        t.challenger_version,
        t.mode,
        t.weight,
        t.sampling,
        t.state,
        t.outcome.unwrap_or("-"),
        t.started_at
    );
}

/// A figure with 4 decimals, `-` when absent.
pub fn fig(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
}

/// A latency in µs with one decimal, `-` when absent.
fn micros(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// A p-value: 4 decimals, scientific below 10⁻⁴.
pub fn p_value(p: f64) -> String {
    if p > 0.0 && p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// A test as `stat 1.2345  p 0.0123`.
pub fn test(t: Option<TestView>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| format!("stat {:.4}  p {}", t.statistic, p_value(t.p_value)),
    )
}

fn interval(i: Option<IntervalView>) -> String {
    i.map_or_else(
        || "-".to_owned(),
        |i| {
            format!(
                "{:.4} [{:.4}, {:.4}] ({}/{})",
                i.estimate, i.low, i.high, i.successes, i.trials
            )
        },
    )
}

pub fn print_report(r: &ReportView) {
    print_trial(&r.trial);
    outln!(
        "records {}  refused {}  dropped {}",
        r.records,
        r.refused,
        r.dropped
    );
    outln!();
    outln!(
        "{:<11} {:>7} {:>9} {:>7} {:>9}  {:<36} {:>10} {:>10} {:>10}",
        "ARM",
        "VERSION",
        "REQUESTS",
        "ERRORS",
        "ERR RATE",
        "ANOMALY RATE [95% CI] (rows)",
        "P50 µs",
        "P95 µs",
        "P99 µs"
    );
    for (name, arm) in [("champion", &r.champion), ("challenger", &r.challenger)] {
        let Some(a) = arm else {
            outln!("{name:<11} -");
            continue;
        };
        outln!(
            "{:<11} {:>7} {:>9} {:>7} {:>9}  {:<36} {:>10} {:>10} {:>10}",
            name,
            a.version,
            a.requests,
            a.errors,
            format!("{:.4}", a.error_rate),
            interval(a.anomaly_rate),
            micros(a.latency_p50_us),
            micros(a.latency_p95_us),
            micros(a.latency_p99_us)
        );
    }
    for (name, arm) in [("champion", &r.champion), ("challenger", &r.challenger)] {
        if let Some(a) = arm
            && !a.score_quantiles.is_empty()
        {
            let qs: Vec<String> = a
                .score_quantiles
                .iter()
                .map(|(q, v)| format!("q{:.0}={v:.4}", q * 100.0))
                .collect();
            outln!("{name:<11} scores {}", qs.join(" "));
        }
    }
    for (name, arm) in [("champion", &r.champion), ("challenger", &r.challenger)] {
        if let Some(a) = arm {
            outln!(
                "{name:<11} records refused {}  dropped {}",
                a.refused,
                a.dropped
            );
        }
    }
    for l in &r.losses {
        outln!("  {:<10} {:<7} {:<24} {}", l.arm, l.kind, l.reason, l.count);
    }
    outln!();
    outln!("fixed-horizon (valid for one look; do not decide on them while watching)");
    outln!(
        "anomaly rate delta    {:+.4}  (z-test {})",
        r.anomaly_rate_delta,
        test(r.anomaly_rate_test)
    );
    outln!("paired rows           {}", r.paired_rows);
    outln!("agreement             {}", interval(r.agreement));
    outln!("mcnemar               {}", test(r.mcnemar));
    outln!("mean |score diff|     {}", fig(r.mean_abs_score_diff));
    outln!("psi                   {}", fig(r.psi));
    outln!("sample ratio mismatch {}", test(r.sample_ratio_mismatch));
    outln!();
    print_periods(&r.periods);
    if let Some(s) = &r.sequential {
        print_sequential(s);
    }
    outln!("gates");
    for g in &r.gates {
        outln!(
            "  {:<24} {:<10} {:<11} {}",
            g.gate,
            g.threshold,
            g.result,
            g.detail
        );
    }
    outln!();
    outln!("verdict: {}", r.verdict.to_uppercase());
    for reason in &r.reasons {
        outln!("  - {reason}");
    }
}

fn sequence(s: Option<SequenceView>) -> String {
    s.map_or_else(
        || "-".to_owned(),
        |s| format!("{:+.6} [{:+.6}, {:+.6}]", s.estimate, s.low, s.high),
    )
}

fn print_sequential(s: &SequentialView) {
    outln!(
        "sequential (always valid: confidence sequences at {:.4} each, {} overall; the verdict uses these)",
        1.0 - s.gate_alpha,
        s.confidence
    );
    outln!(
        "challenger error rate {}",
        sequence(s.challenger_error_rate)
    );
    outln!("error rate delta      {}", sequence(s.error_rate_delta));
    outln!("anomaly rate delta    {}", sequence(s.anomaly_rate_delta));
    outln!("agreement             {}", sequence(s.agreement));
    outln!("p99 latency ratio     {}", sequence(s.p99_latency_ratio));
    for p in &s.served_share {
        outln!(
            "served share p{}      weight {}  {} ({} champion, {} challenger)",
            p.period,
            p.weight,
            sequence(p.share),
            p.champion_served,
            p.challenger_served
        );
    }
    outln!();
}
