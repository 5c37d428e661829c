//! The trained state of each model kind and the dispatch over them.
//!
//! Every kind is a plain serialisable struct with three operations: `train`
//! (from a parameter reader, a matrix and a seed), `prepare` (validate a
//! decoded or freshly trained state against the feature count and build
//! derived caches) and scoring of contiguous rows (higher = more anomalous).
//! After `prepare` succeeds, scoring cannot index out of bounds.

pub(crate) mod gaussian_mixture;
pub(crate) mod isolation_forest;
pub(crate) mod noop;
pub(crate) mod one_class_svm;
pub mod onnx;
mod standardize;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::config::ParamReader;
use crate::error::ModelError;
use crate::kind::ModelKind;

use gaussian_mixture::GaussianMixture;
use isolation_forest::IsolationForest;
use noop::Noop;
use one_class_svm::OneClassSvm;
use onnx::OnnxModel;

/// The trained state of one model, whatever its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum KindState {
    IsolationForest(IsolationForest),
    OneClassSvm(OneClassSvm),
    GaussianMixture(GaussianMixture),
    Noop(Noop),
    Onnx(OnnxModel),
}

impl KindState {
    pub(crate) fn kind(&self) -> ModelKind {
        match self {
            KindState::IsolationForest(_) => ModelKind::IsolationForest,
            KindState::OneClassSvm(_) => ModelKind::OneClassSvm,
            KindState::GaussianMixture(_) => ModelKind::GaussianMixture,
            KindState::Noop(_) => ModelKind::Noop,
            KindState::Onnx(_) => ModelKind::Onnx,
        }
    }

    /// Trains `kind` on `x` (already checked: non-empty, finite).
    pub(crate) fn train(
        kind: ModelKind,
        params: &mut ParamReader<'_>,
        x: ArrayView2<'_, f32>,
        seed: u64,
    ) -> Result<(Self, &'static str), ModelError> {
        Ok(match kind {
            ModelKind::IsolationForest => (
                KindState::IsolationForest(IsolationForest::train(params, x, seed)?),
                isolation_forest::PARAMS,
            ),
            ModelKind::OneClassSvm => (
                KindState::OneClassSvm(OneClassSvm::train(params, x, seed)?),
                one_class_svm::PARAMS,
            ),
            ModelKind::GaussianMixture => (
                KindState::GaussianMixture(GaussianMixture::train(params, x, seed)?),
                gaussian_mixture::PARAMS,
            ),
            ModelKind::Noop => (KindState::Noop(Noop), noop::PARAMS),
            ModelKind::Onnx => {
                return Err(ModelError::Training {
                    kind,
                    message: "onnx models are trained outside joust: register the .onnx file \
                              with `joust model register NAME model.onnx --kind onnx`"
                        .into(),
                });
            }
        })
    }

    /// Validates the state for `n_features` columns and builds caches.
    pub(crate) fn prepare(&mut self, n_features: usize) -> Result<(), String> {
        match self {
            KindState::IsolationForest(m) => m.prepare(n_features),
            KindState::OneClassSvm(m) => m.prepare(n_features),
            KindState::GaussianMixture(m) => m.prepare(n_features),
            KindState::Noop(_) => Ok(()),
            KindState::Onnx(m) if m.n_features() == n_features => Ok(()),
            KindState::Onnx(m) => Err(format!(
                "the ONNX graph takes {} features but the schema has {n_features}",
                m.n_features()
            )),
        }
    }

    /// Scores row-major `data` (`out.len()` rows of `n_features`) into `out`.
    /// ONNX models score through `Model`, which handles runtime errors.
    pub(crate) fn score_rows(&self, data: &[f32], n_features: usize, out: &mut [f32]) {
        match self {
            KindState::Onnx(m) => {
                let mut labels = vec![false; out.len()];
                if m.predict_rows(data, out, &mut labels, None).is_err() {
                    out.fill(f32::NAN);
                }
            }
            KindState::IsolationForest(m) => m.score_rows(data, n_features, out),
            KindState::OneClassSvm(m) => score_each(data, n_features, out, |r| m.score_row(r)),
            KindState::GaussianMixture(m) => score_each(data, n_features, out, |r| m.score_row(r)),
            KindState::Noop(_) => out.fill(0.0),
        }
    }
}

fn score_each(data: &[f32], n_features: usize, out: &mut [f32], f: impl Fn(&[f32]) -> f32) {
    if n_features == 0 {
        out.fill(f(&[]));
        return;
    }
    for (o, row) in out.iter_mut().zip(data.chunks_exact(n_features)) {
        *o = f(row);
    }
}

#[cfg(test)]
pub(crate) mod tests;
