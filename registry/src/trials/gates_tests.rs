//! Unit tests of the gate verdict (beside `gates.rs`).

use super::*;

fn arm(requests: u64, errors: u64, rows: u64, anomalies: u64) -> ArmCounts {
    // One labelled row per successful request.
    let mut row_sums = crate::trials::sequential::RowSums::default();
    for i in 0..rows {
        row_sums.add(1, u64::from(i < anomalies));
    }
    ArmCounts {
        requests,
        errors,
        rows,
        anomalies,
        row_sums,
    }
}

fn evidence<'a>(split: &'a [SplitPeriod]) -> Evidence<'a> {
    Evidence {
        champion: arm(20_000, 100, 19_900, 995),
        challenger: arm(20_000, 100, 19_900, 995),
        paired_rows: 0,
        agreeing_rows: 0,
        champion_latencies: crate::trials::sample::NO_VALUES,
        challenger_latencies: crate::trials::sample::NO_VALUES,
        psi: Some(0.01),
        running_secs: Some(10.0),
        split_periods: split,
    }
}

#[test]
fn bonferroni_splits_alpha_over_the_sequential_gates_only() {
    let g = Gates {
        max_error_rate: Some(0.1),
        max_anomaly_rate_delta: Some(0.1),
        max_psi: Some(0.25),
        min_duration_secs: Some(1),
        ..Gates::default()
    };
    assert_eq!(sequential_gates(&g), 2);
    let f = figures(&evidence(&[]), &g);
    assert!((f.gate_alpha - 0.025).abs() < 1e-15);
    assert_eq!(f.anomaly_rate_delta.map(|s| s.alpha), Some(f.gate_alpha));
    // No sequential gate: the sequences shown are at the whole α.
    let whole = figures(&evidence(&[]), &Gates::default()).gate_alpha;
    assert!((whole - 0.05).abs() < 1e-15, "{whole}");
}

#[test]
fn tolerances_are_satisfied_violated_or_undecided() {
    let s = Sequence {
        estimate: 0.0,
        low: -0.01,
        high: 0.01,
        alpha: 0.05,
    };
    assert_eq!(within(&s, 0.02), GateState::Satisfied);
    assert_eq!(within(&s, 0.005), GateState::Undecided);
    let far = Sequence {
        estimate: 0.05,
        low: 0.04,
        high: 0.06,
        alpha: 0.05,
    };
    assert_eq!(within(&far, 0.03), GateState::Violated);
    assert_eq!(at_most(&far, 0.07), GateState::Satisfied);
    assert_eq!(at_most(&far, 0.05), GateState::Undecided);
    assert_eq!(at_most(&far, 0.03), GateState::Violated);
    assert_eq!(at_least(&far, 0.03), GateState::Satisfied);
    assert_eq!(at_least(&far, 0.07), GateState::Violated);
}

#[test]
fn a_sample_ratio_mismatch_holds_a_promotion_and_a_point_gate_never_rejects() {
    let g = Gates {
        max_anomaly_rate_delta: Some(0.05),
        ..Gates::default()
    };
    let fine = [SplitPeriod {
        period: 1,
        champion_served: 9_000,
        challenger_served: 1_000,
        weight: 0.1,
    }];
    assert_eq!(decide(&evidence(&fine), &g).verdict, Verdict::Promote);
    let broken = [SplitPeriod {
        challenger_served: 2_000,
        ..fine[0]
    }];
    let d = decide(&evidence(&broken), &g);
    assert_eq!(d.verdict, Verdict::KeepRunning);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("sample ratio mismatch in period 1")),
        "{:?}",
        d.reasons
    );
    let psi = Gates {
        max_psi: Some(0.001),
        ..g
    };
    let d = decide(&evidence(&fine), &psi);
    assert_eq!(d.verdict, Verdict::KeepRunning, "{:?}", d.reasons);
    assert_eq!(d.checks.last().map(|c| c.state), Some(GateState::Undecided));
}

#[test]
fn a_challenger_failing_its_requests_is_rejected_before_min_samples_successes() {
    let g = Gates {
        max_error_rate: Some(0.01),
        ..Gates::default()
    };
    let mut e = evidence(&[]);
    // Every challenger request failed: no successful sample, ever.
    e.challenger = arm(5_000, 5_000, 0, 0);
    let d = decide(&e, &g);
    assert_eq!(d.verdict, Verdict::Reject, "{:?}", d.reasons);
    assert!(
        d.reasons.iter().any(|r| r.starts_with("max_error_rate:")),
        "{:?}",
        d.reasons
    );
    assert!(d.reasons[0].starts_with("min_samples:"), "{:?}", d.reasons);
    // Too few requests to judge even the error rate: keep running.
    e.challenger = arm(500, 500, 0, 0);
    assert_eq!(decide(&e, &g).verdict, Verdict::KeepRunning);
    // Without an error-rate gate nothing rejects it here.
    e.challenger = arm(5_000, 5_000, 0, 0);
    assert_eq!(decide(&e, &Gates::default()).verdict, Verdict::KeepRunning);
    // A healthy challenger short of successes keeps running, with the
    // min_samples reason only.
    e.challenger = arm(900, 0, 900, 45);
    let d = decide(&e, &g);
    assert_eq!(d.verdict, Verdict::KeepRunning);
    assert_eq!(d.reasons.len(), 1, "{:?}", d.reasons);
}
