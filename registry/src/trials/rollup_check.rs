//! What a report from rollups promises against the report from the same
//! raw records (pure): [`differences`] lists every figure outside its
//! bound. Used by the tests on fixtures, on both backends, across
//! replicas and after retention. The bounds are the ones docs/trials.md
//! states:
//!
//! - exact: record, request, error, row and anomaly counts, every rate and
//!   test built from them, paired-row counts, agreement, McNemar, the
//!   sample-ratio figures, per-period rows, and every sequential figure
//!   except the p99 latency ratio;
//! - the mean |score difference| within a relative 1e-12 (summation order);
//! - latency quantiles within a relative [`LATENCY_REL`] (HDR histogram, 3
//!   significant digits), the p99 ratio sequence within 2 × that;
//! - score quantiles within [`SCORE_REL`] · |x| + [`SCORE_ABS`] (each
//!   order statistic is; an interpolated quantile whose two order
//!   statistics straddle zero is bounded relative to the larger of them,
//!   which at the fixtures' sizes is within this bound);
//! - PSI within [`PSI_ABS`] and histogram edges within the score bound of
//!   the larger end (edges are lo + i · width);
//!   histogram counts sum to the same totals (a value within the score
//!   bound of an edge may fall in the neighbouring bin).

use crate::trials::report::{ArmReport, Report};
use crate::trials::sequential::Sequence;
use crate::trials::timeseries::TimeSeries;

pub const LATENCY_REL: f64 = 1e-3;
pub const SCORE_REL: f64 = 1e-3;
pub const SCORE_ABS: f64 = 1e-6;
/// Bound of PSI on the fixtures (bins at sketch deciles).
pub const PSI_ABS: f64 = 0.02;

fn rel(a: f64, b: f64, r: f64) -> bool {
    a == b || (a - b).abs() <= r * a.abs().max(b.abs())
}

fn opt(
    name: &str,
    a: Option<f64>,
    b: Option<f64>,
    ok: impl Fn(f64, f64) -> bool,
    out: &mut Vec<String>,
) {
    match (a, b) {
        (Some(x), Some(y)) if ok(x, y) => {}
        (None, None) => {}
        _ => out.push(format!("{name}: raw {a:?}, rollups {b:?}")),
    }
}

fn seq(name: &str, a: Option<Sequence>, b: Option<Sequence>, r: f64, out: &mut Vec<String>) {
    match (a, b) {
        (Some(x), Some(y))
            if rel(x.estimate, y.estimate, r)
                && rel(x.low, y.low, r)
                && rel(x.high, y.high, r)
                && x.alpha == y.alpha => {}
        (None, None) => {}
        _ => out.push(format!("{name}: raw {a:?}, rollups {b:?}")),
    }
}

fn arm(name: &str, a: &ArmReport, b: &ArmReport, out: &mut Vec<String>) {
    arm_figures(name, a, b, true, out);
}

fn arm_figures(name: &str, a: &ArmReport, b: &ArmReport, scores: bool, out: &mut Vec<String>) {
    let exact = (
        a.arm,
        a.requests,
        a.errors,
        a.error_rate,
        a.anomaly_rate,
        a.row_sums,
    ) == (
        b.arm,
        b.requests,
        b.errors,
        b.error_rate,
        b.anomaly_rate,
        b.row_sums,
    );
    if !exact {
        out.push(format!("{name} counts: raw {a:?}, rollups {b:?}"));
    }
    let lat = |x, y| rel(x, y, LATENCY_REL);
    opt(
        &format!("{name} p50"),
        a.latency_p50_us,
        b.latency_p50_us,
        lat,
        out,
    );
    opt(
        &format!("{name} p95"),
        a.latency_p95_us,
        b.latency_p95_us,
        lat,
        out,
    );
    opt(
        &format!("{name} p99"),
        a.latency_p99_us,
        b.latency_p99_us,
        lat,
        out,
    );
    if !scores {
        return;
    }
    if a.score_quantiles.len() != b.score_quantiles.len() {
        out.push(format!(
            "{name} score quantiles: raw {:?}, rollups {:?}",
            a.score_quantiles, b.score_quantiles
        ));
    }
    for (&(q, x), &(p, y)) in a.score_quantiles.iter().zip(&b.score_quantiles) {
        if q != p || !score(x, y) {
            out.push(format!("{name} score q{q}: raw {x}, rollups {y}"));
        }
    }
}

fn score(x: f64, y: f64) -> bool {
    (x - y).abs() <= SCORE_REL * x.abs().max(y.abs()) + SCORE_ABS
}

