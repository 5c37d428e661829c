//! Gaussian mixture with full covariances, fitted by EM in linfa-clustering
//! on standardised features.
//!
//! We keep the fitted weights, means and covariances. When a model is
//! trained or loaded we compute, per component, the Cholesky factor L of the
//! covariance, its inverse L⁻¹ and log-determinant; scoring then does the
//! math itself: the anomaly score of a row is its negative log-likelihood,
//! −log Σₖ wₖ·N(z | μₖ, Σₖ), with ‖L⁻¹(z − μₖ)‖² as the Mahalanobis term and
//! a log-sum-exp over components. Higher is more anomalous.
//!
//! linfa's EM normalises responsibilities with exp-then-ln rather than
//! log-sum-exp, so a row far from every component underflows to NaN and the
//! fit fails. EM therefore sees standardised values clipped to ±5σ; scoring
//! uses the unclipped values, so extreme rows still get extreme scores.

use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::GaussianMixtureModel;
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use super::standardize::Standardizer;
use crate::config::ParamReader;
use crate::error::ModelError;
use crate::kind::ModelKind;

/// Parameters `gaussian_mixture` accepts.
pub(crate) const PARAMS: &str = "n_components, max_iter, tolerance, reg_covariance";

/// Most components a mixture may have (scoring keeps them on the stack).
const MAX_COMPONENTS: usize = 64;

/// EM sees standardised values clipped to ±this many standard deviations.
const EM_CLIP: f64 = 5.0;

/// A fitted mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GaussianMixture {
    standardizer: Standardizer,
    weights: Vec<f64>,
    /// k × d, row-major.
    means: Vec<f64>,
    /// k × d × d, row-major.
    covariances: Vec<f64>,
    /// Derived: k × d × d inverse Cholesky factors (lower triangular).
    #[serde(skip)]
    inv_chol: Vec<f64>,
    /// Derived: ln wₖ − ½(d·ln 2π + ln det Σₖ).
    #[serde(skip)]
    log_norm: Vec<f64>,
}

