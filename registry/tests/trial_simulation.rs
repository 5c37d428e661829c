//! Monte Carlo check of the sequential verdict (issue 14): 2,000 trials
//! per scenario, each judged after every batch of 100 records up to
//! 100,000 records, stopped at its first decision. The verdict is the
//! report's own (`gates::judge` on the counts the report builder keeps);
//! batches are drawn as binomial counts so a trial costs 1,000 draws per
//! figure rather than 100,000.
//!
//! Every record is one request answered by both arms (shadow), with one
//! labelled row. The latency gate (sorted latencies) is not simulated;
//! its sequence is checked against the Python reference in
//! `trial_report.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_registry::trials::Gates;
use joust_registry::trials::gates::{self, ArmCounts, Evidence};
use joust_registry::trials::report::Verdict;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};
use rand_xoshiro::Xoshiro256PlusPlus;

const TRIALS: usize = 2_000;
const BATCH: u64 = 100;
const MAX_RECORDS: u64 = 100_000;

/// True rates of one scenario.
#[derive(Debug, Clone, Copy)]
struct Truth {
    champion_errors: f64,
    challenger_errors: f64,
    champion_anomalies: f64,
    challenger_anomalies: f64,
    agreement: f64,
}

#[derive(Debug, Default)]
struct Outcome {
    promote: usize,
    reject: usize,
    keep_running: usize,
    /// Records when decided, summed over decided trials.
    records_at_decision: u64,
}

impl Outcome {
    fn rate(&self, n: usize) -> f64 {
        n as f64 / TRIALS as f64
    }

    fn mean_records(&self) -> f64 {
        let decided = self.promote + self.reject;
        if decided == 0 {
            0.0
        } else {
            self.records_at_decision as f64 / decided as f64
        }
    }
}

fn gates() -> Gates {
    Gates {
        min_samples: 1_000,
        max_error_rate_delta: Some(0.005),
        max_anomaly_rate_delta: Some(0.01),
        min_agreement: Some(0.9),
        confidence: 0.95,
        ..Gates::default()
    }
}

fn simulate(name: &str, truth: Truth, seed: u64) -> Outcome {
    let g = gates();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let draw = |p: f64| Binomial::new(BATCH, p).unwrap();
    let (ea, eb) = (draw(truth.champion_errors), draw(truth.challenger_errors));
    let agree = draw(truth.agreement);
    let mut out = Outcome::default();
    for _ in 0..TRIALS {
        let (mut a, mut b) = (ArmCounts::default(), ArmCounts::default());
        let (mut paired, mut agreeing) = (0, 0);
        let mut verdict = Verdict::KeepRunning;
        let mut records = 0;
        while records < MAX_RECORDS && verdict == Verdict::KeepRunning {
            records += BATCH;
            for (arm, errors, p) in [
                (&mut a, &ea, truth.champion_anomalies),
                (&mut b, &eb, truth.challenger_anomalies),
            ] {
                let e = errors.sample(&mut rng);
                let ok = BATCH - e;
                arm.requests += BATCH;
                arm.errors += e;
                let anomalies = Binomial::new(ok, p).unwrap().sample(&mut rng);
                arm.rows += ok;
                arm.anomalies += anomalies;
                // One labelled row per successful request.
                arm.row_sums.requests += ok;
                arm.row_sums.rows_sq += ok;
                arm.row_sums.anomalies_sq += anomalies;
                arm.row_sums.cross += anomalies;
            }
            paired += BATCH;
            agreeing += agree.sample(&mut rng);
            let evidence = Evidence {
                champion: a,
                challenger: b,
                paired_rows: paired,
                agreeing_rows: agreeing,
                champion_latencies: joust_registry::trials::sample::NO_VALUES,
                challenger_latencies: joust_registry::trials::sample::NO_VALUES,
                psi: None,
                running_secs: None,
                split_periods: &[],
            };
            verdict = gates::judge(&evidence, &g).0;
        }
        match verdict {
            Verdict::Promote => out.promote += 1,
            Verdict::Reject => out.reject += 1,
            Verdict::KeepRunning => out.keep_running += 1,
        }
        if verdict != Verdict::KeepRunning {
            out.records_at_decision += records;
        }
    }
    println!(
        "{name}: {TRIALS} trials, judged every {BATCH} records up to {MAX_RECORDS}: \
         promote {:.4}, reject {:.4}, keep_running {:.4}, mean records at decision {:.0}",
        out.rate(out.promote),
        out.rate(out.reject),
        out.rate(out.keep_running),
        out.mean_records()
    );
    out
}

const BASE: Truth = Truth {
    champion_errors: 0.01,
    challenger_errors: 0.01,
    champion_anomalies: 0.05,
    challenger_anomalies: 0.05,
    agreement: 0.95,
};

/// α = 1 − confidence, the bound on every false decision below.
const ALPHA: f64 = 0.05;

#[test]
fn a_a_trials_watched_continuously_reject_at_most_alpha() {
    let out = simulate("A/A", BASE, 1);
    assert!(
        out.rate(out.reject) <= ALPHA,
        "A/A reject rate {} > α {ALPHA}",
        out.rate(out.reject)
    );
    // The identical challenger is within every tolerance: it is promoted.
    assert!(out.rate(out.promote) >= 0.9, "{out:?}");
}

#[test]
fn a_challenger_worse_than_the_tolerance_is_promoted_at_most_alpha() {
    // Anomaly rate 0.012 above the champion's, tolerance ±0.01.
    let out = simulate(
        "challenger anomaly rate +0.012 (tolerance 0.01)",
        Truth {
            challenger_anomalies: 0.062,
            ..BASE
        },
        2,
    );
    assert!(
        out.rate(out.promote) <= ALPHA,
        "false promote rate {} > α {ALPHA}",
        out.rate(out.promote)
    );
    // Error rate 0.006 above the champion's, tolerance 0.005.
    let out = simulate(
        "challenger error rate +0.006 (tolerance 0.005)",
        Truth {
            challenger_errors: 0.016,
            ..BASE
        },
        3,
    );
    assert!(out.rate(out.promote) <= ALPHA, "{out:?}");
}

