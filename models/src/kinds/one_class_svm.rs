//! One-class SVM (Schölkopf et al. 2001) with an RBF kernel, fitted with
//! linfa-svm on standardised features.
//!
//! linfa's fitted `Svm` keeps its support vectors private, but it exposes
//! the dual coefficients `alpha` (one per training row, in row order) and
//! the offset `rho`, and it selects support vectors as the rows with
//! |alpha| > 100·ε. We apply the same rule to recover the support vectors,
//! store them with their coefficients, `rho` and `gamma`, and score with our
//! own kernel sum: decision(x) = Σᵢ αᵢ·exp(−γ‖z − svᵢ‖²) − ρ, where z is the
//! standardised row. The anomaly score is −decision(x), so higher is more
//! anomalous.
//!
//! The kernel matrix is dense (n² entries), so at most `max_samples` rows
//! (drawn without replacement with the seed) are used to fit.

use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use linfa_svm::Svm;
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::standardize::Standardizer;
use crate::config::ParamReader;
use crate::error::ModelError;
use crate::kind::ModelKind;

/// Parameters `one_class_svm` accepts.
pub(crate) const PARAMS: &str = "nu, gamma, max_samples, eps";

/// A fitted one-class SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OneClassSvm {
    standardizer: Standardizer,
    gamma: f64,
    /// Support vectors, row-major, `coef.len()` rows of n_features.
    support: Vec<f64>,
    coef: Vec<f64>,
    rho: f64,
}

impl OneClassSvm {
    pub(crate) fn train(
        params: &mut ParamReader<'_>,
        x: ArrayView2<'_, f32>,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let nu: f64 = params.read("nu", 0.1, "a number in (0, 1]", |v| *v > 0.0 && *v <= 1.0)?;
        let default_gamma = 1.0 / x.ncols().max(1) as f64;
        let gamma: f64 = params.read_or_else(
            "gamma",
            || default_gamma,
            "a positive finite number",
            |v| v.is_finite() && *v > 0.0,
        )?;
        let max_samples: usize =
            params.read("max_samples", 2000, "an integer in 2..=20000", |n| {
                (2..=20_000).contains(n)
            })?;
        let eps: f64 = params.read("eps", 1e-3f64, "a positive number", |v| {
            v.is_finite() && *v > 0.0
        })?;
        if x.nrows() < 2 {
            return Err(ModelError::TooFewRows {
                expected: 2,
                found: x.nrows(),
            });
        }
        let standardizer = Standardizer::fit(x);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut rows: Vec<usize> = if x.nrows() > max_samples {
            rand::seq::index::sample(&mut rng, x.nrows(), max_samples).into_vec()
        } else {
            (0..x.nrows()).collect()
        };
        rows.sort_unstable();
        let records = standardizer.transform_rows(x, &rows);
        let svm: Svm<f64, bool> = Svm::<f64, linfa::dataset::Pr>::params()
            .nu_weight(nu)
            .eps(eps)
            .gaussian_kernel(1.0 / gamma)
            .fit(&DatasetBase::from(records.clone()))
            .map_err(|e| ModelError::Training {
                kind: ModelKind::OneClassSvm,
                message: e.to_string(),
            })?;
        let cut = 100.0 * f64::EPSILON;
        let mut support = Vec::new();
        let mut coef = Vec::new();
        for (row, &a) in records.rows().into_iter().zip(&svm.alpha) {
            if a.abs() > cut {
                support.extend(row.iter().copied());
                coef.push(a);
            }
        }
        let mut model = Self {
            standardizer,
            gamma,
            support,
            coef,
            rho: svm.rho,
        };
        model
            .prepare(x.ncols())
            .map_err(|message| ModelError::Training {
                kind: ModelKind::OneClassSvm,
                message,
            })?;
        Ok(model)
    }

    pub(crate) fn prepare(&mut self, n_features: usize) -> Result<(), String> {
        self.standardizer.validate(n_features)?;
        if self.support.len() != self.coef.len() * n_features {
            return Err(format!(
                "{} support-vector values for {} coefficients × {n_features} features",
                self.support.len(),
                self.coef.len()
            ));
        }
        let finite = self.support.iter().chain(&self.coef).all(|v| v.is_finite());
        if !(finite && self.rho.is_finite() && self.gamma.is_finite() && self.gamma > 0.0) {
            return Err("one-class SVM holds a non-finite or invalid number".to_owned());
        }
        Ok(())
    }

    /// −decision(row): higher is more anomalous.
    pub(crate) fn score_row(&self, row: &[f32]) -> f32 {
        let d = row.len();
        let mut sum = 0.0;
        if d == 0 {
            sum = self.coef.iter().sum();
        } else {
            for (sv, a) in self.support.chunks_exact(d).zip(&self.coef) {
                let mut dist = 0.0;
                for (j, (v, s)) in row.iter().zip(sv).enumerate() {
                    let diff = self.standardizer.z(j, *v) - s;
                    dist += diff * diff;
                }
                sum += a * (-self.gamma * dist).exp();
            }
        }
        (self.rho - sum) as f32
    }
}
