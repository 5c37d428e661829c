//! Statistics used by trial reports (pure, no I/O): the normal and
//! chi-square(1) tails, Wilson intervals, quantiles, the two-proportion
//! z-test, McNemar's test, PSI and the sample-ratio-mismatch test.
//!
//! The normal and chi-square tails come from `statrs` (its `erfc`, a port
//! of Boost's rational approximation, good to ~1e-10 relative in 0.19);
//! the figures are checked against scipy in `registry/tests/trial_report.rs`.

use statrs::function::erf;

/// z such that P(|Z| ≤ z) = 0.95 for a standard normal Z.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Two-sided p-value of a standard normal statistic: P(|Z| ≥ |z|).
pub fn normal_two_sided_p(z: f64) -> f64 {
    erf::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Survival function of the chi-square distribution with one degree of
/// freedom: P(X ≥ x) = erfc(√(x/2)).
pub fn chi2_1_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    erf::erfc((x / 2.0).sqrt())
}

/// A proportion with its Wilson score 95% interval (without continuity
/// correction). With n = 0 the estimate is 0 and the interval [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proportion {
    pub successes: u64,
    pub trials: u64,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

pub fn wilson(successes: u64, trials: u64) -> Proportion {
    if trials == 0 {
        return Proportion {
            successes,
            trials,
            estimate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Proportion {
        successes,
        trials,
        estimate: p,
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    }
}

/// The q-quantile of ascending `sorted` values by linear interpolation
/// between order statistics (Hyndman & Fan type 7, numpy's default).
/// `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = last as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor();
    let i = lo as usize;
    let frac = h - lo;
    let a = sorted[i];
    Some(match sorted.get(i + 1) {
        Some(b) if frac > 0.0 => a + frac * (b - a),
        _ => a,
    })
}

/// A test statistic with its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Test {
    pub statistic: f64,
    pub p_value: f64,
}

/// Two-proportion z-test with the pooled variance: z = (p₂ − p₁) / √(p̂(1−p̂)(1/n₁ + 1/n₂)),
/// two-sided. `None` when an arm has no trials or the pooled rate is 0 or 1.
pub fn two_proportion_z(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<Test> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (k1 + k2) as f64 / (n1f + n2f);
    let var = pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f);
    if var <= 0.0 {
        return None;
    }
    let z = (k2 as f64 / n2f - k1 as f64 / n1f) / var.sqrt();
    Some(Test {
        statistic: z,
        p_value: normal_two_sided_p(z),
    })
}

/// McNemar's test with continuity correction on the discordant pairs:
/// χ² = (|b − c| − 1)² / (b + c), one degree of freedom. `None` when there
/// is no discordant pair.
pub fn mcnemar(b: u64, c: u64) -> Option<Test> {
    if b + c == 0 {
        return None;
    }
    let diff = (b as f64 - c as f64).abs() - 1.0;
    let diff = diff.max(0.0);
    let chi2 = diff * diff / (b + c) as f64;
    Some(Test {
        statistic: chi2,
        p_value: chi2_1_sf(chi2),
    })
}

/// Proportion used in place of an empty bin's share in PSI, so that the
/// logarithm stays finite.
pub const PSI_EPSILON: f64 = 1e-4;