#[test]
fn a_real_effect_is_detected() {
    let out = simulate(
        "challenger anomaly rate +0.03 (tolerance 0.01)",
        Truth {
            challenger_anomalies: 0.08,
            ..BASE
        },
        4,
    );
    assert!(out.rate(out.reject) >= 0.99, "{out:?}");
    let out = simulate(
        "agreement 0.85 (tolerance ≥ 0.9)",
        Truth {
            agreement: 0.85,
            ..BASE
        },
        5,
    );
    assert!(out.rate(out.reject) >= 0.99, "{out:?}");
}

#[test]
fn a_challenger_exactly_at_the_tolerance_is_neither_promoted_nor_rejected_beyond_alpha() {
    // The hardest case for both errors: the truth on the boundary.
    let out = simulate(
        "challenger anomaly rate +0.01 (tolerance 0.01, on the boundary)",
        Truth {
            challenger_anomalies: 0.06,
            ..BASE
        },
        6,
    );
    assert!(out.rate(out.promote) <= ALPHA, "{out:?}");
    assert!(out.rate(out.reject) <= ALPHA, "{out:?}");
}

/// Share of A/A trials in which the interval excluded the true difference
/// 0 at some look: the sequential one against the fixed-horizon 95%
/// normal interval recomputed at every look ("peeking").
#[test]
fn peeking_breaks_the_fixed_horizon_interval_but_not_the_sequence() {
    use joust_registry::trials::sequential;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let p = 0.05;
    let (mut seq_miss, mut fixed_miss) = (0, 0);
    let z = joust_registry::trials::stats::Z95;
    for _ in 0..TRIALS {
        let (mut ka, mut kb, mut n) = (0u64, 0u64, 0u64);
        let (mut seq_missed, mut fixed_missed) = (false, false);
        while n < MAX_RECORDS {
            n += BATCH;
            ka += Binomial::new(BATCH, p).unwrap().sample(&mut rng);
            kb += Binomial::new(BATCH, p).unwrap().sample(&mut rng);
            let s = sequential::rate_difference(ka, n, kb, n, ALPHA).unwrap();
            seq_missed |= s.low > 0.0 || s.high < 0.0;
            let (pa, pb) = (ka as f64 / n as f64, kb as f64 / n as f64);
            let se = ((pa * (1.0 - pa) + pb * (1.0 - pb)) / n as f64).sqrt();
            fixed_missed |= (pb - pa).abs() > z * se;
        }
        seq_miss += usize::from(seq_missed);
        fixed_miss += usize::from(fixed_missed);
    }
    let (seq, fixed) = (
        seq_miss as f64 / TRIALS as f64,
        fixed_miss as f64 / TRIALS as f64,
    );
    println!(
        "A/A anomaly-rate difference, {TRIALS} trials, {} looks each: \
         confidence sequence ever excluded 0 in {seq:.4}, fixed-horizon 95% interval in {fixed:.4}",
        MAX_RECORDS / BATCH
    );
    assert!(seq <= ALPHA, "sequence miss rate {seq} > α {ALPHA}");
    assert!(
        fixed > 2.0 * ALPHA,
        "peeking at the fixed interval: {fixed}"
    );
}

/// Rows of one request are correlated (here all-or-nothing: 10 rows per
/// request, all anomalous or none): the anomaly-rate sequence counts
/// requests as units with a cluster-robust variance and stays valid; the
/// same sequence treating rows as independent would not.
#[test]
fn correlated_rows_within_a_request_keep_the_sequence_valid() {
    use joust_registry::trials::sequential::{self, RowSums};
    const ROWS: u64 = 10;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    let anomalous = Binomial::new(BATCH, 0.05).unwrap();
    let (mut clustered_miss, mut naive_miss) = (0, 0);
    for _ in 0..TRIALS {
        let mut arms = [(0u64, 0u64, RowSums::default()); 2];
        let (mut clustered, mut naive) = (false, false);
        for _ in 0..MAX_RECORDS / BATCH {
            for (k, n, s) in &mut arms {
                let x = anomalous.sample(&mut rng);
                *k += x * ROWS;
                *n += BATCH * ROWS;
                s.requests += BATCH;
                s.rows_sq += BATCH * ROWS * ROWS;
                s.anomalies_sq += x * ROWS * ROWS;
                s.cross += x * ROWS * ROWS;
            }
            let [(ka, na, sa), (kb, nb, sb)] = &arms;
            let c = sequential::clustered_rate_difference((*ka, *na, sa), (*kb, *nb, sb), ALPHA)
                .unwrap();
            clustered |= c.low > 0.0 || c.high < 0.0;
            let r = sequential::rate_difference(*ka, *na, *kb, *nb, ALPHA).unwrap();
            naive |= r.low > 0.0 || r.high < 0.0;
        }
        clustered_miss += usize::from(clustered);
        naive_miss += usize::from(naive);
    }
    let (c, n) = (
        clustered_miss as f64 / TRIALS as f64,
        naive_miss as f64 / TRIALS as f64,
    );
    println!(
        "A/A, {ROWS} perfectly correlated rows per request: the request-level sequence ever \
         excluded 0 in {c:.4}, a row-level one would have in {n:.4}"
    );
    assert!(c <= ALPHA, "{c}");
    assert!(n > 2.0 * ALPHA, "{n}");
}
