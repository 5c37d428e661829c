//! Client deadlines (`grpc-timeout`): parsed once when a request arrives
//! into a [`Deadline`] in the request's extensions, so a role that calls
//! another (the router calling a node) passes on what remains, and a
//! request whose deadline has passed is answered DEADLINE_EXCEEDED
//! without doing the work.

use std::time::Duration;

use tokio::time::Instant;

/// The metadata key of the gRPC deadline.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// When the client stops waiting, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// Time left; zero once passed.
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn expired(self) -> bool {
        self.remaining().is_zero()
    }

    /// The deadline of a tonic request, if the client sent one.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }
}

/// Parses a `grpc-timeout` value (`TimeoutValue TimeoutUnit`: at most 8
/// digits, then H, M, S, m, u or n).
pub fn parse(value: &str) -> Option<Duration> {
    if value.len() < 2 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Encodes `d` as a `grpc-timeout` value in the finest unit that fits in
/// 8 digits (rounded down, so the callee never gets more time).
pub fn encode(d: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let units: [(u128, &str); 6] = [
        (1, "n"),
        (1_000, "u"),
        (1_000_000, "m"),
        (1_000_000_000, "S"),
        (60_000_000_000, "M"),
        (3_600_000_000_000, "H"),
    ];
    let nanos = d.as_nanos();
    for (per, unit) in units {
        let v = nanos / per;
        if v <= MAX {
            return format!("{v}{unit}");
        }
    }
    format!("{MAX}H")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_encodes() {
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        for bad in ["", "m", "123456789m", "12x", "-1m", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(encode(Duration::from_millis(250)), "250000u");
        assert_eq!(encode(Duration::from_nanos(5)), "5n");
        assert_eq!(encode(Duration::from_secs(100_000)), "100000S");
        for d in [
            Duration::from_nanos(1),
            Duration::from_micros(123_456),
            Duration::from_secs(1),
            Duration::from_secs(86_400 * 30),
        ] {
            let back = parse(&encode(d)).unwrap();
            assert!(
                back <= d && back.as_nanos() * 100 >= d.as_nanos() * 99,
                "{d:?} → {back:?}"
            );
        }
    }
}