/// Population stability index of `actual` against `expected` over 10 bins
/// whose edges are the deciles (type 7) of `expected`: bins are
/// (−∞, d₁], (d₁, d₂], …, (d₉, +∞). PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ), where
/// eᵢ and aᵢ are the shares of each sample in bin i, and a share of 0 is
/// replaced by [`PSI_EPSILON`]. `None` when either sample is empty.
pub fn psi(expected: &[f64], actual: &[f64]) -> Option<f64> {
    if expected.is_empty() || actual.is_empty() {
        return None;
    }
    let mut sorted = expected.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut edges = [0.0; 9];
    for (i, e) in edges.iter_mut().enumerate() {
        *e = quantile(&sorted, (i + 1) as f64 / 10.0)?;
    }
    let bin = |x: f64| edges.iter().take_while(|&&e| x > e).count();
    let mut exp_counts = [0u64; 10];
    let mut act_counts = [0u64; 10];
    for &x in expected {
        exp_counts[bin(x)] += 1;
    }
    for &x in actual {
        act_counts[bin(x)] += 1;
    }
    let (ne, na) = (expected.len() as f64, actual.len() as f64);
    let share = |c: u64, n: f64| {
        if c == 0 { PSI_EPSILON } else { c as f64 / n }
    };
    Some(
        exp_counts
            .iter()
            .zip(&act_counts)
            .map(|(&e, &a)| {
                let (e, a) = (share(e, ne), share(a, na));
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// Sample-ratio mismatch: Pearson's chi-square of the observed arm counts
/// against the configured split (challenger share `weight`), one degree of
/// freedom. `None` when there are no requests or the weight is 0 or 1.
pub fn sample_ratio_mismatch(champion: u64, challenger: u64, weight: f64) -> Option<Test> {
    let n = (champion + challenger) as f64;
    if n == 0.0 || weight <= 0.0 || weight >= 1.0 {
        return None;
    }
    let (e1, e2) = (n * (1.0 - weight), n * weight);
    let (o1, o2) = (champion as f64, challenger as f64);
    let chi2 = (o1 - e1).powi(2) / e1 + (o2 - e2).powi(2) / e2;
    Some(Test {
        statistic: chi2,
        p_value: chi2_1_sf(chi2),
    })
}

/// Counts of two samples over the same `bins` equal-width bins spanning
/// both (from the smallest to the largest value; a single distinct value
/// gets a bin of width 1 centred on it). Bin i is [edgeᵢ, edgeᵢ₊₁), the
/// last bin also holds its upper edge. Returns (edges, counts of `a`,
/// counts of `b`); `None` when both samples are empty or `bins` is 0.
pub fn shared_histogram(
    a: &[f64],
    b: &[f64],
    bins: usize,
) -> Option<(Vec<f64>, Vec<u64>, Vec<u64>)> {
    let all = a.iter().chain(b);
    let lo = all.clone().copied().reduce(f64::min)?;
    let hi = all.copied().reduce(f64::max)?;
    if bins == 0 {
        return None;
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let edges = (0..=bins)
        .map(|i| if i == bins { hi } else { lo + width * i as f64 })
        .collect();
    let count = |sample: &[f64]| {
        let mut counts = vec![0u64; bins];
        for &x in sample {
            let i = ((x - lo) / width).floor();
            // `i` is finite and ≥ 0 because lo ≤ x ≤ hi and width > 0.
            let i = if i >= bins as f64 {
                bins - 1
            } else {
                i as usize
            };
            counts[i] += 1;
        }
        counts
    };
    Some((edges, count(a), count(b)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::excessive_precision)]
    use super::*;

    #[test]
    fn tails_match_scipy() {
        // scipy.special.erfc(x) = P(|Z| ≥ x√2) = P(χ²₁ ≥ 2x²). statrs
        // 0.19's erfc is good to ~1e-10 relative (truncated interval
        // constants, fixed upstream in statrs-dev/statrs#412), hence 1e-9.
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028516),
            (2.0, 0.004677734981047266),
            (2.4999, 0.0004071699003334512),
            (2.5, 0.00040695201744495886),
            (3.0, 2.209049699858544e-05),
            (5.0, 1.5374597944280349e-12),
            (-1.0, 1.8427007929497148),
        ] {
            let got = normal_two_sided_p(x * std::f64::consts::SQRT_2);
            let want = if x < 0.0 { 2.0 - want } else { want };
            assert!(
                ((got - want) / want).abs() < 1e-9,
                "P(|Z| ≥ {x}√2) = {got}, want {want}"
            );
            if x > 0.0 {
                let got = chi2_1_sf(2.0 * x * x);
                assert!(
                    ((got - want) / want).abs() < 1e-9,
                    "P(χ²₁ ≥ 2·{x}²) = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(two_proportion_z(0, 0, 1, 2).is_none());
        assert!(two_proportion_z(0, 10, 0, 10).is_none());
        assert!(mcnemar(0, 0).is_none());
        assert!(psi(&[], &[1.0]).is_none());
        assert!(sample_ratio_mismatch(10, 10, 0.0).is_none());
        assert_eq!(wilson(0, 0).high, 1.0);
    }

    #[test]
    fn shared_histogram_counts_every_value_once() {
        let (edges, a, b) = shared_histogram(&[0.0, 0.5, 1.0], &[0.25, 1.0], 4).unwrap();
        assert_eq!(edges, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(a, vec![1, 0, 1, 1]);
        assert_eq!(b, vec![0, 1, 0, 1]);
        let (edges, a, b) = shared_histogram(&[2.0], &[], 2).unwrap();
        assert_eq!(edges, vec![1.5, 2.0, 2.5]);
        assert_eq!((a, b), (vec![0, 1], vec![0, 0]));
        assert!(shared_histogram(&[], &[], 10).is_none());
    }

    #[test]
    fn identical_samples_have_zero_psi() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        assert!(psi(&v, &v).unwrap().abs() < 1e-12);
    }
}
