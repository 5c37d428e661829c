//! The 14 market features computed from OHLCV bars of one ticker.
//!
//! Each feature is scale-free (returns, ratios, z-scores or RSI), so one
//! model can serve tickers of any price level. Definitions, windows and
//! seeding are documented on [`FEATURE_NAMES`] and in `docs/models.md`.
//! Rows before [`WARMUP_BARS`] lack a complete feature set and are dropped.

mod indicators;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use indicators::{ema, ratio, rel_change, rolling_mean_std, wilder};

/// One OHLCV bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Bar time, unix seconds.
    pub timestamp: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Traded volume.
    pub volume: f64,
}

/// Feature names in column order. With c = close, o = open, h = high,
/// l = low, v = volume, t the current bar and σ a population std:
///
/// 0. `return_1` = c[t]/c[t−1] − 1
/// 1. `return_5` = c[t]/c[t−5] − 1
/// 2. `log_volume_z` = z-score of ln(1+v[t]) within the 20 bars ending at t (0 if σ = 0)
/// 3. `rsi_14` = 100 − 100/(1 + avg_gain/avg_loss), Wilder averages over 14 changes (100 if no loss, 50 if flat)
/// 4. `macd` = (EMA12(c) − EMA26(c)) / c[t]
/// 5. `macd_hist` = macd − EMA9(macd)
/// 6. `bb_percent_b` = (c − (SMA20 − 2σ20)) / (4σ20), 0.5 if σ20 = 0
/// 7. `bb_bandwidth` = 4σ20 / SMA20
/// 8. `atr_14` = Wilder average over 14 bars of the true range, divided by c[t]
/// 9. `volatility_20` = σ of `return_1` over the 20 bars ending at t
/// 10. `hl_range` = (h − l)/c
/// 11. `close_open` = (c − o)/o
/// 12. `volume_change` = v[t]/v[t−1] − 1, 0 when v[t−1] = 0
/// 13. `dist_sma_20` = c/SMA20 − 1
///
/// EMAs and Wilder averages are seeded with the simple mean of their first
/// n inputs. (`macd_signal` = EMA9(macd) is deliberately left out: it equals
/// `macd − macd_hist`.) Any ratio whose denominator is 0 yields 0.
pub const FEATURE_NAMES: [&str; 14] = [
    "return_1",
    "return_5",
    "log_volume_z",
    "rsi_14",
    "macd",
    "macd_hist",
    "bb_percent_b",
    "bb_bandwidth",
    "atr_14",
    "volatility_20",
    "hl_range",
    "close_open",
    "volume_change",
    "dist_sma_20",
];

/// Number of features.
pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// Leading bars without a complete feature set: EMA26 first exists at bar
/// index 25, EMA9 of the macd needs 9 macd values, so `macd_hist` first
/// exists at index 25 + 8 = 33. Every other feature is complete earlier
/// (`volatility_20` at 20, the 20-bar windows at 19, RSI/ATR at 14).
pub const WARMUP_BARS: usize = 33;

/// The schema as owned strings, ready for `Model::train`.
pub fn schema() -> Vec<String> {
    FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect()
}

/// Features for a run of bars of one ticker.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureFrame {
    /// One row per kept bar, [`N_FEATURES`] columns in [`FEATURE_NAMES`] order.
    pub values: Array2<f32>,
    /// Timestamp of the bar each row belongs to.
    pub timestamps: Vec<i64>,
    /// Index in the input bars of the first row (≥ [`WARMUP_BARS`] unless
    /// the input is shorter, in which case the frame is empty).
    pub first_bar: usize,
    /// Leading bars dropped because their features were incomplete:
    /// `min(WARMUP_BARS, bars.len())`.
    pub warmup: usize,
}

