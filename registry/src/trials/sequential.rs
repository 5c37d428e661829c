//! Always-valid inference (pure, no I/O): confidence sequences, which
//! cover the true value at every report of a trial at once, so a trial can
//! be watched continuously without inflating its false-decision rate.
//!
//! Means (error rates, anomaly rates, agreement) use the normal-mixture
//! boundary of the asymptotic confidence sequence of Waudby-Smith, Wu,
//! Ramdas, Karampatziakis and Mineiro, "Time-uniform central limit theory
//! and asymptotic confidence sequences" (Annals of Statistics, 2024),
//! Theorem 2.2 (Robbins' normal mixture; Howard, Ramdas, McAuliffe, Sekhon
//! 2021, §3): after `t` units with per-unit variance σ²,
//!
//! ```text
//! μ̂ₜ ± σ √( 2(tρ² + 1) / (t²ρ²) · ln(√(tρ² + 1) / α) ),
//! ρ² = (−2 ln α + ln(1 − 2 ln α)) / t*,
//! ```
//!
//! with the mixture tuned to be tightest at t* = [`PLANNED_UNITS`]. Rates
//! counted in rows (anomaly rates) take requests as the units and a
//! cluster-robust variance, since rows of one request may be correlated.
//! Every
//! figure depends on counts only (no record order), so it can be computed
//! from merged per-minute rollups. Quantiles (p99 latency) use the
//! quantile confidence sequence of Howard & Ramdas, "Sequential estimation
//! of quantiles with applications to A/B-testing and best-arm
//! identification" (Bernoulli 2022): the order statistics at ranks
//! n(q ∓ b), where b is the mixture boundary of the Bernoulli(q) indicator
//! 1{X ≤ x_q}. The gate verdict built on these lives in `gates`.

use crate::trials::sample::Sample;

/// Units (requests, rows) at which the mixture boundary is tightest.
pub const PLANNED_UNITS: f64 = 10_000.0;

/// A confidence sequence at one report: the estimate and the interval that
/// holds, with probability ≥ 1 − `alpha`, at every report simultaneously.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sequence {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// The miscoverage this sequence was computed at (after any correction
    /// for multiple gates).
    pub alpha: f64,
}

/// ρ² of the normal mixture tuned for [`PLANNED_UNITS`] at level `alpha`.
pub fn mixture_rho2(alpha: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    (l + (l + 1.0).ln()) / PLANNED_UNITS
}

/// Half-width of the normal-mixture confidence sequence for a mean after
/// `t` units of per-unit variance `var` at level `alpha`. `None` for t = 0.
pub fn mixture_half_width(var: f64, t: f64, alpha: f64) -> Option<f64> {
    let valid = t > 0.0 && alpha > 0.0 && alpha < 1.0 && var.is_finite() && var >= 0.0;
    if !valid {
        return None;
    }
    let rho2 = mixture_rho2(alpha);
    let a = t * rho2 + 1.0;
    Some((var * 2.0 * a / (t * t * rho2) * (a.sqrt() / alpha).ln()).sqrt())
}

/// The variance used for a Bernoulli rate of `k` in `n`: p̃(1 − p̃) with
/// p̃ = (k + 1)/(n + 2), so that a rate of exactly 0 or 1 still has a
/// positive variance (a sequence never collapses to a point).
pub fn bernoulli_variance(k: u64, n: u64) -> f64 {
    let p = (k as f64 + 1.0) / (n as f64 + 2.0);
    p * (1.0 - p)
}

/// Confidence sequence for a rate of `k` successes in `n` units, clipped to
/// [0, 1]. `None` when n = 0.
pub fn rate(k: u64, n: u64, alpha: f64) -> Option<Sequence> {
    let t = n as f64;
    let half = mixture_half_width(bernoulli_variance(k, n), t, alpha)?;
    let est = k as f64 / t;
    Some(Sequence {
        estimate: est,
        low: (est - half).max(0.0),
        high: (est + half).min(1.0),
        alpha,
    })
}

