//! A seeded synthetic market with labelled anomalies.
//!
//! Each ticker follows geometric Brownian motion whose per-bar volatility
//! switches between a calm (0.8%) and a turbulent (2%) regime with
//! probability 1% per bar, with log-normal volume that rises in the
//! turbulent regime. Anomalies are injected after the feature warm-up and
//! labelled on the bars they touch:
//!
//! - **price jump**: the close moves 8–14 regime σ from the open and stays;
//! - **flash crash**: the low falls 8–15% and the close 5–10% below the
//!   open, then the next bar recovers half of the drop (both labelled);
//! - **volume surge**: volume × 6–15 with a wider range;
//! - **stale prices**: 3–5 bars with open = high = low = close = the last
//!   close and tiny volume (all labelled).
//!
//! The same config gives the same bars and labels on every platform.

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::features::{Bar, WARMUP_BARS};

/// A ticker's bars and per-bar anomaly labels (empty labels = unlabelled).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Ticker symbol.
    pub ticker: String,
    /// Bars in time order.
    pub bars: Vec<Bar>,
    /// `true` where the bar is anomalous; same length as `bars`, or empty.
    pub labels: Vec<bool>,
}

/// What market to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Number of tickers (`SYN000`, `SYN001`, …).
    pub tickers: usize,
    /// Bars per ticker.
    pub rows: usize,
    /// Seed; each ticker derives its own stream from it.
    pub seed: u64,
    /// Target share of labelled bars (default 0.01).
    pub anomaly_rate: f64,
    /// Timestamp of the first bar, unix seconds.
    pub start: i64,
    /// Seconds between bars.
    pub interval_secs: i64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            tickers: 10,
            rows: 1000,
            seed: 42,
            anomaly_rate: 0.01,
            start: 1_704_067_200, // 2024-01-01T00:00:00Z
            interval_secs: 60,
        }
    }
}

/// Average labelled bars per injected anomaly (1, 2, 1, 4 for the four
/// types), used to turn `anomaly_rate` into an injection probability.
const BARS_PER_ANOMALY: f64 = 2.0;

/// Generates the market.
pub fn generate(config: &SyntheticConfig) -> Vec<Series> {
    (0..config.tickers)
        .map(|i| {
            let seed = config.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ticker(config, format!("SYN{i:03}"), seed)
        })
        .collect()
}

fn ticker(config: &SyntheticConfig, name: String, seed: u64) -> Series {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut bars = Vec::with_capacity(config.rows);
    let mut labels = vec![false; config.rows];
    let mut close: f64 = rng.gen_range(20.0..200.0);
    let base_volume: f64 = rng.gen_range(5_000.0..50_000.0);
    let mut turbulent = false;
    let p_anomaly = (config.anomaly_rate / BARS_PER_ANOMALY).clamp(0.0, 1.0);
    // Pending effects: recovery target after a flash crash, stale bars left.
    let mut recover_to: Option<f64> = None;
    let mut stale_left = 0usize;
    #[allow(clippy::needless_range_loop)] // t is also the bar number
    for t in 0..config.rows {
        if rng.gen_bool(0.01) {
            turbulent = !turbulent;
        }
        let sigma = if turbulent { 0.02 } else { 0.008 };
        let z: f64 = rng.sample(StandardNormal);
        let zv: f64 = rng.sample(StandardNormal);
        let timestamp = config.start + config.interval_secs * t as i64;
        let open = close * (1.0 + 0.1 * sigma * rng.sample::<f64, _>(StandardNormal));
        let mut next = open * (sigma * z - 0.5 * sigma * sigma).exp();
        let wick =
            |rng: &mut Xoshiro256PlusPlus| 0.5 * sigma * rng.sample::<f64, _>(StandardNormal).abs();
        let mut high = open.max(next) * (1.0 + wick(&mut rng));
        let mut low = open.min(next) * (1.0 - wick(&mut rng));
        let regime_volume = if turbulent { 2.0 } else { 1.0 };
        let mut volume = (base_volume * regime_volume * (0.3 * zv).exp()).round();

        if stale_left > 0 {
            stale_left -= 1;
            labels[t] = true;
            bars.push(flat_bar(timestamp, close, (volume * 0.02).round()));
            continue;
        }
        if let Some(target) = recover_to.take() {
            labels[t] = true;
            next = target;
            high = high.max(next).max(open);
            low = low.min(open);
        } else if t > WARMUP_BARS + 20 && rng.gen_bool(p_anomaly) {
            labels[t] = true;
            match rng.gen_range(0..4) {
                0 => {
                    let size = rng.gen_range(8.0..14.0) * sigma;
                    let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                    next = open * (sign * size).exp();
                    high = open.max(next) * (1.0 + wick(&mut rng));
                    low = open.min(next) * (1.0 - wick(&mut rng));
                }
                1 => {
                    let drop = rng.gen_range(0.05..0.10);
                    next = open * (1.0 - drop);
                    low = open * (1.0 - rng.gen_range(0.08f64..0.15)).min(1.0 - drop);
                    high = open * (1.0 + wick(&mut rng));
                    recover_to = Some(next + 0.5 * (open - next));
                    volume *= 3.0;
                }
                2 => {
                    volume *= rng.gen_range(6.0..15.0);
                    high *= 1.0 + 2.0 * wick(&mut rng);
                    low *= 1.0 - 2.0 * wick(&mut rng);
                }
                _ => {
                    stale_left = rng.gen_range(2..5);
                    bars.push(flat_bar(timestamp, close, (volume * 0.02).round()));
                    continue;
                }
            }
        }
        close = next;
        bars.push(Bar {
            timestamp,
            open,
            high: high.max(open).max(close),
            low: low.min(open).min(close),
            close,
            volume: volume.round(),
        });
    }
    Series {
        ticker: name,
        bars,
        labels,
    }
}

fn flat_bar(timestamp: i64, price: f64, volume: f64) -> Bar {
    Bar {
        timestamp,
        open: price,
        high: price,
        low: price,
        close: price,
        volume,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_sensitive() {
        let cfg = SyntheticConfig {
            tickers: 2,
            rows: 500,
            ..SyntheticConfig::default()
        };
        assert_eq!(generate(&cfg), generate(&cfg));
        let other = SyntheticConfig {
            seed: 43,
            ..cfg.clone()
        };
        assert_ne!(generate(&cfg), generate(&other));
    }

    #[test]
    fn bars_are_valid_and_labels_near_the_target_rate() {
        let cfg = SyntheticConfig {
            tickers: 5,
            rows: 4000,
            anomaly_rate: 0.02,
            ..SyntheticConfig::default()
        };
        let series = generate(&cfg);
        let mut labelled = 0;
        for s in &series {
            assert_eq!(s.bars.len(), 4000);
            assert_eq!(s.labels.len(), 4000);
            assert!(!s.labels[..WARMUP_BARS].iter().any(|l| *l));
            for (i, b) in s.bars.iter().enumerate() {
                assert!(b.low > 0.0 && b.low <= b.open.min(b.close), "{i}: {b:?}");
                assert!(b.high >= b.open.max(b.close), "{i}: {b:?}");
                assert!(b.volume >= 0.0);
                assert_eq!(b.timestamp, cfg.start + 60 * i as i64);
            }
            labelled += s.labels.iter().filter(|l| **l).count();
        }
        let rate = labelled as f64 / 20_000.0;
        assert!((0.01..0.035).contains(&rate), "labelled rate {rate}");
        let stale = series.iter().flat_map(|s| &s.bars).any(|b| b.high == b.low);
        assert!(stale, "expected at least one stale bar");
    }
}
