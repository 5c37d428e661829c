//! Errors from training and scoring.

use crate::kind::ModelKind;

/// Everything that can go wrong while training or scoring a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A parameter name the kind does not know.
    #[error("unknown parameter `{name}` for {kind}: expected one of {expected}")]
    UnknownParam {
        /// The model kind being configured.
        kind: ModelKind,
        /// The parameter that was given.
        name: String,
        /// The parameters the kind accepts.
        expected: &'static str,
    },
    /// A parameter value that does not parse or is out of range.
    #[error("invalid parameter `{name}`: expected {expected}, got `{found}`")]
    InvalidParam {
        /// The parameter name.
        name: String,
        /// What a valid value looks like.
        expected: String,
        /// The value that was given.
        found: String,
    },
    /// Contamination outside (0, 0.5].
    #[error("invalid contamination: expected a number in (0, 0.5], got {0}")]
    InvalidContamination(f64),
    /// No rows to train on.
    #[error("empty training set: expected at least {expected} rows, got {found}")]
    TooFewRows {
        /// Minimum number of rows.
        expected: usize,
        /// Rows given.
        found: usize,
    },
    /// Schema length differs from the training matrix width.
    #[error("schema has {expected} feature names but the matrix has {found} columns")]
    SchemaMismatch {
        /// Names in the schema.
        expected: usize,
        /// Columns in the matrix.
        found: usize,
    },
    /// Two schema entries share a name.
    #[error("schema names must be unique: `{0}` appears more than once")]
    DuplicateFeature(String),
    /// The input has the wrong number of columns.
    #[error("expected {expected} columns (one per schema feature), got {found}")]
    ColumnCount {
        /// Columns the model was trained on.
        expected: usize,
        /// Columns given.
        found: usize,
    },
    /// A NaN or infinite value in the input.
    #[error("row {row}, column {column} (`{feature}`): expected a finite number, got {value}")]
    NonFinite {
        /// Zero-based row index.
        row: usize,
        /// Zero-based column index.
        column: usize,
        /// Feature name of the column.
        feature: String,
        /// The offending value.
        value: f32,
    },
    /// `score_into` was given an output slice of the wrong length.
    #[error("output buffer has {found} slots but the input has {expected} rows")]
    OutputLength {
        /// Rows in the input.
        expected: usize,
        /// Length of the output slice.
        found: usize,
    },
    /// The underlying fitting algorithm failed.
    #[error("{kind} training failed: {message}")]
    Training {
        /// Kind being trained.
        kind: ModelKind,
        /// What went wrong.
        message: String,
    },
    /// ONNX Runtime failed to load or run a model.
    #[error("{0}")]
    Onnx(String),
    /// An ONNX model's output mapping (its `onnx.*` annotations) does not
    /// fit its graph.
    #[error("{0}")]
    OnnxMapping(String),
}
