//! Turning request payloads into a checked `[N, F]` matrix: Open Inference
//! Protocol tensors (typed contents or raw little-endian bytes), native
//! rows (positional or named), and the checks against a model's schema.
//! Pure functions over prost messages; no transport.

use std::collections::HashMap;

use joust_proto::inference::ModelInferRequest;
use joust_proto::v1::FeatureRow;
use ndarray::Array2;

/// A malformed request payload; every message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("inputs: expected exactly one FP32 tensor of shape [N, F], got {0} tensors")]
    InputCount(usize),
    #[error("outputs[{index}].name: expected \"score\" or \"label\", got {name:?}")]
    UnknownOutput { index: usize, name: String },
    #[error("outputs[{index}].name: expected one of {expected}, got {name:?}")]
    UnknownModelOutput {
        index: usize,
        name: String,
        expected: String,
    },
    #[error("inputs[0].name: expected \"input\" (the one input ModelMetadata lists), got {0:?}")]
    InputName(String),
    #[error("inputs[0].datatype: expected \"FP32\", got {0:?}")]
    Datatype(String),
    #[error("inputs[0].shape: expected [N, F] with N ≥ 1 and F ≥ 1, got {0:?}")]
    Shape(Vec<i64>),
    #[error("raw_input_contents: expected one entry per input (1), got {0}")]
    RawCount(usize),
    #[error("inputs[0].contents: must be empty when raw_input_contents is used")]
    RawAndContents,
    #[error(
        "raw_input_contents[0]: shape {shape:?} needs {expected} bytes (4 per FP32), got {found}"
    )]
    RawLength {
        shape: Vec<i64>,
        expected: usize,
        found: usize,
    },
    #[error(
        "inputs[0].contents.fp32_contents: shape {shape:?} needs {expected} values, got {found}"
    )]
    ContentsLength {
        shape: Vec<i64>,
        expected: usize,
        found: usize,
    },
    #[error("inputs[0].contents: expected fp32_contents for datatype FP32, got {0}")]
    WrongContents(&'static str),
    #[error("{field}: empty batch, expected at least one row")]
    Empty { field: &'static str },
    #[error("{field}: {found} rows exceed this node's limit of {max} rows per request")]
    TooManyRows {
        field: &'static str,
        max: usize,
        found: usize,
    },
    #[error("{field}: model {model} expects {expected} features {schema:?}, got {found}")]
    FeatureCount {
        field: String,
        model: String,
        expected: usize,
        found: usize,
        schema: Vec<String>,
    },
    #[error("rows[{row}].features: unknown feature {name:?}; model {model} expects {schema:?}")]
    UnknownFeature {
        row: usize,
        name: String,
        model: String,
        schema: Vec<String>,
    },
    #[error("rows[{row}].features: missing feature {name:?}; model {model} expects {schema:?}")]
    MissingFeature {
        row: usize,
        name: String,
        model: String,
        schema: Vec<String>,
    },
    #[error("rows[{row}]: set either `values` (positional) or `features` (named), not both")]
    MixedRow { row: usize },
    #[error("{field}: row {row}, feature {feature:?}: expected a finite number, got {value}")]
    NonFinite {
        field: &'static str,
        row: usize,
        feature: String,
        value: f32,
    },
}

/// The one input tensor of an OIP request as a `[N, F]` matrix. Checks
/// count, datatype, shape and content length; not the schema.
pub fn decode_input(req: &ModelInferRequest) -> Result<Array2<f32>, InputError> {
    if req.inputs.len() != 1 {
        return Err(InputError::InputCount(req.inputs.len()));
    }
    let input = &req.inputs[0];
    if input.name != joust_client::inference::INPUT {
        return Err(InputError::InputName(input.name.clone()));
    }
    if input.datatype != "FP32" {
        return Err(InputError::Datatype(input.datatype.clone()));
    }
    let (rows, cols) = match input.shape.as_slice() {
        [n, f] if *n >= 1 && *f >= 1 => (*n as usize, *f as usize),
        [0, _] => {
            return Err(InputError::Empty {
                field: "inputs[0].shape",
            });
        }
        other => return Err(InputError::Shape(other.to_vec())),
    };
    let expected = rows
        .checked_mul(cols)
        .ok_or_else(|| InputError::Shape(input.shape.clone()))?;
    let data = if req.raw_input_contents.is_empty() {
        let contents = input.contents.as_ref();
        if let Some(c) = contents {
            let other = [
                (!c.bool_contents.is_empty(), "bool_contents"),
                (!c.int_contents.is_empty(), "int_contents"),
                (!c.int64_contents.is_empty(), "int64_contents"),
                (!c.uint_contents.is_empty(), "uint_contents"),
                (!c.uint64_contents.is_empty(), "uint64_contents"),
                (!c.fp64_contents.is_empty(), "fp64_contents"),
                (!c.bytes_contents.is_empty(), "bytes_contents"),
            ];
            if let Some((_, name)) = other.iter().find(|(set, _)| *set) {
                return Err(InputError::WrongContents(name));
            }
        }
        let values = contents.map(|c| c.fp32_contents.as_slice()).unwrap_or(&[]);
        if values.len() != expected {
            return Err(InputError::ContentsLength {
                shape: input.shape.clone(),
                expected,
                found: values.len(),
            });
        }
        values.to_vec()
    } else {
        if req.raw_input_contents.len() != 1 {
            return Err(InputError::RawCount(req.raw_input_contents.len()));
        }
        if input.contents.is_some() {
            return Err(InputError::RawAndContents);
        }
        let raw = &req.raw_input_contents[0];
        if Some(raw.len()) != expected.checked_mul(4) {
            return Err(InputError::RawLength {
                shape: input.shape.clone(),
                expected: expected.saturating_mul(4),
                found: raw.len(),
            });
        }
        raw.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    Array2::from_shape_vec((rows, cols), data).map_err(|_| InputError::Shape(input.shape.clone()))
}

/// Native rows as a `[N, F]` matrix in `schema` order. Positional rows
/// must have `schema.len()` values; named rows every schema feature and no
/// other.
pub fn decode_rows(
    rows: &[FeatureRow],
    model: &str,
    schema: &[String],
) -> Result<Array2<f32>, InputError> {
    if rows.is_empty() {
        return Err(InputError::Empty { field: "rows" });
    }
    let f = schema.len();
    let mut data = Vec::with_capacity(rows.len() * f);
    let mut index: Option<HashMap<&str, usize>> = None;
    for (i, row) in rows.iter().enumerate() {
        match (row.values.is_empty(), row.features.is_empty()) {
            (false, false) => return Err(InputError::MixedRow { row: i }),
            (false, true) | (true, true) => {
                if row.values.len() != f {
                    return Err(InputError::FeatureCount {
                        field: format!("rows[{i}].values"),
                        model: model.to_owned(),
                        expected: f,
                        found: row.values.len(),
                        schema: schema.to_vec(),
                    });
                }
                data.extend_from_slice(&row.values);
            }
            (true, false) => {
                let index = index.get_or_insert_with(|| {
                    schema
                        .iter()
                        .enumerate()
                        .map(|(j, n)| (n.as_str(), j))
                        .collect()
                });
                if let Some(name) = row
                    .features
                    .keys()
                    .find(|k| !index.contains_key(k.as_str()))
                {
                    return Err(InputError::UnknownFeature {
                        row: i,
                        name: name.clone(),
                        model: model.to_owned(),
                        schema: schema.to_vec(),
                    });
                }
                for name in schema {
                    match row.features.get(name) {
                        Some(v) => data.push(*v),
                        None => {
                            return Err(InputError::MissingFeature {
                                row: i,
                                name: name.clone(),
                                model: model.to_owned(),
                                schema: schema.to_vec(),
                            });
                        }
                    }
                }
            }
        }
    }
    Array2::from_shape_vec((rows.len(), f), data).map_err(|_| InputError::Empty { field: "rows" })
}

/// Checks a decoded batch against the model: row count within `max_rows`,
/// one column per schema feature, every value finite.
pub fn check_batch(
    x: &Array2<f32>,
    field: &'static str,
    model: &str,
    schema: &[String],
    max_rows: usize,
) -> Result<(), InputError> {
    if x.nrows() == 0 {
        return Err(InputError::Empty { field });
    }
    if x.nrows() > max_rows {
        return Err(InputError::TooManyRows {
            field,
            max: max_rows,
            found: x.nrows(),
        });
    }
    if x.ncols() != schema.len() {
        return Err(InputError::FeatureCount {
            field: field.to_owned(),
            model: model.to_owned(),
            expected: schema.len(),
            found: x.ncols(),
            schema: schema.to_vec(),
        });
    }
    for (row, values) in x.rows().into_iter().enumerate() {
        for (column, value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(InputError::NonFinite {
                    field,
                    row,
                    feature: schema.get(column).cloned().unwrap_or_default(),
                    value: *value,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
