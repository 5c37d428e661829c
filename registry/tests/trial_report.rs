//! The trial report's figures on a fixed record set
//! (`fixtures/trial_records.json`) equal reference values computed with
//! scipy/numpy by `reference_stats.py` (run it to reproduce the numbers
//! below; `--write-fixture` regenerates the record set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::excessive_precision)]

use joust_registry::trials::report::{self, GateState, Verdict};
use joust_registry::trials::sequential::{self, Sequence};
use joust_registry::trials::{Arm, ArmResult, ComparisonRecord, Gates, Mode};
use serde_json::Value;

const TOL: f64 = 1e-6;

fn close(name: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{name}: got {got}, want {want} (scipy)"
    );
}

fn arm(v: &Value) -> Option<ArmResult> {
    if v.is_null() {
        return None;
    }
    Some(ArmResult {
        version: v["version"].as_u64().unwrap(),
        scores: v["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect(),
        labels: v["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_bool().unwrap())
            .collect(),
        latency_us: v["latency_us"].as_u64().unwrap(),
        status_code: i32::try_from(v["status_code"].as_i64().unwrap()).unwrap(),
    })
}

fn records() -> Vec<ComparisonRecord> {
    let raw: Value = serde_json::from_str(include_str!("fixtures/trial_records.json")).unwrap();
    raw.as_array()
        .unwrap()
        .iter()
        .map(|r| ComparisonRecord {
            record_id: r["record_id"].as_str().unwrap().to_owned(),
            trial_id: 1,
            request_id: String::new(),
            time: chrono::DateTime::UNIX_EPOCH,
            routing_key_hash: 0,
            served: r["served"].as_str().unwrap().parse::<Arm>().unwrap(),
            champion: arm(&r["champion"]),
            challenger: arm(&r["challenger"]),
        })
        .collect()
}

#[test]
fn shadow_report_matches_scipy() {
    let recs = records();
    let r = report::compute(&recs, Mode::Shadow, 0.25, &Gates::default());
    assert_eq!(r.records, 600);

    let a = &r.champion;
    assert_eq!((a.requests, a.errors), (600, 15));
    assert_eq!(
        (a.anomaly_rate.successes, a.anomaly_rate.trials),
        (112, 1156)
    );
    close(
        "champion rate",
        a.anomaly_rate.estimate,
        0.09688581314878893,
    );
    close(
        "champion wilson low",
        a.anomaly_rate.low,
        0.08114512040994587,
    );
    close(
        "champion wilson high",
        a.anomaly_rate.high,
        0.1152967786857799,
    );
    let want = [-1.67843775, -0.65880475, 0.0365375, 0.617668, 1.50349525];
    for ((_, got), want) in a.score_quantiles.iter().zip(want) {
        close("champion score quantile", *got, want);
    }
    close("champion p50", a.latency_p50_us.unwrap(), 172.0);
    close(
        "champion p95",
        a.latency_p95_us.unwrap(),
        413.79999999999995,
    );
    close("champion p99", a.latency_p99_us.unwrap(), 500.0);

    let b = &r.challenger;
    assert_eq!((b.requests, b.errors), (465, 21));
    assert_eq!(
        (b.anomaly_rate.successes, b.anomaly_rate.trials),
        (108, 878)
    );
    close(
        "challenger rate",
        b.anomaly_rate.estimate,
        0.12300683371298406,
    );
    close(
        "challenger wilson low",
        b.anomaly_rate.low,
        0.1029091485139696,
    );
    close(
        "challenger wilson high",
        b.anomaly_rate.high,
        0.1463890179781036,
    );
    let want = [
        -1.6304309000000001,
        -0.611837,
        0.0679195,
        0.6750885,
        1.7131847499999997,
    ];
    for ((_, got), want) in b.score_quantiles.iter().zip(want) {
        close("challenger score quantile", *got, want);
    }
    close("challenger p50", b.latency_p50_us.unwrap(), 208.0);
    close(
        "challenger p95",
        b.latency_p95_us.unwrap(),
        448.24999999999983,
    );
    close(
        "challenger p99",
        b.latency_p99_us.unwrap(),
        562.8299999999999,
    );

    let c = &r.comparison;
    let z = c.anomaly_rate_test.unwrap();
    close("z", z.statistic, 1.8787189181008321);
    close("z p", z.p_value, 0.06028288327184129);
    assert_eq!(c.paired_rows, 856);
    let ag = c.agreement.unwrap();
    close("agreement", ag.estimate, 0.9427570093457944);
    close("agreement low", ag.low, 0.9251260002768814);
    close("agreement high", ag.high, 0.9564318639363961);
    let mc = c.mcnemar.unwrap();
    close("mcnemar chi2", mc.statistic, 23.591836734693878);
    close("mcnemar p", mc.p_value, 1.1909167495392802e-06);
    close(
        "mean |Δscore|",
        c.mean_abs_score_diff.unwrap(),
        0.25191880490654206,
    );
    close("psi", c.psi.unwrap(), 0.008245183888099038);
    assert!(
        c.sample_ratio_mismatch.is_none(),
        "SRM is a split-mode figure"
    );
}

#[test]
fn split_report_has_the_sample_ratio_mismatch_and_keeps_the_pairs_it_has() {
    let recs = records();
    let r = report::compute(&recs, Mode::Split, 0.25, &Gates::default());
    let srm = r.comparison.sample_ratio_mismatch.unwrap();
    close("srm chi2", srm.statistic, 2.0);
    close("srm p", srm.p_value, 0.15729920705028105);
    // Paired rows come from shadow periods; they count whatever the mode.
    close(
        "agreement",
        r.comparison.agreement.unwrap().estimate,
        0.9427570093457944,
    );
    let split_only: Vec<_> = recs
        .iter()
        .cloned()
        .map(|mut r| {
            match r.served {
                Arm::Champion => r.challenger = None,
                Arm::Challenger => r.champion = None,
            }
            r
        })
        .collect();
    let r = report::compute(&split_only, Mode::Split, 0.25, &Gates::default());
    assert!(r.comparison.agreement.is_none());
    assert!(r.comparison.mcnemar.is_none());
}

/// Tolerance of the sequential figures against the Python reference.
const SEQ_TOL: f64 = 1e-9;

fn close_seq(name: &str, got: Option<Sequence>, want: [f64; 3], alpha: f64) {
    let got = got.unwrap_or_else(|| panic!("{name}: missing"));
    for (what, g, w) in [
        ("estimate", got.estimate, want[0]),
        ("low", got.low, want[1]),
        ("high", got.high, want[2]),
    ] {
        let ok = if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= SEQ_TOL
        };
        assert!(ok, "{name} {what}: got {g}, want {w} (reference_stats.py)");
    }
    assert!(
        (got.alpha - alpha).abs() <= 1e-15,
        "{name} alpha {}",
        got.alpha
    );
}

fn all_sequential_gates() -> Gates {
    Gates {
        min_samples: 100,
        max_error_rate: Some(0.2),
        max_error_rate_delta: Some(0.2),
        max_anomaly_rate_delta: Some(0.2),
        min_agreement: Some(0.5),
        max_p99_latency_ratio: Some(100.0),
        ..Gates::default()
    }
}

#[test]
fn sequential_figures_match_the_python_reference() {
    let recs = records();
    let r = report::compute(&recs, Mode::Split, 0.25, &all_sequential_gates());
    let s = &r.sequential;
    let alpha = 0.010000000000000009;
    assert_eq!(s.gate_alpha, alpha, "(1 − 0.95) / 5 gates");
    close_seq(
        "challenger error rate",
        s.challenger_error_rate,
        [0.04516129032258064, 0.0, 0.09679217095856088],
        alpha,
    );
    close_seq(
        "error rate delta",
        s.error_rate_delta,
        [
            0.02016129032258064,
            -0.030202006592709628,
            0.07052458723787092,
        ],
        alpha,
    );
    close_seq(
        "anomaly rate delta",
        s.anomaly_rate_delta,
        [
            0.02612102056419513,
            -0.03508828379005364,
            0.08733032491844389,
        ],
        alpha,
    );
    close_seq(
        "agreement",
        s.agreement,
        [0.9427570093457944, 0.9070190962156924, 0.9784949224758964],
        alpha,
    );
    close_seq(
        "p99 latency ratio",
        s.p99_latency_ratio,
        [1.1256599999999999, 0.0, f64::INFINITY],
        alpha,
    );
    let [(period, share)] = s.served_share.as_slice() else {
        panic!("one split period: {:?}", s.served_share);
    };
    assert_eq!(
        (period.champion_served, period.challenger_served),
        (465, 135)
    );
    close_seq(
        "served share",
        Some(*share),
        [0.225, 0.132834382882416, 0.317165617117584],
        0.001,
    );
    // The rank logic of the quantile sequence on finite ends.
    let latencies = |arm: fn(&ComparisonRecord) -> Option<&ArmResult>| {
        let mut v: Vec<f64> = recs
            .iter()
            .filter_map(arm)
            .filter(|a| a.ok())
            .map(|a| a.latency_us as f64)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    close_seq(
        "champion p50 latency",
        sequential::quantile(&latencies(|r| r.champion.as_ref()), 0.5, 0.0, alpha),
        [172.0, 159.0, 205.0],
        alpha,
    );
    close_seq(
        "challenger p50 latency",
        sequential::quantile(&latencies(|r| r.challenger.as_ref()), 0.5, 0.0, alpha),
        [208.0, 179.0, 242.0],
        alpha,
    );
}

#[test]
fn verdicts_follow_the_gates_as_hypotheses() {
    let recs = records();
    let gates = |f: fn(&mut Gates)| {
        let mut g = Gates {
            min_samples: 100,
            ..Gates::default()
        };
        f(&mut g);
        g
    };
    let verdict = |g: &Gates| {
        let r = report::compute(&recs, Mode::Shadow, 0.25, g);
        (r.verdict, r)
    };
    let (v, r) = verdict(&Gates::default());
    assert_eq!(v, Verdict::KeepRunning, "min_samples 1000: {:?}", r.reasons);

    let (v, r) = verdict(&gates(|_| {}));
    assert_eq!(v, Verdict::Promote, "no gate set: {:?}", r.reasons);

    // Agreement 0.943, sequence [0.911, 0.975] at α 0.05: 0.95 is inside
    // (undecided), 0.98 is above it (violated), 0.9 below it (satisfied).
    let (v, r) = verdict(&gates(|g| g.min_agreement = Some(0.95)));
    assert_eq!(v, Verdict::KeepRunning, "{:?}", r.reasons);
    assert_eq!(r.checks[1].state, GateState::Undecided);
    let (v, r) = verdict(&gates(|g| g.min_agreement = Some(0.98)));
    assert_eq!(v, Verdict::Reject, "{:?}", r.reasons);
    let (v, r) = verdict(&gates(|g| g.min_agreement = Some(0.9)));
    assert_eq!(v, Verdict::Promote, "{:?}", r.reasons);

    // Every sequential gate comfortably wide: the p99 sequence of 465
    // requests is still unbounded above (rank n(0.99 + b) > n), so the
    // latency gate holds the verdict; without it, promote.
    let (v, r) = verdict(&all_sequential_gates());
    assert_eq!(v, Verdict::KeepRunning, "{:?}", r.reasons);
    assert_eq!(r.checks.len(), 6, "{:?}", r.checks);
    assert_eq!(r.checks[5].state, GateState::Undecided);
    let wide = || Gates {
        max_p99_latency_ratio: None,
        ..all_sequential_gates()
    };
    let (v, r) = verdict(&wide());
    assert_eq!(v, Verdict::Promote, "{:?}", r.reasons);
    // A PSI gate below the measured PSI holds it (a point figure never
    // rejects).
    let (v, r) = verdict(&Gates {
        max_psi: Some(0.001),
        ..wide()
    });
    assert_eq!(
        v,
        Verdict::KeepRunning,
        "psi 0.0082 > 0.001: {:?}",
        r.reasons
    );
    let (v, _) = verdict(&Gates {
        max_psi: Some(0.25),
        ..wide()
    });
    assert_eq!(v, Verdict::Promote);

    // A minimum duration holds a promotion while the running time is
    // unknown or short.
    let g = Gates {
        min_duration_secs: Some(3600),
        ..wide()
    };
    assert_eq!(verdict(&g).0, Verdict::KeepRunning);
    let mut b = report::ReportBuilder::new();
    recs.iter().for_each(|r| b.add(r));
    b.running_secs(3600.0);
    assert_eq!(b.finish(Mode::Shadow, 0.25, &g).verdict, Verdict::Promote);

    // Challenger error rate 0.045 over 465 requests: its sequence reaches
    // 0 and about 0.09, so a tolerance of 0.04 (below the point
    // estimate) is undecided, not violated: rejecting needs the whole
    // sequence above it.
    let (v, r) = verdict(&gates(|g| g.max_error_rate = Some(0.04)));
    assert_eq!(v, Verdict::KeepRunning, "{:?}", r.reasons);
    assert_eq!(r.checks[1].state, GateState::Undecided);

    // A higher confidence widens every sequence: 0.9 agreement is no
    // longer established at 0.999999.
    let (v, r) = verdict(&gates(|g| {
        g.min_agreement = Some(0.9);
        g.confidence = 0.999_999;
    }));
    assert_eq!(v, Verdict::KeepRunning, "{:?}", r.reasons);
}

/// The fixture records spread over minutes and two periods (shadow, then
/// split 0.25), as the rollups see them.
fn timed_records() -> (Vec<ComparisonRecord>, Vec<joust_registry::trials::Period>) {
    use chrono::TimeDelta;
    let t0 = chrono::DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
    let recs = records()
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.time = t0 + TimeDelta::seconds(i as i64 * 7);
            r
        })
        .collect();
    let period = |n: u32, at: i64, mode, weight| joust_registry::trials::Period {
        period: n,
        started_at: t0 + TimeDelta::seconds(at),
        mode,
        weight,
        sampling: 1.0,
    };
    (
        recs,
        vec![
            period(0, 0, Mode::Shadow, 0.0),
            period(1, 2_100, Mode::Split, 0.25),
        ],
    )
}

