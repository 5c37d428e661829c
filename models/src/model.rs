//! The trained, serving-ready model: training, validation of inputs and
//! scoring.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::config::{ParamReader, TrainConfig};
use crate::error::ModelError;
use crate::kind::ModelKind;
use crate::kinds::KindState;
use crate::kinds::onnx::{OnnxLoadError, OnnxMapping, OnnxModel, OutputSpec, OutputTensor};
use crate::threshold;

/// Facts about how a model was trained. Everything except `duration_ms` is
/// stored in the artifact; `duration_ms` is wall-clock and would break the
/// rule that the same seed, data and config give byte-identical artifacts,
/// so it is skipped (a decoded model reports 0). Nor is a train timestamp
/// kept: the registry records when a version was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingMetadata {
    /// Rows in the training matrix.
    pub rows: u64,
    /// Wall-clock training time; not serialised (0 after `from_bytes`).
    #[serde(skip)]
    pub duration_ms: u64,
    /// Share of training rows labelled anomalous by the threshold.
    pub anomaly_rate: f64,
    /// The seed used.
    pub seed: u64,
    /// The contamination used to pick the threshold.
    pub contamination: f64,
    /// Version of joust-models that trained the model.
    pub crate_version: String,
}

/// Scores and labels for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Anomaly scores, higher = more anomalous.
    pub scores: Vec<f32>,
    /// `score > threshold` per row.
    pub labels: Vec<bool>,
}

/// A trained model, ready to score. Immutable; cheap to share behind `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub(crate) schema: Vec<String>,
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) threshold: f32,
    pub(crate) state: KindState,
    pub(crate) training: TrainingMetadata,
}

impl Model {
    /// Trains a model of `config.kind` on `x`, whose columns are named by
    /// `schema` (in order).
    pub fn train(
        config: &TrainConfig,
        schema: Vec<String>,
        x: ArrayView2<'_, f32>,
    ) -> Result<Model, ModelError> {
        let started = Instant::now();
        config.validate_contamination()?;
        if schema.len() != x.ncols() {
            return Err(ModelError::SchemaMismatch {
                expected: schema.len(),
                found: x.ncols(),
            });
        }
        let mut seen = HashSet::new();
        if let Some(dup) = schema.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(ModelError::DuplicateFeature(dup.clone()));
        }
        if x.nrows() == 0 {
            return Err(ModelError::TooFewRows {
                expected: 1,
                found: 0,
            });
        }
        check_finite(&schema, x)?;
        let mut reader = ParamReader::new(config.kind, &config.params);
        let (state, accepted) = KindState::train(config.kind, &mut reader, x, config.seed)?;
        let params = reader.finish(accepted)?;
        let mut model = Model {
            schema,
            params,
            threshold: 0.0,
            state,
            training: TrainingMetadata {
                rows: x.nrows() as u64,
                duration_ms: 0,
                anomaly_rate: 0.0,
                seed: config.seed,
                contamination: config.contamination,
                crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        };
        let scores = model.score(x)?;
        if config.kind != ModelKind::Noop {
            model.threshold = threshold::from_contamination(&scores, config.contamination);
        }
        let flagged = scores.iter().filter(|s| **s > model.threshold).count();
        model.training.anomaly_rate = flagged as f64 / scores.len() as f64;
        model.training.duration_ms = started.elapsed().as_millis() as u64;
        Ok(model)
    }

    /// Loads an ONNX model from its `.onnx` bytes (see `kinds::onnx` and
    /// docs/models.md): parses the graph, builds an ONNX Runtime session
    /// (every operator must be supported), reads the input schema, picks
    /// the score/label mapping and runs a warm-up row.
    pub fn from_onnx(bytes: &[u8]) -> Result<Model, ModelError> {
        Self::from_onnx_mapped(bytes, &OnnxMapping::defaults())
    }

