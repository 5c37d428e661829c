//! Training configuration and the typed reading of per-kind parameters.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use crate::error::ModelError;
use crate::kind::ModelKind;

/// How to train a model.
///
/// `params` holds kind-specific settings as strings (so they travel through
/// the CLI and the registry unchanged); every kind documents its own:
///
/// - `isolation_forest`: `n_trees` (default 100), `sample_size` (ψ, default
///   256, capped at the row count), `max_depth` (default ⌈log₂ ψ⌉).
/// - `one_class_svm`: `nu` (default 0.1, in (0, 1]), `gamma` (RBF width on
///   standardised features, default 1 / n_features), `max_samples` (rows
///   used to fit, default 2000, because the kernel matrix is n²),
///   `eps` (solver tolerance, default 1e-3).
/// - `gaussian_mixture`: `n_components` (default 3), `max_iter` (default
///   100), `tolerance` (default 1e-3), `reg_covariance` (default 1e-3, added to the covariance diagonal of standardised features).
/// - `noop`: none.
///
/// An unknown or invalid parameter is a typed error naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Which algorithm to train.
    pub kind: ModelKind,
    /// Kind-specific parameters, see above.
    pub params: BTreeMap<String, String>,
    /// Expected share of anomalies in the training data, in (0, 0.5]. Sets
    /// the threshold: the (1 − contamination) quantile of training scores.
    pub contamination: f64,
    /// Seed for every random choice made while training.
    pub seed: u64,
}

impl TrainConfig {
    /// Default contamination.
    pub const DEFAULT_CONTAMINATION: f64 = 0.05;
    /// Default seed.
    pub const DEFAULT_SEED: u64 = 42;

    /// A configuration with default parameters for `kind`.
    pub fn new(kind: ModelKind) -> Self {
        Self {
            kind,
            params: BTreeMap::new(),
            contamination: Self::DEFAULT_CONTAMINATION,
            seed: Self::DEFAULT_SEED,
        }
    }

    /// Sets one parameter (builder style).
    pub fn with_param(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.params.insert(name.into(), value.to_string());
        self
    }

    /// Sets the seed (builder style).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the contamination (builder style).
    pub fn with_contamination(mut self, contamination: f64) -> Self {
        self.contamination = contamination;
        self
    }

    pub(crate) fn validate_contamination(&self) -> Result<(), ModelError> {
        if self.contamination > 0.0 && self.contamination <= 0.5 {
            Ok(())
        } else {
            Err(ModelError::InvalidContamination(self.contamination))
        }
    }
}

/// Reads typed parameters from the string map, records the resolved value of
/// each (defaults included) and rejects names nobody asked for.
pub(crate) struct ParamReader<'a> {
    kind: ModelKind,
    given: &'a BTreeMap<String, String>,
    resolved: BTreeMap<String, String>,
}

impl<'a> ParamReader<'a> {
    pub(crate) fn new(kind: ModelKind, given: &'a BTreeMap<String, String>) -> Self {
        Self {
            kind,
            given,
            resolved: BTreeMap::new(),
        }
    }

    /// Reads `name`, falling back to `default`, and checks it with `valid`
    /// (`expected` describes a valid value in errors).
    pub(crate) fn read<T>(
        &mut self,
        name: &str,
        default: T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, ModelError>
    where
        T: FromStr + Display,
    {
        let value = match self.given.get(name) {
            None => default,
            Some(raw) => raw
                .trim()
                .parse::<T>()
                .map_err(|_| invalid(name, expected, raw))?,
        };
        if !valid(&value) {
            return Err(invalid(name, expected, &value.to_string()));
        }
        self.resolved.insert(name.to_owned(), value.to_string());
        Ok(value)
    }

    /// Like `read` but the default is computed only when the name is absent.
    pub(crate) fn read_or_else<T>(
        &mut self,
        name: &str,
        default: impl FnOnce() -> T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, ModelError>
    where
        T: FromStr + Display,
    {
        match self.given.get(name) {
            Some(_) => {
                // The default is never used when the name is present.
                let placeholder = default();
                self.read(name, placeholder, expected, valid)
            }
            None => self.read(name, default(), expected, valid),
        }
    }

    /// Fails on any given name that was not read; returns the resolved map.
    pub(crate) fn finish(
        self,
        expected: &'static str,
    ) -> Result<BTreeMap<String, String>, ModelError> {
        if let Some(name) = self.given.keys().find(|k| !self.resolved.contains_key(*k)) {
            return Err(ModelError::UnknownParam {
                kind: self.kind,
                name: name.clone(),
                expected,
            });
        }
        Ok(self.resolved)
    }
}

fn invalid(name: &str, expected: &str, found: &str) -> ModelError {
    ModelError::InvalidParam {
        name: name.to_owned(),
        expected: expected.to_owned(),
        found: found.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn resolves_defaults_and_rejects_unknown_names() {
        let cfg = TrainConfig::new(ModelKind::IsolationForest).with_param("bogus", 1);
        let mut r = ParamReader::new(cfg.kind, &cfg.params);
        assert_eq!(
            r.read("n_trees", 100usize, "a positive integer", |n| *n > 0)
                .unwrap(),
            100
        );
        let err = r.finish("n_trees").unwrap_err();
        assert!(matches!(err, ModelError::UnknownParam { ref name, .. } if name == "bogus"));
    }

    #[test]
    fn invalid_value_names_the_param_and_expectation() {
        let cfg = TrainConfig::new(ModelKind::IsolationForest).with_param("n_trees", "many");
        let mut r = ParamReader::new(cfg.kind, &cfg.params);
        let err = r
            .read("n_trees", 100usize, "a positive integer", |n| *n > 0)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid parameter `n_trees`: expected a positive integer, got `many`"
        );
    }
}