/// Every point figure of the series `rolled` (from minute rollups)
/// outside its bound from `raw` (from the records), by the arm bounds of
/// [`differences`]; the points' starts, record counts and agreement are
/// exact. Score quantiles are not compared per point: a bucket holds few
/// rows, and a quantile interpolated between two order statistics of
/// opposite sign is bounded relative to the larger of them, which the
/// point does not carry (docs/trials.md).
pub fn series_differences(raw: &TimeSeries, rolled: &TimeSeries) -> Vec<String> {
    let mut out = Vec::new();
    if (raw.bucket_seconds, raw.points.len(), raw.truncated)
        != (rolled.bucket_seconds, rolled.points.len(), rolled.truncated)
    {
        out.push(format!(
            "series: raw {}s × {} points (truncated {}), rollups {}s × {} points (truncated {})",
            raw.bucket_seconds,
            raw.points.len(),
            raw.truncated,
            rolled.bucket_seconds,
            rolled.points.len(),
            rolled.truncated
        ));
        return out;
    }
    for (a, b) in raw.points.iter().zip(&rolled.points) {
        let at = a.start.to_rfc3339();
        if (a.start, a.records, a.agreement) != (b.start, b.records, b.agreement) {
            out.push(format!(
                "point {at}: raw {} records agreement {:?}, rollups {} at {} agreement {:?}",
                a.records, a.agreement, b.records, b.start, b.agreement
            ));
        }
        arm_figures(
            &format!("{at} champion"),
            &a.champion,
            &b.champion,
            false,
            &mut out,
        );
        arm_figures(
            &format!("{at} challenger"),
            &a.challenger,
            &b.challenger,
            false,
            &mut out,
        );
    }
    out
}

/// Every figure of `rolled` outside its bound from `raw` (empty: they agree).
pub fn differences(raw: &Report, rolled: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if raw.records != rolled.records {
        out.push(format!(
            "records: raw {}, rollups {}",
            raw.records, rolled.records
        ));
    }
    arm("champion", &raw.champion, &rolled.champion, &mut out);
    arm("challenger", &raw.challenger, &rolled.challenger, &mut out);
    let (a, b) = (&raw.comparison, &rolled.comparison);
    let exact = (
        a.anomaly_rate_delta,
        a.anomaly_rate_test,
        a.paired_rows,
        a.agreement,
        a.mcnemar,
        a.sample_ratio_mismatch,
    ) == (
        b.anomaly_rate_delta,
        b.anomaly_rate_test,
        b.paired_rows,
        b.agreement,
        b.mcnemar,
        b.sample_ratio_mismatch,
    );
    if !exact {
        out.push(format!("comparison counts: raw {a:?}, rollups {b:?}"));
    }
    opt(
        "mean |score diff|",
        a.mean_abs_score_diff,
        b.mean_abs_score_diff,
        |x, y| rel(x, y, 1e-12),
        &mut out,
    );
    opt(
        "psi",
        a.psi,
        b.psi,
        |x, y| (x - y).abs() <= PSI_ABS,
        &mut out,
    );
    let (s, t) = (&raw.sequential, &rolled.sequential);
    let exact = (
        s.confidence,
        s.gate_alpha,
        s.challenger_error_rate,
        s.error_rate_delta,
        s.anomaly_rate_delta,
        s.agreement,
        &s.served_share,
    ) == (
        t.confidence,
        t.gate_alpha,
        t.challenger_error_rate,
        t.error_rate_delta,
        t.anomaly_rate_delta,
        t.agreement,
        &t.served_share,
    );
    if !exact {
        out.push(format!("sequential figures: raw {s:?}, rollups {t:?}"));
    }
    seq(
        "p99 ratio sequence",
        s.p99_latency_ratio,
        t.p99_latency_ratio,
        2.0 * LATENCY_REL,
        &mut out,
    );
    if raw.periods != rolled.periods {
        out.push(format!(
            "periods: raw {:?}, rollups {:?}",
            raw.periods, rolled.periods
        ));
    }
    if raw.verdict != rolled.verdict {
        out.push(format!(
            "verdict: raw {:?}, rollups {:?}",
            raw.verdict, rolled.verdict
        ));
    }
    if raw.losses != rolled.losses {
        out.push(format!(
            "losses: raw {:?}, rollups {:?}",
            raw.losses, rolled.losses
        ));
    }
    match (&raw.score_histogram, &rolled.score_histogram) {
        (None, None) => {}
        (Some(h), Some(k)) => {
            // Edges are lo + i·width: the bound of the larger end applies
            // to every edge.
            let scale = h.edges.iter().fold(0.0f64, |m, e| m.max(e.abs()));
            let edges = h.edges.len() == k.edges.len()
                && h.edges
                    .iter()
                    .zip(&k.edges)
                    .all(|(&x, &y)| (x - y).abs() <= SCORE_REL * scale + SCORE_ABS);
            let sums = |v: &[u64]| v.iter().sum::<u64>();
            if !edges
                || sums(&h.champion) != sums(&k.champion)
                || sums(&h.challenger) != sums(&k.challenger)
            {
                out.push(format!("score histogram: raw {h:?}, rollups {k:?}"));
            }
        }
        (h, k) => out.push(format!("score histogram: raw {h:?}, rollups {k:?}")),
    }
    out
}