#[test]
fn reports_from_rollups_equal_reports_from_records() {
    use joust_registry::trials::report::ReportBuilder;
    use joust_registry::trials::rollup::{self, Rollup};
    let (recs, periods) = timed_records();
    for gates in [Gates::default(), all_sequential_gates()] {
        let mut raw = ReportBuilder::new();
        raw.periods(periods.clone());
        for r in &recs {
            raw.add(r);
        }
        let raw = raw.finish(Mode::Split, 0.25, &gates);
        let by_trial = [(1, periods.clone())].into_iter().collect();
        let folded = rollup::fold(&recs, &by_trial);
        assert!(folded.len() > 60, "{} minutes", folded.len());
        let mut rolled = ReportBuilder::new();
        rolled.periods(periods.clone());
        for ((_, period, _), r) in &folded {
            // Through the stored form, as the store reads them.
            let r = Rollup::decode(&r.encode().unwrap()).unwrap();
            rolled.add_rollup(*period, &r).unwrap();
        }
        let rolled = rolled.finish(Mode::Split, 0.25, &gates);
        let diff = joust_registry::trials::rollup_check::differences(&raw, &rolled);
        assert!(diff.is_empty(), "{diff:#?}");
        println!(
            "psi raw {:?} rollups {:?}; challenger p99 raw {:?} rollups {:?}",
            raw.comparison.psi,
            rolled.comparison.psi,
            raw.challenger.latency_p99_us,
            rolled.challenger.latency_p99_us
        );
    }
}