impl FeatureFrame {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when no bar had complete features.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

/// Features of every bar after the warm-up. Bars must be one ticker in
/// time order.
pub fn compute_features(bars: &[Bar]) -> FeatureFrame {
    compute_features_from(bars, 0)
}

/// Like [`compute_features`] but keeps only rows for bars at index ≥
/// `start_index`. The bars before it still feed the indicators, so a
/// caller scoring new bars passes history plus new bars and the index of
/// the first new one. EMA and Wilder averages have unbounded memory: values
/// match a full-history computation closely once ~100+ bars of history
/// precede `start_index`, exactly only with the same starting bar.
pub fn compute_features_from(bars: &[Bar], start_index: usize) -> FeatureFrame {
    let all = all_features(bars);
    let warmup = WARMUP_BARS.min(bars.len());
    let first = start_index.max(warmup).min(bars.len());
    let rows = bars.len() - first;
    let mut values = Array2::<f32>::zeros((rows, N_FEATURES));
    for (r, t) in (first..bars.len()).enumerate() {
        for (j, col) in all.iter().enumerate() {
            values[[r, j]] = col[t].unwrap_or(0.0) as f32;
        }
    }
    FeatureFrame {
        values,
        timestamps: bars[first..].iter().map(|b| b.timestamp).collect(),
        first_bar: first,
        warmup,
    }
}

/// Like [`compute_features_from`], keeping rows with timestamp ≥ `since`.
pub fn compute_features_since(bars: &[Bar], since: i64) -> FeatureFrame {
    let start = bars.partition_point(|b| b.timestamp < since);
    compute_features_from(bars, start)
}

/// Every feature as a full-length column, `None` during its own warm-up.
fn all_features(bars: &[Bar]) -> Vec<Vec<Option<f64>>> {
    let n = bars.len();
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let some_close: Vec<Option<f64>> = close.iter().map(|c| Some(*c)).collect();
    let lag = |t: usize, k: usize| t.checked_sub(k).map(|p| close[p]);

    let return_1: Vec<Option<f64>> = (0..n)
        .map(|t| lag(t, 1).map(|p| rel_change(close[t], p)))
        .collect();
    let return_5: Vec<Option<f64>> = (0..n)
        .map(|t| lag(t, 5).map(|p| rel_change(close[t], p)))
        .collect();

    let log_vol: Vec<Option<f64>> = bars
        .iter()
        .map(|b| Some(b.volume.max(0.0).ln_1p()))
        .collect();
    let log_volume_z: Vec<Option<f64>> = rolling_mean_std(&log_vol, 20)
        .iter()
        .zip(&log_vol)
        .map(|(ms, v)| ms.map(|(m, s)| ratio(v.unwrap_or(m) - m, s)))
        .collect();

    let gains: Vec<Option<f64>> = return_diff(&close).map(|d| d.map(|d| d.max(0.0))).collect();
    let losses: Vec<Option<f64>> = return_diff(&close)
        .map(|d| d.map(|d| (-d).max(0.0)))
        .collect();
    let rsi_14: Vec<Option<f64>> = wilder(&gains, 14)
        .iter()
        .zip(wilder(&losses, 14))
        .map(|(g, l)| Some(rsi((*g)?, l?)))
        .collect();

    let ema12 = ema(&some_close, 12);
    let ema26 = ema(&some_close, 26);
    let macd: Vec<Option<f64>> = (0..n)
        .map(|t| Some(ratio(ema12[t]? - ema26[t]?, close[t])))
        .collect();
    let signal = ema(&macd, 9);
    let macd_hist: Vec<Option<f64>> = (0..n).map(|t| Some(macd[t]? - signal[t]?)).collect();

    let bands = rolling_mean_std(&some_close, 20);
    let bb_percent_b: Vec<Option<f64>> = (0..n)
        .map(|t| {
            let (m, s) = bands[t]?;
            Some(if s == 0.0 {
                0.5
            } else {
                (close[t] - (m - 2.0 * s)) / (4.0 * s)
            })
        })
        .collect();
    let bb_bandwidth: Vec<Option<f64>> = bands
        .iter()
        .map(|b| b.map(|(m, s)| ratio(4.0 * s, m)))
        .collect();
    let dist_sma_20: Vec<Option<f64>> = (0..n)
        .map(|t| bands[t].map(|(m, _)| rel_change(close[t], m)))
        .collect();

    let true_range: Vec<Option<f64>> = (0..n)
        .map(|t| {
            let b = bars[t];
            let hl = b.high - b.low;
            Some(match lag(t, 1) {
                None => hl,
                Some(p) => hl.max((b.high - p).abs()).max((b.low - p).abs()),
            })
        })
        .collect();
    // Wilder's ATR starts from the first true range that has a previous close.
    let tr_after_first: Vec<Option<f64>> = true_range
        .iter()
        .enumerate()
        .map(|(t, v)| if t == 0 { None } else { *v })
        .collect();
    let atr_14: Vec<Option<f64>> = wilder(&tr_after_first, 14)
        .iter()
        .zip(&close)
        .map(|(a, c)| a.map(|a| ratio(a, *c)))
        .collect();

    let volatility_20: Vec<Option<f64>> = rolling_mean_std(&return_1, 20)
        .iter()
        .map(|ms| ms.map(|(_, s)| s))
        .collect();

    let hl_range: Vec<Option<f64>> = bars
        .iter()
        .map(|b| Some(ratio(b.high - b.low, b.close)))
        .collect();
    let close_open: Vec<Option<f64>> = bars
        .iter()
        .map(|b| Some(rel_change(b.close, b.open)))
        .collect();
    let volume_change: Vec<Option<f64>> = (0..n)
        .map(|t| {
            t.checked_sub(1)
                .map(|p| rel_change(bars[t].volume, bars[p].volume))
        })
        .collect();

    vec![
        return_1,
        return_5,
        log_volume_z,
        rsi_14,
        macd,
        macd_hist,
        bb_percent_b,
        bb_bandwidth,
        atr_14,
        volatility_20,
        hl_range,
        close_open,
        volume_change,
        dist_sma_20,
    ]
}

/// close[t] − close[t−1], `None` at t = 0.
fn return_diff(close: &[f64]) -> impl Iterator<Item = Option<f64>> + '_ {
    (0..close.len()).map(|t| t.checked_sub(1).map(|p| close[t] - close[p]))
}

fn rsi(avg_gain: f64, avg_loss: f64) -> f64 {
    if avg_loss == 0.0 {
        if avg_gain == 0.0 { 50.0 } else { 100.0 }
    } else {
        100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    }
}

#[cfg(test)]
mod tests;
