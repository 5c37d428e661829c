//! Each feature against values computed independently, in plain loops, on
//! a small deterministic series.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            let close = 100.0 + 5.0 * (x * 0.7).sin() + 0.3 * x;
            Bar {
                timestamp: 1_700_000_000 + 60 * i as i64,
                open: close - 0.5 * (x * 1.3).cos(),
                high: close + 1.0 + 0.1 * (i % 3) as f64,
                low: close - 1.2 - 0.1 * (i % 4) as f64,
                close,
                volume: 1000.0 + 100.0 * ((i * 7) % 11) as f64,
            }
        })
        .collect()
}

fn col(name: &str) -> usize {
    FEATURE_NAMES.iter().position(|n| *n == name).unwrap()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn pstd(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt()
}

/// EMA written out: seed = mean of first n, then e += α(x − e).
fn plain_ema(xs: &[f64], n: usize) -> Vec<f64> {
    let alpha = 2.0 / (n as f64 + 1.0);
    let mut out = vec![f64::NAN; xs.len()];
    let mut e = mean(&xs[..n]);
    out[n - 1] = e;
    for i in n..xs.len() {
        e = alpha * xs[i] + (1.0 - alpha) * e;
        out[i] = e;
    }
    out
}

fn close_enough(got: f32, want: f64, name: &str) {
    let tol = 1e-5 * want.abs().max(1.0);
    assert!(
        (f64::from(got) - want).abs() < tol,
        "{name}: got {got}, want {want}"
    );
}

#[test]
fn warmup_is_33_bars() {
    let b = bars(40);
    let f = compute_features(&b);
    assert_eq!(WARMUP_BARS, 33);
    assert_eq!(f.warmup, 33);
    assert_eq!(f.first_bar, 33);
    assert_eq!(f.len(), 7);
    assert_eq!(f.timestamps[0], b[33].timestamp);
    assert_eq!(f.values.ncols(), 14);
    assert!(compute_features(&b[..33]).is_empty());
    assert_eq!(compute_features(&b[..34]).len(), 1);
    assert!(compute_features(&[]).is_empty());
}

#[test]
fn each_feature_matches_an_independent_computation() {
    let b = bars(40);
    let f = compute_features(&b);
    let t = 39;
    let row = f.values.row(f.len() - 1);
    let c: Vec<f64> = b.iter().map(|x| x.close).collect();
    let get = |name: &str| row[col(name)];

    close_enough(get("return_1"), c[t] / c[t - 1] - 1.0, "return_1");
    close_enough(get("return_5"), c[t] / c[t - 5] - 1.0, "return_5");

    let lv: Vec<f64> = b[t - 19..=t]
        .iter()
        .map(|x| (1.0 + x.volume).ln())
        .collect();
    close_enough(
        get("log_volume_z"),
        (lv[19] - mean(&lv)) / pstd(&lv),
        "log_volume_z",
    );

    // RSI: Wilder averages seeded with the mean of the first 14 changes.
    let mut g = 0.0;
    let mut l = 0.0;
    for i in 1..=14 {
        let d = c[i] - c[i - 1];
        g += d.max(0.0);
        l += (-d).max(0.0);
    }
    g /= 14.0;
    l /= 14.0;
    for i in 15..=t {
        let d = c[i] - c[i - 1];
        g = (g * 13.0 + d.max(0.0)) / 14.0;
        l = (l * 13.0 + (-d).max(0.0)) / 14.0;
    }
    close_enough(get("rsi_14"), 100.0 - 100.0 / (1.0 + g / l), "rsi_14");

    let e12 = plain_ema(&c, 12);
    let e26 = plain_ema(&c, 26);
    let macd: Vec<f64> = (25..=t).map(|i| (e12[i] - e26[i]) / c[i]).collect();
    let signal = plain_ema(&macd, 9);
    let last = macd.len() - 1;
    close_enough(get("macd"), macd[last], "macd");
    close_enough(get("macd_hist"), macd[last] - signal[last], "macd_hist");

    let w = &c[t - 19..=t];
    let (m, s) = (mean(w), pstd(w));
    close_enough(
        get("bb_percent_b"),
        (c[t] - (m - 2.0 * s)) / ((m + 2.0 * s) - (m - 2.0 * s)),
        "bb_percent_b",
    );
    close_enough(get("bb_bandwidth"), 4.0 * s / m, "bb_bandwidth");
    close_enough(get("dist_sma_20"), c[t] / m - 1.0, "dist_sma_20");

    let tr = |i: usize| {
        let x = b[i];
        (x.high - x.low)
            .max((x.high - c[i - 1]).abs())
            .max((x.low - c[i - 1]).abs())
    };
    let mut atr = (1..=14).map(tr).sum::<f64>() / 14.0;
    for i in 15..=t {
        atr = (atr * 13.0 + tr(i)) / 14.0;
    }
    close_enough(get("atr_14"), atr / c[t], "atr_14");

    let r: Vec<f64> = (t - 19..=t).map(|i| c[i] / c[i - 1] - 1.0).collect();
    close_enough(get("volatility_20"), pstd(&r), "volatility_20");

    close_enough(get("hl_range"), (b[t].high - b[t].low) / c[t], "hl_range");
    close_enough(
        get("close_open"),
        (c[t] - b[t].open) / b[t].open,
        "close_open",
    );
    close_enough(
        get("volume_change"),
        b[t].volume / b[t - 1].volume - 1.0,
        "volume_change",
    );
}

#[test]
fn flat_series_hits_the_documented_fallbacks() {
    let b: Vec<Bar> = (0..40)
        .map(|i| Bar {
            timestamp: i,
            open: 10.0,
            high: 10.0,
            low: 10.0,
            close: 10.0,
            volume: if i == 38 { 0.0 } else { 5.0 },
        })
        .collect();
    let f = compute_features(&b);
    let last = f.values.row(f.len() - 1);
    assert_eq!(last[col("rsi_14")], 50.0);
    assert_eq!(last[col("bb_percent_b")], 0.5);
    assert_eq!(last[col("volume_change")], 0.0, "previous volume was 0");
    assert!(f.values.iter().all(|v| v.is_finite()));
}

#[test]
fn window_helpers_keep_later_rows_with_identical_values() {
    let b = bars(60);
    let full = compute_features(&b);
    let tail = compute_features_from(&b, 50);
    assert_eq!(tail.first_bar, 50);
    assert_eq!(tail.len(), 10);
    assert_eq!(tail.values.row(0), full.values.row(50 - 33));
    let since = compute_features_since(&b, b[55].timestamp);
    assert_eq!(since.timestamps, full.timestamps[55 - 33..].to_vec());
    assert_eq!(compute_features_from(&b, 0), full);
}