impl GaussianMixture {
    pub(crate) fn train(
        params: &mut ParamReader<'_>,
        x: ArrayView2<'_, f32>,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let k: usize = params.read("n_components", 3, "an integer in 1..=64", |n| {
            (1..=64).contains(n)
        })?;
        let max_iter: u64 = params.read("max_iter", 100, "an integer in 1..=10000", |n| {
            (1..=10_000).contains(n)
        })?;
        let tolerance: f64 = params.read("tolerance", 1e-3f64, "a positive number", |v| {
            v.is_finite() && *v > 0.0
        })?;
        let reg: f64 = params.read("reg_covariance", 1e-3f64, "a non-negative number", |v| {
            v.is_finite() && *v >= 0.0
        })?;
        if x.nrows() < k.max(2) {
            return Err(ModelError::TooFewRows {
                expected: k.max(2),
                found: x.nrows(),
            });
        }
        let standardizer = Standardizer::fit(x);
        let rows: Vec<usize> = (0..x.nrows()).collect();
        // linfa's EM normalises likelihoods with exp-then-ln, which underflows
        // to NaN on rows far from every component: winsorise the EM input.
        let records = standardizer
            .transform_rows(x, &rows)
            .mapv(|z| z.clamp(-EM_CLIP, EM_CLIP));
        let rng = Xoshiro256Plus::seed_from_u64(seed);
        let gmm = GaussianMixtureModel::params_with_rng(k, rng)
            .max_n_iterations(max_iter)
            .tolerance(tolerance)
            .reg_covariance(reg)
            .n_runs(1)
            .fit(&DatasetBase::from(records))
            .map_err(|e| ModelError::Training {
                kind: ModelKind::GaussianMixture,
                message: e.to_string(),
            })?;
        let mut model = Self {
            standardizer,
            weights: gmm.weights().iter().copied().collect(),
            means: gmm.means().iter().copied().collect(),
            covariances: gmm.covariances().iter().copied().collect(),
            inv_chol: Vec::new(),
            log_norm: Vec::new(),
        };
        model
            .prepare(x.ncols())
            .map_err(|message| ModelError::Training {
                kind: ModelKind::GaussianMixture,
                message,
            })?;
        Ok(model)
    }

    pub(crate) fn prepare(&mut self, d: usize) -> Result<(), String> {
        self.standardizer.validate(d)?;
        let k = self.weights.len();
        if k > MAX_COMPONENTS {
            return Err(format!(
                "mixture has {k} components, at most {MAX_COMPONENTS} are supported"
            ));
        }
        if k == 0 || self.means.len() != k * d || self.covariances.len() != k * d * d {
            return Err(format!(
                "mixture sizes disagree: {k} weights, {} mean values, {} covariance values for {d} features",
                self.means.len(),
                self.covariances.len()
            ));
        }
        let finite = self
            .weights
            .iter()
            .chain(&self.means)
            .chain(&self.covariances);
        if !finite.clone().all(|v| v.is_finite()) || self.weights.iter().any(|w| *w <= 0.0) {
            return Err("mixture holds a non-finite value or a non-positive weight".to_owned());
        }
        let mut inv_chol = Vec::with_capacity(k * d * d);
        let mut log_norm = Vec::with_capacity(k);
        let ln_2pi = (2.0 * std::f64::consts::PI).ln();
        for c in 0..k {
            let cov = &self.covariances[c * d * d..(c + 1) * d * d];
            let l = cholesky(cov, d)
                .ok_or_else(|| format!("covariance of component {c} is not positive definite"))?;
            let log_det: f64 = (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum();
            inv_chol.extend(invert_lower(&l, d));
            log_norm.push(self.weights[c].ln() - 0.5 * (d as f64 * ln_2pi + log_det));
        }
        self.inv_chol = inv_chol;
        self.log_norm = log_norm;
        Ok(())
    }

    /// Negative log-likelihood of `row`.
    pub(crate) fn score_row(&self, row: &[f32]) -> f32 {
        let d = row.len();
        let mut best = f64::NEG_INFINITY;
        let mut terms = [0.0f64; MAX_COMPONENTS];
        let k = self.log_norm.len();
        for c in 0..k {
            let mean = &self.means[c * d..(c + 1) * d];
            let inv = &self.inv_chol[c * d * d..(c + 1) * d * d];
            let mut maha = 0.0;
            for i in 0..d {
                let mut y = 0.0;
                for j in 0..=i {
                    y += inv[i * d + j] * (self.standardizer.z(j, row[j]) - mean[j]);
                }
                maha += y * y;
            }
            let lp = self.log_norm[c] - 0.5 * maha;
            if let Some(t) = terms.get_mut(c) {
                *t = lp;
            }
            best = best.max(lp);
        }
        let sum: f64 = terms.iter().take(k).map(|t| (t - best).exp()).sum();
        let nll = -(best + sum.ln());
        nll.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
    }
}

/// Lower Cholesky factor of the row-major d×d matrix, or `None` if it is not
/// positive definite.
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * d + p] * l[j * d + p]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v.is_nan() || v <= 0.0 || v.is_infinite() {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Inverse of a lower-triangular matrix with positive diagonal.
fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        inv[i * d + i] = 1.0 / l[i * d + i];
        for j in 0..i {
            let s: f64 = (j..i).map(|p| l[i * d + p] * inv[p * d + j]).sum();
            inv[i * d + j] = -s / l[i * d + i];
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_inverse_recovers_identity() {
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let l = cholesky(&a, 3).unwrap_or_default();
        let inv = invert_lower(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|p| inv[i * 3 + p] * l[p * 3 + j]).sum();
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((v - e).abs() < 1e-12, "({i},{j}) = {v}");
            }
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
