//! The decision threshold: a quantile of the training scores.

/// The `q` quantile (0 ≤ q ≤ 1) of `scores` with linear interpolation between
/// order statistics (numpy's default `linear` method). NaN-free input is
/// assumed; returns 0.0 for an empty slice.
pub(crate) fn quantile(scores: &[f32], q: f64) -> f32 {
    if scores.is_empty() {
        return 0.0;
    }
    let mut sorted: Vec<f32> = scores.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    let (a, b) = (f64::from(sorted[lo]), f64::from(sorted[hi]));
    (a + (b - a) * frac) as f32
}

/// Threshold so that about `contamination` of the training rows score
/// strictly above it.
pub(crate) fn from_contamination(scores: &[f32], contamination: f64) -> f32 {
    quantile(scores, 1.0 - contamination)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_like_numpy() {
        let s = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 1.0), 5.0);
        assert!((quantile(&s, 0.9) - 4.6).abs() < 1e-6);
    }
}