/// Confidence sequence for the difference of two independent rates,
/// `kb/nb − ka/na` (challenger minus champion), clipped to [−1, 1]: the
/// mixture boundary on t = na + nb units whose per-unit variance makes the
/// estimator's variance va/na + vb/nb. `None` when an arm has no unit.
pub fn rate_difference(ka: u64, na: u64, kb: u64, nb: u64, alpha: f64) -> Option<Sequence> {
    if na == 0 || nb == 0 {
        return None;
    }
    let (naf, nbf) = (na as f64, nb as f64);
    let var_est = bernoulli_variance(ka, na) / naf + bernoulli_variance(kb, nb) / nbf;
    let t = naf + nbf;
    let half = mixture_half_width(var_est * t, t, alpha)?;
    let est = kb as f64 / nbf - ka as f64 / naf;
    Some(Sequence {
        estimate: est,
        low: (est - half).max(-1.0),
        high: (est + half).min(1.0),
        alpha,
    })
}

/// Per-request sums of a rate counted in rows (anomalous rows among the
/// labelled rows of each request), for a variance that holds when rows of
/// one request are correlated: m labelled requests, Σnᵢ², Σaᵢ², Σaᵢnᵢ.
/// Mergeable by addition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowSums {
    pub requests: u64,
    pub rows_sq: u64,
    pub anomalies_sq: u64,
    pub cross: u64,
}

impl RowSums {
    /// Adds one request with `rows` labelled rows, `anomalies` of them
    /// anomalous (a request without rows adds nothing).
    pub fn add(&mut self, rows: u64, anomalies: u64) {
        if rows == 0 {
            return;
        }
        self.requests += 1;
        self.rows_sq += rows * rows;
        self.anomalies_sq += anomalies * anomalies;
        self.cross += rows * anomalies;
    }

    pub fn merge(&mut self, o: &RowSums) {
        self.requests += o.requests;
        self.rows_sq += o.rows_sq;
        self.anomalies_sq += o.anomalies_sq;
        self.cross += o.cross;
    }
}

/// Variance of the rate p̂ = a/n (a anomalous of n rows over the requests
/// summed in `s`): the cluster-robust delta-method estimate
/// Σ(aᵢ − p̂nᵢ)²/n², and at least the Bernoulli variance of n independent
/// rows, [`bernoulli_variance`]`(a, n)/n`. `None` when n = 0.
pub fn clustered_rate_variance(a: u64, n: u64, s: &RowSums) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let (nf, p) = (n as f64, a as f64 / n as f64);
    let cluster =
        (s.anomalies_sq as f64 - 2.0 * p * s.cross as f64 + p * p * s.rows_sq as f64) / (nf * nf);
    Some(cluster.max(bernoulli_variance(a, n) / nf))
}

/// Confidence sequence for the difference of two rates counted in rows,
/// challenger (`b`) minus champion (`a`), with requests as the units:
/// t = mₐ + m_b requests, estimator variance the sum of both arms'
/// [`clustered_rate_variance`]. Clipped to [−1, 1]; `None` when an arm has
/// no labelled row.
pub fn clustered_rate_difference(
    (ka, na, sa): (u64, u64, &RowSums),
    (kb, nb, sb): (u64, u64, &RowSums),
    alpha: f64,
) -> Option<Sequence> {
    let var_est = clustered_rate_variance(ka, na, sa)? + clustered_rate_variance(kb, nb, sb)?;
    let t = (sa.requests + sb.requests) as f64;
    let half = mixture_half_width(var_est * t, t, alpha)?;
    let est = kb as f64 / nb as f64 - ka as f64 / na as f64;
    Some(Sequence {
        estimate: est,
        low: (est - half).max(-1.0),
        high: (est + half).min(1.0),
        alpha,
    })
}

/// Confidence sequence for the `q`-quantile of the distribution `sorted`
/// (ascending) was drawn from: [x₍ᵢ₎, x₍ⱼ₎] with i = ⌈n(q − b)⌉ and
/// j = ⌊n(q + b)⌋ + 1 (1-based ranks), b the mixture half-width for a
/// Bernoulli(q) mean. A rank below 1 gives `floor` (the smallest possible
/// value), a rank above n gives +∞. The estimate is the type-7 quantile.
pub fn quantile<S: Sample + ?Sized>(
    sorted: &S,
    q: f64,
    floor: f64,
    alpha: f64,
) -> Option<Sequence> {
    let n = sorted.len();
    let b = mixture_half_width(q * (1.0 - q), n as f64, alpha)?;
    let nf = n as f64;
    let i = (nf * (q - b)).ceil();
    let j = (nf * (q + b)).floor() + 1.0;
    // Ranks are integers in f64; `as usize` saturates and i ≥ 1 here.
    let low = if i < 1.0 {
        floor
    } else {
        sorted.at((i as u64).min(n) - 1)
    };
    let high = if j > nf {
        f64::INFINITY
    } else {
        sorted.at((j as u64).max(1) - 1)
    };
    Some(Sequence {
        estimate: crate::trials::sample::quantile(sorted, q)?,
        low,
        high,
        alpha,
    })
}

