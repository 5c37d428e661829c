//! The one retry delay every reconnect and retry loop uses: exponential,
//! capped, with an optional random jitter so many clients that lost the
//! same server do not come back in lock step.

use std::time::Duration;

use rand::Rng;

/// The jitter reconnect loops use: up to half of each delay is taken off at
/// random (the delay lies in `[d/2, d]`).
pub const JITTER: f64 = 0.5;

/// Delay before the attempt after `failures` consecutive failures
/// (1-based): `initial · 2^(failures−1)`, at most `max`, then shortened by
/// a random fraction in `[0, jitter]` of itself (`jitter` is clamped to
/// `[0, 1]`; 0 gives the exact delay, for schedules that are asserted or
/// stored). `failures` 0 counts as 1.
pub fn backoff(initial: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let exact = initial.saturating_mul(1 << doublings).min(max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if jitter == 0.0 || exact.is_zero() {
        return exact;
    }
    let cut = rand::thread_rng().gen_range(0.0..=jitter);
    exact.mul_f64(1.0 - cut)
}

/// First delay, cap and jitter of one retry loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub initial: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Retry {
    /// `initial` doubling up to `max`, with [`JITTER`].
    pub fn jittered(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: JITTER,
        }
    }

    /// The delay after `failures` consecutive failures.
    pub fn after(&self, failures: u32) -> Duration {
        backoff(self.initial, self.max, failures, self.jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn without_jitter_it_doubles_and_caps() {
        let (i, m) = (100 * MS, Duration::from_secs(1));
        let got: Vec<Duration> = [0, 1, 2, 3, 4, 5, 40, u32::MAX]
            .iter()
            .map(|&n| backoff(i, m, n, 0.0))
            .collect();
        assert_eq!(
            got,
            vec![100 * MS, 100 * MS, 200 * MS, 400 * MS, 800 * MS, m, m, m]
        );
        // Thirty doublings of a small base are not cut short by the shift cap.
        let day = Duration::from_secs(86_400);
        assert_eq!(backoff(MS, day, 20, 0.0), MS * (1 << 19));
        assert_eq!(
            backoff(Duration::from_secs(5), day * 365, 200, 0.0),
            day * 365
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let (i, m) = (100 * MS, Duration::from_secs(10));
        for failures in 1..=10 {
            let exact = backoff(i, m, failures, 0.0);
            let seen: Vec<Duration> = (0..200).map(|_| backoff(i, m, failures, JITTER)).collect();
            for d in &seen {
                assert!(
                    *d <= exact && *d >= exact / 2,
                    "{d:?} outside [{:?}, {exact:?}]",
                    exact / 2
                );
            }
            let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
            assert!(distinct.len() > 10, "jitter varies: {distinct:?}");
        }
        // Full jitter may reach zero but never exceeds the exact delay.
        for _ in 0..200 {
            assert!(backoff(i, m, 3, 1.0) <= 400 * MS);
        }
    }

    #[test]
    fn nonsense_jitter_is_clamped() {
        let (i, m) = (100 * MS, Duration::from_secs(1));
        assert_eq!(backoff(i, m, 2, -3.0), 200 * MS);
        assert_eq!(backoff(i, m, 2, f64::NAN), 200 * MS);
        for _ in 0..100 {
            assert!(backoff(i, m, 2, 7.0) <= 200 * MS);
        }
        assert_eq!(backoff(Duration::ZERO, m, 5, JITTER), Duration::ZERO);
        let r = Retry::jittered(i, m);
        assert!(r.after(1) <= i && r.after(1) >= i / 2);
    }
}
