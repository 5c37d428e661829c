//! Behaviour shared by every kind: outliers score high, training is
//! deterministic, artifacts round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::{Model, ModelError, ModelKind, TrainConfig};

/// 500 Gaussian inliers in 4 dimensions followed by 10 scattered far outliers.
pub(crate) fn blob_with_outliers(seed: u64) -> (Array2<f32>, usize) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let inliers = 500;
    let mut x = Array2::from_shape_fn((inliers + 10, 4), |_| rng.sample::<f32, _>(StandardNormal));
    for i in inliers..inliers + 10 {
        for j in 0..4 {
            // Each outlier sits in a different orthant corner.
            let sign = if ((i - inliers) >> j) & 1 == 0 {
                1.0
            } else {
                -1.0
            };
            x[[i, j]] = sign * (6.0 + (i - inliers) as f32 * 0.3);
        }
    }
    (x, inliers)
}

pub(crate) fn schema(d: usize) -> Vec<String> {
    (0..d).map(|j| format!("f{j}")).collect()
}

fn config(kind: ModelKind) -> TrainConfig {
    let cfg = TrainConfig::new(kind).with_seed(7);
    match kind {
        ModelKind::OneClassSvm => cfg.with_param("max_samples", 300),
        ModelKind::GaussianMixture => cfg.with_param("n_components", 2),
        _ => cfg,
    }
}

const REAL_KINDS: [ModelKind; 3] = [
    ModelKind::IsolationForest,
    ModelKind::OneClassSvm,
    ModelKind::GaussianMixture,
];

#[test]
fn planted_outliers_score_above_every_inlier() {
    let (x, inliers) = blob_with_outliers(1);
    for kind in REAL_KINDS {
        let model = Model::train(&config(kind), schema(4), x.view()).unwrap();
        let scores = model.score(x.view()).unwrap();
        let max_inlier = scores[..inliers].iter().copied().fold(f32::MIN, f32::max);
        let min_outlier = scores[inliers..].iter().copied().fold(f32::MAX, f32::min);
        assert!(
            min_outlier > max_inlier,
            "{kind}: lowest outlier {min_outlier} <= highest inlier {max_inlier}"
        );
        let labels = model.predict(x.view()).unwrap().labels;
        assert!(
            labels[inliers..].iter().all(|l| *l),
            "{kind}: outlier not labelled"
        );
        let rate = model.training().anomaly_rate;
        assert!(
            (0.02..=0.08).contains(&rate),
            "{kind}: training anomaly rate {rate}"
        );
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seed_differs() {
    let (x, _) = blob_with_outliers(2);
    for kind in REAL_KINDS {
        let a = Model::train(&config(kind), schema(4), x.view()).unwrap();
        let b = Model::train(&config(kind), schema(4), x.view()).unwrap();
        assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap(), "{kind}");
        if kind == ModelKind::IsolationForest {
            let c = Model::train(&config(kind).with_seed(8), schema(4), x.view()).unwrap();
            assert_ne!(a.to_bytes().unwrap(), c.to_bytes().unwrap());
        }
    }
}

#[test]
fn round_trip_preserves_scores_for_every_kind() {
    let (x, _) = blob_with_outliers(3);
    for kind in ModelKind::ALL {
        let model = Model::train(&config(kind), schema(4), x.view()).unwrap();
        let bytes = model.to_bytes().unwrap();
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back.kind(), kind);
        assert_eq!(back.schema(), model.schema());
        assert_eq!(back.threshold(), model.threshold());
        assert_eq!(back.params(), model.params());
        assert_eq!(back.training().duration_ms, 0);
        assert_eq!(
            back.score(x.view()).unwrap(),
            model.score(x.view()).unwrap(),
            "{kind}"
        );
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

#[test]
fn noop_scores_zero_and_labels_nothing() {
    let (x, _) = blob_with_outliers(4);
    let model = Model::train(&TrainConfig::new(ModelKind::Noop), schema(4), x.view()).unwrap();
    let p = model.predict(x.view()).unwrap();
    assert!(p.scores.iter().all(|s| *s == 0.0));
    assert!(p.labels.iter().all(|l| !l));
}

#[test]
fn score_into_matches_score_and_handles_non_contiguous_input() {
    let (x, _) = blob_with_outliers(5);
    let model = Model::train(&config(ModelKind::IsolationForest), schema(4), x.view()).unwrap();
    let expected = model.score(x.view()).unwrap();
    let mut out = vec![0.0; x.nrows()];
    model.score_into(x.view(), &mut out).unwrap();
    assert_eq!(out, expected);
    let fortran = x.t().as_standard_layout().to_owned();
    let transposed_back = fortran.t();
    assert_eq!(model.score(transposed_back).unwrap(), expected);
    let one = model.score(x.row(3).insert_axis(ndarray::Axis(0))).unwrap();
    assert_eq!(one[0], expected[3]);
}

#[test]
fn scoring_rejects_wrong_width_and_non_finite_values() {
    let (x, _) = blob_with_outliers(6);
    let model = Model::train(&config(ModelKind::IsolationForest), schema(4), x.view()).unwrap();
    let narrow = Array2::<f32>::zeros((2, 3));
    assert_eq!(
        model.score(narrow.view()),
        Err(ModelError::ColumnCount {
            expected: 4,
            found: 3
        })
    );
    let mut bad = Array2::<f32>::zeros((3, 4));
    bad[[2, 1]] = f32::NAN;
    let err = model.score(bad.view()).unwrap_err();
    assert!(
        matches!(err, ModelError::NonFinite { row: 2, column: 1, ref feature, .. } if feature == "f1")
    );
    let mut out = vec![0.0; 2];
    assert!(matches!(
        model.score_into(x.view(), &mut out),
        Err(ModelError::OutputLength { .. })
    ));
}

#[test]
fn training_rejects_bad_config() {
    let (x, _) = blob_with_outliers(7);
    let bad_param = TrainConfig::new(ModelKind::IsolationForest).with_param("n_trees", 0);
    assert!(matches!(
        Model::train(&bad_param, schema(4), x.view()),
        Err(ModelError::InvalidParam { ref name, .. }) if name == "n_trees"
    ));
    let unknown = TrainConfig::new(ModelKind::GaussianMixture).with_param("trees", 3);
    assert!(matches!(
        Model::train(&unknown, schema(4), x.view()),
        Err(ModelError::UnknownParam { ref name, .. }) if name == "trees"
    ));
    let contamination = TrainConfig::new(ModelKind::Noop).with_contamination(0.9);
    assert_eq!(
        Model::train(&contamination, schema(4), x.view()),
        Err(ModelError::InvalidContamination(0.9))
    );
    assert!(matches!(
        Model::train(&TrainConfig::new(ModelKind::Noop), schema(3), x.view()),
        Err(ModelError::SchemaMismatch {
            expected: 3,
            found: 4
        })
    ));
    let dup = vec!["a".into(), "b".into(), "a".into(), "c".into()];
    assert_eq!(
        Model::train(&TrainConfig::new(ModelKind::Noop), dup, x.view()),
        Err(ModelError::DuplicateFeature("a".into()))
    );
}

#[test]
fn isolation_forest_resolves_default_params() {
    let (x, _) = blob_with_outliers(8);
    let model = Model::train(
        &TrainConfig::new(ModelKind::IsolationForest),
        schema(4),
        x.view(),
    )
    .unwrap();
    let p = model.params();
    assert_eq!(p["n_trees"], "100");
    assert_eq!(p["sample_size"], "256");
    assert_eq!(p["max_depth"], "8");
}
