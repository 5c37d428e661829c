//! The closed set of model kinds and their stable string names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which algorithm a model uses. The string form (`as_str`) is stable: it is
/// stored in the registry and accepted on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ModelKind {
    /// Isolation Forest (Liu, Ting & Zhou 2008), written by hand.
    IsolationForest,
    /// One-class SVM with an RBF kernel, fitted with linfa-svm.
    OneClassSvm,
    /// Gaussian mixture with full covariances, fitted with linfa-clustering.
    GaussianMixture,
    /// Scores 0.0 and labels `false` for every row: a benchmark floor.
    Noop,
    /// An ONNX model trained elsewhere (scikit-learn, XGBoost, LightGBM),
    /// run by ONNX Runtime. Registered from its `.onnx` file, never
    /// trained by joust (not in `ALL`).
    Onnx,
}

impl ModelKind {
    /// Every kind joust trains, in declaration order (`Onnx` is not one).
    pub const ALL: [ModelKind; 4] = [
        ModelKind::IsolationForest,
        ModelKind::OneClassSvm,
        ModelKind::GaussianMixture,
        ModelKind::Noop,
    ];

    /// The stable snake_case name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::IsolationForest => "isolation_forest",
            ModelKind::OneClassSvm => "one_class_svm",
            ModelKind::GaussianMixture => "gaussian_mixture",
            ModelKind::Noop => "noop",
            ModelKind::Onnx => "onnx",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no model kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown model kind `{found}`: expected one of isolation_forest, one_class_svm, gaussian_mixture, noop, onnx"
)]
pub struct ParseModelKindError {
    /// The string that was given.
    pub found: String,
}

impl FromStr for ModelKind {
    type Err = ParseModelKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .chain([ModelKind::Onnx])
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseModelKindError {
                found: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn round_trips_every_kind_through_its_name() {
        for kind in ModelKind::ALL {
            assert_eq!(kind.as_str().parse::<ModelKind>(), Ok(kind));
        }
    }

    #[test]
    fn unknown_kind_lists_the_valid_ones() {
        let err = "forest".parse::<ModelKind>().unwrap_err();
        assert!(err.to_string().contains("isolation_forest"));
        assert!(err.to_string().contains("`forest`"));
    }
}
