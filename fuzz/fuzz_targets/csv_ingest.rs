//! OHLCV CSV ingest: `read_csv` (what `joust data ingest` and the
//! detection service's CSV upload parse), then the market features and
//! the training matrix computed from what it accepted.
//!
//! Properties: no panic; accepted series hold only what the format allows
//! (finite positive prices, high ≥ low, volume ≥ 0, one bar per timestamp,
//! bars sorted); and `write_csv` (the normalised dataset blob the registry
//! stores) reads back to the same series.

#![no_main]

use joust_models::csv_io::{read_csv, write_csv};
use joust_models::dataset::feature_matrix;
use joust_models::features::{N_FEATURES, compute_features_since};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(series) = read_csv(data) else {
        return;
    };
    for s in &series {
        assert!(!s.ticker.is_empty());
        assert!(s.labels.is_empty() || s.labels.len() == s.bars.len());
        for b in &s.bars {
            for p in [b.open, b.high, b.low, b.close] {
                assert!(p.is_finite() && p > 0.0, "{b:?}");
            }
            assert!(b.volume.is_finite() && b.volume >= 0.0, "{b:?}");
            assert!(b.high >= b.low, "{b:?}");
        }
        assert!(s.bars.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        if let Some(mid) = s.bars.get(s.bars.len() / 2) {
            let _ = compute_features_since(&s.bars, mid.timestamp);
        }
    }
    let m = feature_matrix(&series);
    assert_eq!(m.x.ncols(), N_FEATURES);
    assert_eq!(m.x.nrows(), m.timestamps.len());

    // The normalised blob reads back to the same series (with labels
    // filled in as false when the input had none).
    let written = write_csv(&series);
    let back = read_csv(&written).unwrap_or_else(|e| panic!("write_csv output refused: {e}"));
    assert_eq!(back.len(), series.len());
    for (a, b) in series.iter().zip(&back) {
        assert_eq!(a.ticker, b.ticker);
        assert_eq!(a.bars, b.bars);
        let labels: Vec<bool> = if a.labels.is_empty() {
            vec![false; a.bars.len()]
        } else {
            a.labels.clone()
        };
        assert_eq!(labels, b.labels);
    }
});
