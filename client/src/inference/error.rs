//! Why an OIP message could not be read; every message names the field.

/// A malformed `model_version` or answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("model_version: expected a version number ≥ 1 or empty, got {0:?}")]
    BadVersion(String),
    #[error("outputs: expected an output named {name:?}, got {found:?}")]
    MissingOutput {
        name: &'static str,
        found: Vec<String>,
    },
    #[error("outputs[{index}].datatype: expected {expected:?} for {name:?}, got {found:?}")]
    Datatype {
        index: usize,
        name: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("raw_output_contents: expected one entry per output ({expected}), got {found}")]
    RawCount { expected: usize, found: usize },
    #[error("outputs[{index}].contents: must be empty when raw_output_contents is used")]
    RawAndContents { index: usize },
    #[error(
        "raw_output_contents[{index}]: expected {per_value} bytes per {datatype} value, got {found} bytes"
    )]
    RawLength {
        index: usize,
        datatype: &'static str,
        per_value: usize,
        found: usize,
    },
    #[error("outputs[{index}].shape: {shape:?} does not describe the {found} values sent")]
    Shape {
        index: usize,
        shape: Vec<i64>,
        found: usize,
    },
    #[error("outputs: expected {expected} rows in {name:?}, got {found}")]
    Rows {
        name: &'static str,
        expected: usize,
        found: usize,
    },
}
