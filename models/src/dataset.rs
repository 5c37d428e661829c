//! Turning labelled series into one training matrix.

use ndarray::{Array2, Axis, concatenate};

use crate::features::{N_FEATURES, compute_features};
use crate::synthetic::Series;

/// Stacked feature rows of several tickers.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledFeatures {
    /// One row per bar after each ticker's warm-up, [`N_FEATURES`] columns.
    pub x: Array2<f32>,
    /// The label of each row's bar, or `None` if any series is unlabelled
    /// (its `labels` length differs from its bar count).
    pub labels: Option<Vec<bool>>,
    /// Ticker of each row.
    pub tickers: Vec<String>,
    /// Bar timestamp of each row.
    pub timestamps: Vec<i64>,
}

/// Computes features per ticker (warm-up rows dropped) and stacks them in
/// the order of `series`.
pub fn feature_matrix(series: &[Series]) -> LabelledFeatures {
    let mut blocks = Vec::with_capacity(series.len());
    let mut labels = Some(Vec::new());
    let mut tickers = Vec::new();
    let mut timestamps = Vec::new();
    for s in series {
        let frame = compute_features(&s.bars);
        match (&mut labels, s.labels.len() == s.bars.len()) {
            (Some(all), true) => all.extend_from_slice(&s.labels[frame.first_bar..]),
            _ => labels = None,
        }
        tickers.extend(std::iter::repeat_n(s.ticker.clone(), frame.len()));
        timestamps.extend_from_slice(&frame.timestamps);
        blocks.push(frame.values);
    }
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    let x = concatenate(Axis(0), &views).unwrap_or_else(|_| Array2::zeros((0, N_FEATURES)));
    LabelledFeatures {
        x,
        labels,
        tickers,
        timestamps,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::features::WARMUP_BARS;
    use crate::synthetic::{SyntheticConfig, generate};

    #[test]
    fn stacks_tickers_and_aligns_labels() {
        let cfg = SyntheticConfig {
            tickers: 3,
            rows: 100,
            ..SyntheticConfig::default()
        };
        let series = generate(&cfg);
        let data = feature_matrix(&series);
        let per = 100 - WARMUP_BARS;
        assert_eq!(data.x.dim(), (3 * per, N_FEATURES));
        assert_eq!(data.tickers[per], series[1].ticker);
        assert_eq!(data.timestamps[0], series[0].bars[WARMUP_BARS].timestamp);
        let labels = data.labels.unwrap();
        assert_eq!(labels[per..2 * per], series[1].labels[WARMUP_BARS..]);
    }

    #[test]
    fn unlabelled_series_gives_no_labels() {
        let mut series = generate(&SyntheticConfig {
            tickers: 2,
            rows: 50,
            ..SyntheticConfig::default()
        });
        series[1].labels.clear();
        assert_eq!(feature_matrix(&series).labels, None);
        assert_eq!(feature_matrix(&[]).x.dim(), (0, N_FEATURES));
    }

    #[test]
    fn every_kind_detects_synthetic_anomalies() {
        use crate::{Model, ModelKind, TrainConfig, features, metrics};
        let series = generate(&SyntheticConfig {
            tickers: 10,
            rows: 1000,
            seed: 3,
            ..SyntheticConfig::default()
        });
        let data = feature_matrix(&series);
        let labels = data.labels.unwrap();
        for kind in [
            ModelKind::IsolationForest,
            ModelKind::GaussianMixture,
            ModelKind::OneClassSvm,
        ] {
            let cfg = TrainConfig::new(kind);
            let cfg = if kind == ModelKind::OneClassSvm {
                cfg.with_param("max_samples", 600)
            } else {
                cfg
            };
            let model = Model::train(&cfg, features::schema(), data.x.view()).unwrap();
            let auc = metrics::roc_auc(&model.score(data.x.view()).unwrap(), &labels).unwrap();
            eprintln!("{kind}: AUC {auc:.4}");
            if kind == ModelKind::IsolationForest {
                assert!(auc > 0.8, "{kind}: AUC {auc}");
            } else {
                assert!(auc > 0.7, "{kind}: AUC {auc}");
            }
        }
    }
}