    /// `from_onnx` with the output mapping registered for the version
    /// (`OnnxMapping::from_annotations`).
    pub fn from_onnx_mapped(bytes: &[u8], mapping: &OnnxMapping) -> Result<Model, ModelError> {
        let m = OnnxModel::load(bytes.to_vec(), mapping).map_err(|e| match e {
            OnnxLoadError::Model(m) => ModelError::Onnx(m),
            OnnxLoadError::Mapping(m) => ModelError::OnnxMapping(m),
        })?;
        Ok(Model {
            schema: m.feature_names().to_vec(),
            params: BTreeMap::new(),
            threshold: 0.0,
            state: KindState::Onnx(m),
            training: TrainingMetadata {
                rows: 0,
                duration_ms: 0,
                anomaly_rate: 0.0,
                seed: 0,
                contamination: 0.0,
                crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        })
    }

    /// The graph's outputs of an onnx model; empty otherwise.
    pub fn onnx_outputs(&self) -> &[OutputSpec] {
        match &self.state {
            KindState::Onnx(m) => m.outputs(),
            _ => &[],
        }
    }

    /// The algorithm.
    pub fn kind(&self) -> ModelKind {
        self.state.kind()
    }

    /// Feature names, in column order.
    pub fn schema(&self) -> &[String] {
        &self.schema
    }

    /// Number of input columns.
    pub fn n_features(&self) -> usize {
        self.schema.len()
    }

    /// Rows scoring strictly above this are labelled anomalous.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Resolved parameters, defaults included.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// How the model was trained.
    pub fn training(&self) -> &TrainingMetadata {
        &self.training
    }

    /// Anomaly score per row (higher = more anomalous).
    pub fn score(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>, ModelError> {
        let mut out = vec![0.0; x.nrows()];
        self.score_into(x, &mut out)?;
        Ok(out)
    }

    /// Like `score` but writes into `out` (one slot per row). Does not
    /// allocate when `x` is in standard (row-major, contiguous) layout.
    pub fn score_into(&self, x: ArrayView2<'_, f32>, out: &mut [f32]) -> Result<(), ModelError> {
        if x.ncols() != self.schema.len() {
            return Err(ModelError::ColumnCount {
                expected: self.schema.len(),
                found: x.ncols(),
            });
        }
        if out.len() != x.nrows() {
            return Err(ModelError::OutputLength {
                expected: x.nrows(),
                found: out.len(),
            });
        }
        check_finite(&self.schema, x)?;
        let d = x.ncols();
        if let KindState::Onnx(m) = &self.state {
            let owned = x.as_standard_layout();
            let data = owned.as_slice().unwrap_or(&[]);
            let mut labels = vec![false; out.len()];
            return m
                .predict_rows(data, out, &mut labels, None)
                .map_err(ModelError::Onnx);
        }
        match x.as_slice() {
            Some(data) => self.state.score_rows(data, d, out),
            None => {
                let owned = x.as_standard_layout();
                let data = owned.as_slice().unwrap_or(&[]);
                self.state.score_rows(data, d, out);
            }
        }
        Ok(())
    }

    /// Scores and labels (`score > threshold`) per row.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Prediction, ModelError> {
        if let KindState::Onnx(m) = &self.state {
            return self.predict_onnx(m, x, None);
        }
        let scores = self.score(x)?;
        let labels = scores.iter().map(|s| *s > self.threshold).collect();
        Ok(Prediction { scores, labels })
    }

    /// `predict`, plus (for an onnx model) every graph output by its ONNX
    /// name and type; other kinds give no outputs.
    pub fn predict_with_outputs(
        &self,
        x: ArrayView2<'_, f32>,
    ) -> Result<(Prediction, Vec<OutputTensor>), ModelError> {
        if let KindState::Onnx(m) = &self.state {
            let mut raw = Vec::new();
            let p = self.predict_onnx(m, x, Some(&mut raw))?;
            return Ok((p, raw));
        }
        Ok((self.predict(x)?, Vec::new()))
    }

    fn predict_onnx(
        &self,
        m: &OnnxModel,
        x: ArrayView2<'_, f32>,
        raw: Option<&mut Vec<OutputTensor>>,
    ) -> Result<Prediction, ModelError> {
        if x.ncols() != self.schema.len() {
            return Err(ModelError::ColumnCount {
                expected: self.schema.len(),
                found: x.ncols(),
            });
        }
        check_finite(&self.schema, x)?;
        let owned = x.as_standard_layout();
        let data = owned.as_slice().unwrap_or(&[]);
        let mut scores = vec![0.0; x.nrows()];
        let mut labels = vec![false; x.nrows()];
        m.predict_rows(data, &mut scores, &mut labels, raw)
            .map_err(ModelError::Onnx)?;
        Ok(Prediction { scores, labels })
    }
}

fn check_finite(schema: &[String], x: ArrayView2<'_, f32>) -> Result<(), ModelError> {
    for (row, values) in x.rows().into_iter().enumerate() {
        for (column, value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(ModelError::NonFinite {
                    row,
                    column,
                    feature: schema.get(column).cloned().unwrap_or_default(),
                    value: *value,
                });
            }
        }
    }
    Ok(())
}
