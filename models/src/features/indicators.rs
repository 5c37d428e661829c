//! Series primitives behind the features: moving averages, Wilder
//! smoothing and rolling population statistics. Each returns a vector as
//! long as its input with `None` where the window is not yet full.

/// Exponential moving average with α = 2/(n+1), seeded with the simple mean
/// of the first `n` defined values; defined from the n-th defined value on.
pub(crate) fn ema(values: &[Option<f64>], n: usize) -> Vec<Option<f64>> {
    smoothed(values, n, 2.0 / (n as f64 + 1.0))
}

/// Wilder smoothing (α = 1/n), seeded like `ema`.
pub(crate) fn wilder(values: &[Option<f64>], n: usize) -> Vec<Option<f64>> {
    smoothed(values, n, 1.0 / n as f64)
}

fn smoothed(values: &[Option<f64>], n: usize, alpha: f64) -> Vec<Option<f64>> {
    let mut out = vec![None; values.len()];
    let mut seen = 0usize;
    let mut sum = 0.0;
    let mut prev: Option<f64> = None;
    for (i, v) in values.iter().enumerate() {
        let Some(v) = *v else { continue };
        match prev {
            Some(p) => {
                let next = p + alpha * (v - p);
                prev = Some(next);
                out[i] = prev;
            }
            None => {
                seen += 1;
                sum += v;
                if seen == n {
                    prev = Some(sum / n as f64);
                    out[i] = prev;
                }
            }
        }
    }
    out
}

/// Mean and population standard deviation of the `n` values ending at each
/// index; `None` until `n` defined values are available in the window.
pub(crate) fn rolling_mean_std(values: &[Option<f64>], n: usize) -> Vec<Option<(f64, f64)>> {
    (0..values.len())
        .map(|i| {
            if i + 1 < n {
                return None;
            }
            let window = &values[i + 1 - n..=i];
            let mut xs = Vec::with_capacity(n);
            for v in window {
                xs.push((*v)?);
            }
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            Some((mean, var.sqrt()))
        })
        .collect()
}

/// a / b − 1, or 0 when b is 0.
pub(crate) fn rel_change(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b - 1.0 }
}

/// a / b, or 0 when b is 0.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().map(|x| Some(*x)).collect()
    }

    #[test]
    fn ema_seeds_with_simple_mean() {
        // n = 3, α = 0.5: seed (1+2+3)/3 = 2 at index 2, then 2 + .5(4 − 2) = 3,
        // then 3 + .5(8 − 3) = 5.5.
        let out = ema(&some(&[1.0, 2.0, 3.0, 4.0, 8.0]), 3);
        assert_eq!(out, vec![None, None, Some(2.0), Some(3.0), Some(5.5)]);
    }

    #[test]
    fn ema_skips_leading_gaps() {
        let mut v = some(&[1.0, 3.0, 5.0]);
        v.insert(0, None);
        assert_eq!(
            ema(&v, 2),
            vec![None, None, Some(2.0), Some(2.0 + 2.0 / 3.0 * 3.0)]
        );
    }

    #[test]
    fn wilder_uses_one_over_n() {
        // n = 2: seed (2+4)/2 = 3, then 3 + (7 − 3)/2 = 5.
        assert_eq!(
            wilder(&some(&[2.0, 4.0, 7.0]), 2),
            vec![None, Some(3.0), Some(5.0)]
        );
    }

    #[test]
    fn rolling_stats_are_population() {
        let out = rolling_mean_std(&some(&[1.0, 2.0, 3.0, 5.0]), 3);
        assert_eq!(out[1], None);
        let (m, s) = out[2].unwrap_or_default();
        assert_eq!(m, 2.0);
        assert!((s - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let (m, s) = out[3].unwrap_or_default();
        assert!((m - 10.0 / 3.0).abs() < 1e-12);
        let var = ((2.0 - m).powi(2) + (3.0 - m).powi(2) + (5.0 - m).powi(2)) / 3.0;
        assert!((s - var.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn ratios_guard_zero() {
        assert_eq!(rel_change(3.0, 0.0), 0.0);
        assert_eq!(rel_change(3.0, 2.0), 0.5);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }
}
