//! Per-caller rate limiting (the `governor` crate, GCRA): one bucket per
//! authenticated subject, or per peer IP address for anonymous callers.
//! Over the limit a call is answered RESOURCE_EXHAUSTED with the time to
//! wait.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Buckets idle long enough to be full again are dropped every this many
/// calls, so a stream of new peers cannot grow memory without bound.
const SWEEP_EVERY: u64 = 4096;

/// The limiter shared by every connection of a server.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    exempt: HashSet<String>,
    per_second: NonZeroU32,
    burst: NonZeroU32,
    calls: AtomicU64,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("exempt", &self.exempt)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `per_second` sustained calls per caller, `burst` at once;
    /// `exempt` subjects are never limited (e.g. the router's own token
    /// on the nodes behind it).
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32, exempt: HashSet<String>) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
            exempt,
            per_second,
            burst,
            calls: AtomicU64::new(0),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{}/s per caller, burst {}{}",
            self.per_second,
            self.burst,
            if self.exempt.is_empty() {
                String::new()
            } else {
                format!(", exempt {:?}", self.exempt)
            }
        )
    }

    /// Counts one call of `key`: `Err(wait)` when over the limit.
    pub fn check(&self, key: &str, subject: Option<&str>) -> Result<(), Duration> {
        if subject.is_some_and(|s| self.exempt.contains(s)) {
            return Ok(());
        }
        if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_caller_on_its_own() {
        let n = |v| NonZeroU32::new(v).unwrap();
        let limit = RateLimit::new(n(1), n(2), HashSet::from(["router".to_owned()]));
        assert!(limit.check("sub:a", Some("a")).is_ok());
        assert!(limit.check("sub:a", Some("a")).is_ok());
        let wait = limit.check("sub:a", Some("a")).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limit.check("sub:b", Some("b")).is_ok());
        for _ in 0..10 {
            assert!(limit.check("sub:router", Some("router")).is_ok());
        }
    }
}
