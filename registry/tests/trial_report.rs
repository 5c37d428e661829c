//! The trial report's figures on a fixed record set
//! (`fixtures/trial_records.json`) equal reference values computed with
//! scipy/numpy by `reference_stats.py` (run it to reproduce the numbers
//! below; `--write-fixture` regenerates the record set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::excessive_precision)]

use joust_registry::trials::report::{self, Verdict};
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
fn split_report_has_the_sample_ratio_mismatch_and_no_pairing_figures() {
    let recs = records();
    let r = report::compute(&recs, Mode::Split, 0.25, &Gates::default());
    let srm = r.comparison.sample_ratio_mismatch.unwrap();
    close("srm chi2", srm.statistic, 2.0);
    close("srm p", srm.p_value, 0.15729920705028105);
    assert!(r.comparison.agreement.is_none());
    assert!(r.comparison.mcnemar.is_none());
}

#[test]
fn verdicts_follow_the_gates() {
    let recs = records();
    let gates = |f: fn(&mut Gates)| {
        let mut g = Gates {
            min_samples: 100,
            ..Gates::default()
        };
        f(&mut g);
        g
    };
    let r = report::compute(&recs, Mode::Shadow, 0.25, &Gates::default());
    assert_eq!(r.verdict, Verdict::KeepRunning, "{:?}", r.reasons);

    let r = report::compute(&recs, Mode::Shadow, 0.25, &gates(|_| {}));
    assert_eq!(r.verdict, Verdict::Promote, "{:?}", r.reasons);

    let r = report::compute(
        &recs,
        Mode::Shadow,
        0.25,
        &gates(|g| g.min_agreement = Some(0.95)),
    );
    assert_eq!(r.verdict, Verdict::Reject, "{:?}", r.reasons);

    let r = report::compute(
        &recs,
        Mode::Shadow,
        0.25,
        &gates(|g| {
            g.min_agreement = Some(0.9);
            g.max_anomaly_rate_delta = Some(0.05);
            g.max_error_rate = Some(0.05);
            g.max_p99_latency_ratio = Some(1.5);
        }),
    );
    assert_eq!(r.verdict, Verdict::Promote, "{:?}", r.reasons);
    assert_eq!(r.reasons.len(), 4);

    let r = report::compute(
        &recs,
        Mode::Shadow,
        0.25,
        &gates(|g| g.max_error_rate = Some(0.04)),
    );
    assert_eq!(r.verdict, Verdict::Reject, "{:?}", r.reasons);
}
