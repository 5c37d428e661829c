//! Per-feature standardisation learned on training data, for the kinds whose
//! geometry depends on feature scale (SVM, Gaussian mixture).

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// z = (x − mean) · inv_std; constant features get inv_std = 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Standardizer {
    pub(crate) mean: Vec<f64>,
    pub(crate) inv_std: Vec<f64>,
}

impl Standardizer {
    /// Learns mean and population standard deviation of each column.
    pub(crate) fn fit(x: ArrayView2<'_, f32>) -> Self {
        let n = x.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(x.ncols());
        let mut inv_std = Vec::with_capacity(x.ncols());
        for col in x.columns() {
            let m = col.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
            let var = col.iter().map(|v| (f64::from(*v) - m).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt();
            mean.push(m);
            inv_std.push(if sd > 1e-12 { 1.0 / sd } else { 1.0 });
        }
        Self { mean, inv_std }
    }

    /// Standardised copy of the selected rows, in f64 for linfa.
    pub(crate) fn transform_rows(&self, x: ArrayView2<'_, f32>, rows: &[usize]) -> Array2<f64> {
        Array2::from_shape_fn((rows.len(), x.ncols()), |(i, j)| self.z(j, x[[rows[i], j]]))
    }

    #[inline]
    pub(crate) fn z(&self, j: usize, v: f32) -> f64 {
        (f64::from(v) - self.mean[j]) * self.inv_std[j]
    }

    pub(crate) fn validate(&self, n_features: usize) -> Result<(), String> {
        if self.mean.len() != n_features || self.inv_std.len() != n_features {
            return Err(format!(
                "standardiser has {} means and {} scales, expected {n_features} of each",
                self.mean.len(),
                self.inv_std.len()
            ));
        }
        if self
            .mean
            .iter()
            .chain(&self.inv_std)
            .any(|v| !v.is_finite())
        {
            return Err("standardiser holds a non-finite value".to_owned());
        }
        Ok(())
    }
}