/// Confidence sequence for the ratio of the challenger's `q`-quantile to
/// the champion's, from each arm's quantile sequence at `alpha / 2` (both
/// hold together with probability ≥ 1 − `alpha`). Values are ≥ 0; a lower
/// end of 0 in the champion's sequence makes the upper end +∞.
pub fn quantile_ratio<S: Sample + ?Sized, T: Sample + ?Sized>(
    champion: &S,
    challenger: &T,
    q: f64,
    alpha: f64,
) -> Option<Sequence> {
    let a = quantile(champion, q, 0.0, alpha / 2.0)?;
    let b = quantile(challenger, q, 0.0, alpha / 2.0)?;
    if a.estimate.is_nan() || a.estimate <= 0.0 {
        return None;
    }
    let div = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::INFINITY };
    Some(Sequence {
        estimate: b.estimate / a.estimate,
        low: if a.high.is_finite() {
            div(b.low, a.high)
        } else {
            0.0
        },
        high: div(b.high, a.low),
        alpha,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sequences_shrink_and_stay_ordered() {
        let a = rate(50, 1_000, 0.05).unwrap();
        let b = rate(500, 10_000, 0.05).unwrap();
        assert!(a.low < a.estimate && a.estimate < a.high);
        assert!(b.high - b.low < a.high - a.low);
        let zero = rate(0, 1_000, 0.05).unwrap();
        assert_eq!(zero.low, 0.0);
        assert!(zero.high > 0.0, "a rate of 0 keeps a positive width");
        assert!(rate(0, 0, 0.05).is_none());
        assert!(rate_difference(0, 0, 1, 2, 0.05).is_none());
    }

    #[test]
    fn correlated_rows_widen_the_anomaly_rate_sequence() {
        // 1,000 requests of 10 rows: all-or-nothing anomalies (rows of a
        // request perfectly correlated) against independent rows.
        let mut together = RowSums::default();
        let mut apart = RowSums::default();
        for i in 0..1_000u64 {
            together.add(10, if i % 20 == 0 { 10 } else { 0 });
            apart.add(10, if i % 2 == 0 { 1 } else { 0 });
        }
        let (k, n) = (500, 10_000);
        let wide = clustered_rate_difference((k, n, &together), (k, n, &together), 0.05).unwrap();
        let narrow = clustered_rate_difference((k, n, &apart), (k, n, &apart), 0.05).unwrap();
        assert!(wide.high > 2.0 * narrow.high, "{wide:?} vs {narrow:?}");
        // Independent rows: the Bernoulli floor (σ² of one row is p(1−p)).
        let v = clustered_rate_variance(k, n, &apart).unwrap();
        assert!(
            (v - bernoulli_variance(k, n) / n as f64).abs() < 1e-12,
            "{v}"
        );
        assert!(clustered_rate_variance(0, 0, &apart).is_none());
    }

    #[test]
    fn a_sequence_is_wider_than_the_fixed_horizon_interval() {
        // At t = PLANNED_UNITS the mixture boundary is still wider than
        // the 95% normal interval z·σ/√t: the price of always-validity.
        let t = PLANNED_UNITS;
        let half = mixture_half_width(0.25, t, 0.05).unwrap();
        let fixed = crate::trials::stats::Z95 * 0.5 / t.sqrt();
        assert!(
            half > 1.5 * fixed && half < 3.0 * fixed,
            "{half} vs {fixed}"
        );
    }

    #[test]
    fn quantile_ranks_fall_back_to_the_floor_and_infinity() {
        let s = quantile(&[1.0, 2.0, 3.0][..], 0.5, 0.0, 0.05).unwrap();
        assert_eq!((s.estimate, s.low, s.high), (2.0, 0.0, f64::INFINITY));
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = quantile(&v[..], 0.99, 0.0, 0.05).unwrap();
        assert_eq!(
            (s.low, s.high),
            (2.0, f64::INFINITY),
            "ranks ⌈10(0.99 − 0.87)⌉ = 2 and > n"
        );
        let big: Vec<f64> = (1..=100_000).map(f64::from).collect();
        let s = quantile(&big[..], 0.5, 0.0, 0.05).unwrap();
        assert!(s.low < 50_000.5 && s.high > 50_000.5 && s.high - s.low < 2_000.0);
    }
}
