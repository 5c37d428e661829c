//! Distributions the report reads by rank (pure): exact sorted values, or
//! a mergeable sketch from the rollups ([`crate::trials::rollup`]). The
//! figures that need a distribution (score and latency quantiles, the p99
//! confidence sequence, PSI bins, the score histogram) are written once
//! over [`Sample`].

/// A distribution of `len()` values read by rank.
pub trait Sample: std::fmt::Debug {
    fn len(&self) -> u64;
    /// The value of 0-based rank `k` (ascending); `k < len()`.
    fn at(&self, k: u64) -> f64;
    /// How many values are ≤ `x`.
    fn count_le(&self, x: f64) -> u64;
    /// How many values are < `x`.
    fn count_lt(&self, x: f64) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sample for [f64] {
    fn len(&self) -> u64 {
        <[f64]>::len(self) as u64
    }
    fn at(&self, k: u64) -> f64 {
        usize::try_from(k)
            .ok()
            .and_then(|k| self.get(k))
            .copied()
            .unwrap_or(f64::NAN)
    }
    fn count_le(&self, x: f64) -> u64 {
        self.partition_point(|&v| v <= x) as u64
    }
    fn count_lt(&self, x: f64) -> u64 {
        self.partition_point(|&v| v < x) as u64
    }
}

impl Sample for Vec<f64> {
    fn len(&self) -> u64 {
        self[..].len() as u64
    }
    fn at(&self, k: u64) -> f64 {
        self[..].at(k)
    }
    fn count_le(&self, x: f64) -> u64 {
        self[..].count_le(x)
    }
    fn count_lt(&self, x: f64) -> u64 {
        self[..].count_lt(x)
    }
}

/// No values (e.g. for [`crate::trials::gates::Evidence`] without latencies).
pub const NO_VALUES: &Vec<f64> = &Vec::new();

/// The q-quantile by linear interpolation between order statistics (type
/// 7, as [`crate::trials::stats::quantile`]). `None` when empty.
pub fn quantile<S: Sample + ?Sized>(s: &S, q: f64) -> Option<f64> {
    let last = s.len().checked_sub(1)?;
    let h = last as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor();
    let i = lo as u64;
    let frac = h - lo;
    let a = s.at(i);
    Some(if frac > 0.0 && i < last {
        a + frac * (s.at(i + 1) - a)
    } else {
        a
    })
}

/// PSI as [`crate::trials::stats::psi`] (10 bins at the deciles of
/// `expected`, empty shares replaced by its epsilon), by rank counts.
pub fn psi<S: Sample + ?Sized>(expected: &S, actual: &S) -> Option<f64> {
    use crate::trials::stats::PSI_EPSILON;
    if expected.is_empty() || actual.is_empty() {
        return None;
    }
    let mut edges = [0.0; 9];
    for (i, e) in edges.iter_mut().enumerate() {
        *e = quantile(expected, (i + 1) as f64 / 10.0)?;
    }
    // Bin i holds (dᵢ, dᵢ₊₁]: counts are differences of count_le.
    let counts = |s: &S| {
        let mut out = [0u64; 10];
        let mut below = 0;
        for (i, &e) in edges.iter().enumerate() {
            let le = s.count_le(e).max(below);
            out[i] = le - below;
            below = le;
        }
        out[9] = s.len().saturating_sub(below);
        out
    };
    let (ec, ac) = (counts(expected), counts(actual));
    let (ne, na) = (expected.len() as f64, actual.len() as f64);
    let share = |c: u64, n: f64| {
        if c == 0 { PSI_EPSILON } else { c as f64 / n }
    };
    Some(
        ec.iter()
            .zip(&ac)
            .map(|(&e, &a)| {
                let (e, a) = (share(e, ne), share(a, na));
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// The shared equal-width histogram of [`crate::trials::stats::shared_histogram`]
/// by rank counts: bin i is [edgeᵢ, edgeᵢ₊₁), the last also holds its
/// upper edge.
pub fn shared_histogram<S: Sample + ?Sized>(
    a: &S,
    b: &S,
    bins: usize,
) -> Option<(Vec<f64>, Vec<u64>, Vec<u64>)> {
    let ends = |s: &S| (!s.is_empty()).then(|| (s.at(0), s.at(s.len() - 1)));
    let (lo, hi) = match (ends(a), ends(b)) {
        (Some((l1, h1)), Some((l2, h2))) => (l1.min(l2), h1.max(h2)),
        (Some(e), None) | (None, Some(e)) => e,
        (None, None) => return None,
    };
    if bins == 0 {
        return None;
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| if i == bins { hi } else { lo + width * i as f64 })
        .collect();
    let count = |s: &S| {
        let mut below = 0;
        let mut out = Vec::with_capacity(bins);
        for (i, &e) in edges.iter().enumerate().skip(1) {
            let c = if i == bins { s.len() } else { s.count_lt(e) }.max(below);
            out.push(c - below);
            below = c;
        }
        out
    };
    Some((edges.clone(), count(a), count(b)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::trials::stats;

    #[test]
    fn slices_agree_with_the_exact_figures() {
        let mut a: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64 / 7.0).collect();
        let mut b: Vec<f64> = (0..300).map(|i| ((i * 53) % 89) as f64 / 5.0).collect();
        let psi = stats::psi(&a, &b).unwrap();
        let hist = stats::shared_histogram(&a, &b, 20).unwrap();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        for q in [0.0, 0.05, 0.5, 0.99, 1.0] {
            assert_eq!(quantile(&a[..], q), stats::quantile(&a, q));
        }
        assert!((psi - super::psi(&a[..], &b[..]).unwrap()).abs() < 1e-12);
        let (edges, ca, cb) = shared_histogram(&a[..], &b[..], 20).unwrap();
        assert_eq!(edges, hist.0);
        assert_eq!(ca.iter().sum::<u64>(), 500);
        assert_eq!(cb.iter().sum::<u64>(), 300);
        assert_eq!((ca, cb), (hist.1, hist.2));
    }
}
