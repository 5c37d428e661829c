//! How an ONNX model's outputs become joust's `score` (higher = more
//! anomalous) and `label` (anomalous or not): the registration-time
//! mapping, stored as the version's `onnx.*` annotations, its defaults,
//! and its check against the graph's outputs.
//!
//! | annotation | meaning | default |
//! | --- | --- | --- |
//! | `onnx.score` | the FP32 tensor output read as the score | see below |
//! | `onnx.score_column` | its column (`[N, k]` outputs) | the last (k − 1) |
//! | `onnx.score_sign` | `1` or `-1`: the score is sign × the value | `1` |
//! | `onnx.label` | an INT64 tensor output giving the label | — |
//! | `onnx.label_anomaly` | the `onnx.label` value meaning anomalous | `1` |
//! | `onnx.threshold` | label = score > this (instead of `onnx.label`) | — |
//!
//! With no `onnx.score`, the default is picked from the output names:
//! `scores` (FP32) + `label` (INT64), a scikit-learn IsolationForest from
//! skl2onnx: score = −`scores[:, 0]` (−`decision_function`), label =
//! (`label` = −1); `probabilities` (FP32 `[N, k]`, a classifier exported
//! with `zipmap=False`): score = the last column (the positive class),
//! label = (`label` = 1) when there is an INT64 `label`, else score > 0.5;
//! the same for `output_probability` + `output_label` (the default export,
//! whose ZipMap is served as FP32 `[N, k]`);
//! otherwise the first FP32 output's first column with label = score > 0.
//! An explicit `onnx.score` needs `onnx.label` or `onnx.threshold`; the
//! two exclude each other. `onnx.threshold` alone overrides only the
//! default's label.

use ort::value::{TensorElementType, ValueType};

/// Every annotation key the mapping reads.
pub const KEYS: [&str; 6] = [
    "onnx.score",
    "onnx.score_column",
    "onnx.score_sign",
    "onnx.label",
    "onnx.label_anomaly",
    "onnx.threshold",
];

/// The mapping as registered: what the `onnx.*` annotations ask for,
/// parsed but not yet checked against a graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnnxMapping {
    score: Option<String>,
    score_column: Option<usize>,
    score_sign: Option<f32>,
    label: Option<String>,
    label_anomaly: Option<i64>,
    threshold: Option<f32>,
}

/// How the score is read from one output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScoreFrom {
    pub(crate) output: String,
    pub(crate) column: usize,
    pub(crate) width: usize,
    pub(crate) sign: f32,
}

/// How the label is obtained.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelFrom {
    /// An INT64 output equal to this value means anomalous.
    Equals(String, i64),
    /// `score > threshold`.
    Above(f32),
}

impl OnnxMapping {
    /// The defaults only (no `onnx.*` annotation).
    pub fn defaults() -> Self {
        Self::default()
    }

    /// Reads the `onnx.*` entries of a version's annotations (other keys
    /// are ignored). Refuses unknown `onnx.*` keys, values that do not
    /// parse, and combinations that make no sense, naming the key.
    pub fn from_annotations<'a>(
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut m = OnnxMapping::default();
        for (key, value) in annotations {
            if !key.starts_with("onnx.") {
                continue;
            }
            let value = value.trim();
            let nonempty = || {
                if value.is_empty() {
                    Err(format!(
                        "{key}: expected an output name, got an empty value"
                    ))
                } else {
                    Ok(value.to_owned())
                }
            };
            match key {
                "onnx.score" => m.score = Some(nonempty()?),
                "onnx.label" => m.label = Some(nonempty()?),
                "onnx.score_column" => {
                    m.score_column = Some(value.parse().map_err(|_| {
                        format!("{key}: expected a column index (0, 1, …), got `{value}`")
                    })?)
                }
                "onnx.score_sign" => {
                    m.score_sign = Some(match value {
                        "1" | "+1" => 1.0,
                        "-1" => -1.0,
                        _ => return Err(format!("{key}: expected 1 or -1, got `{value}`")),
                    })
                }
                "onnx.label_anomaly" => {
                    m.label_anomaly = Some(value.parse().map_err(|_| {
                        format!("{key}: expected an integer (the anomalous label), got `{value}`")
                    })?)
                }
                "onnx.threshold" => {
                    let t: f32 = value
                        .parse()
                        .ok()
                        .filter(|t: &f32| t.is_finite())
                        .ok_or_else(|| format!("{key}: expected a finite number, got `{value}`"))?;
                    m.threshold = Some(t);
                }
                other => {
                    return Err(format!(
                        "{other}: unknown ONNX mapping key; expected one of {}",
                        KEYS.join(", ")
                    ));
                }
            }
        }
        if m.score.is_none() && (m.score_column.is_some() || m.score_sign.is_some()) {
            return Err(
                "onnx.score_column and onnx.score_sign need onnx.score (the output)".into(),
            );
        }
        if m.label.is_none() && m.label_anomaly.is_some() {
            return Err("onnx.label_anomaly needs onnx.label (the output)".into());
        }
        if m.label.is_some() && m.threshold.is_some() {
            return Err(
                "onnx.label and onnx.threshold exclude each other: give the label output or the threshold"
                    .into(),
            );
        }
        if m.score.is_some() && m.label.is_none() && m.threshold.is_none() {
            return Err("onnx.score needs onnx.label (an INT64 output) or onnx.threshold".into());
        }
        Ok(m)
    }

    /// The mapping as annotations (the inverse of `from_annotations`).
    pub fn to_annotations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k.to_owned(), v));
            }
        };
        put("onnx.score", self.score.clone());
        put(
            "onnx.score_column",
            self.score_column.map(|c| c.to_string()),
        );
        put("onnx.score_sign", self.score_sign.map(|s| s.to_string()));
        put("onnx.label", self.label.clone());
        put(
            "onnx.label_anomaly",
            self.label_anomaly.map(|v| v.to_string()),
        );
        put("onnx.threshold", self.threshold.map(|t| t.to_string()));
        out
    }

    /// Checks the mapping against the graph's outputs and resolves it.
    pub(crate) fn resolve(
        &self,
        outputs: &[(String, ValueType)],
    ) -> Result<(ScoreFrom, LabelFrom), String> {
        let (default_score, default_label) = match &self.score {
            Some(_) => (None, None),
            None => {
                let (s, l) = defaults(outputs)?;
                (Some(s), Some(l))
            }
        };
        let score = match (&self.score, default_score) {
            (Some(name), _) => {
                let t = find(outputs, "onnx.score", name)?;
                let width = float_width(t).ok_or_else(|| {
                    format!(
                        "onnx.score: output `{name}` is {}, expected an FP32 tensor of shape [N] or [N, k]",
                        type_name(t)
                    )
                })?;
                let column = self.score_column.unwrap_or(width - 1);
                if column >= width {
                    return Err(format!(
                        "onnx.score_column: output `{name}` has {width} columns, got column {column}"
                    ));
                }
                ScoreFrom {
                    output: name.clone(),
                    column,
                    width,
                    sign: self.score_sign.unwrap_or(1.0),
                }
            }
            (None, Some(s)) => s,
            (None, None) => return Err("no score mapping".into()),
        };
        let label = match (&self.label, self.threshold, default_label) {
            (Some(name), _, _) => {
                let t = find(outputs, "onnx.label", name)?;
                if !is_tensor(t, TensorElementType::Int64) {
                    return Err(format!(
                        "onnx.label: output `{name}` is {}, expected an INT64 tensor",
                        type_name(t)
                    ));
                }
                LabelFrom::Equals(name.clone(), self.label_anomaly.unwrap_or(1))
            }
            (None, Some(t), _) => LabelFrom::Above(t),
            (None, None, Some(l)) => l,
            (None, None, None) => return Err("no label mapping".into()),
        };
        Ok((score, label))
    }
}

/// A type as the error messages show it: `FP32[-1, 1]`, `seq(map…)`.
pub(crate) fn type_name(t: &ValueType) -> String {
    match t {
        ValueType::Tensor { ty, shape, .. } => match oip_datatype(*ty) {
            Some(name) => format!("{name}{:?}", &shape[..]),
            None => format!("{ty}{:?}", &shape[..]),
        },
        other => other.to_string(),
    }
}

/// The OIP datatype of a tensor element type joust serves as an output.
pub(crate) fn oip_datatype(t: TensorElementType) -> Option<&'static str> {
    Some(match t {
        TensorElementType::Float32 => "FP32",
        TensorElementType::Float64 => "FP64",
        TensorElementType::Int32 => "INT32",
        TensorElementType::Int64 => "INT64",
        TensorElementType::Bool => "BOOL",
        TensorElementType::String => "STRING",
        _ => return None,
    })
}

/// The graph's outputs, listed for error messages.
pub(crate) fn list(outputs: &[(String, ValueType)]) -> String {
    outputs
        .iter()
        .map(|(n, t)| format!("`{n}`: {}", type_name(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn find<'a>(
    outputs: &'a [(String, ValueType)],
    key: &str,
    name: &str,
) -> Result<&'a ValueType, String> {
    outputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| {
            format!(
                "{key}: the graph has no output `{name}`; its outputs are {}",
                list(outputs)
            )
        })
}

fn is_tensor(t: &ValueType, want: TensorElementType) -> bool {
    matches!(t, ValueType::Tensor { ty, .. } if *ty == want)
}

/// Columns of an FP32 tensor output of shape `[N]` (1) or `[N, k]` (k,
/// when fixed and ≥ 1); `None` for anything else.
fn float_width(t: &ValueType) -> Option<usize> {
    match t {
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape,
            ..
        } => match shape.len() {
            1 => Some(1),
            2 if shape[1] > 0 => Some(shape[1] as usize),
            _ => None,
        },
        _ => None,
    }
}

/// The default mapping, picked from the output names (module docs).
fn defaults(outputs: &[(String, ValueType)]) -> Result<(ScoreFrom, LabelFrom), String> {
    let get = |name: &str| outputs.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    // A classifier: `probabilities` + `label` (zipmap=False), or
    // `output_probability` (its ZipMap, served as FP32 [N, k]) +
    // `output_label` (skl2onnx's default export).
    let (probabilities, label_name) =
        if get("probabilities").is_none() && get("output_probability").is_some() {
            ("output_probability", "output_label")
        } else {
            ("probabilities", "label")
        };
    let int_label = get(label_name).is_some_and(|t| is_tensor(t, TensorElementType::Int64));
    if let Some(t) = get(probabilities) {
        let width = float_width(t).filter(|w| *w >= 2).ok_or_else(|| {
            format!(
                "output `{probabilities}`: expected FP32 of shape [N, k] with k >= 2, got {}",
                type_name(t)
            )
        })?;
        let label = if int_label {
            LabelFrom::Equals(label_name.into(), 1)
        } else {
            LabelFrom::Above(0.5)
        };
        let score = ScoreFrom {
            output: probabilities.into(),
            column: width - 1,
            width,
            sign: 1.0,
        };
        return Ok((score, label));
    }
    if let Some(width) = get("scores").and_then(float_width)
        && int_label
    {
        let score = ScoreFrom {
            output: "scores".into(),
            column: 0,
            width,
            sign: -1.0,
        };
        return Ok((score, LabelFrom::Equals("label".into(), -1)));
    }
    for (name, t) in outputs {
        if let Some(width) = float_width(t) {
            let score = ScoreFrom {
                output: name.clone(),
                column: 0,
                width,
                sign: 1.0,
            };
            return Ok((score, LabelFrom::Above(0.0)));
        }
    }
    Err(format!(
        "no output gives a score: expected `scores` + `label` (IsolationForest), `probabilities` \
         (a classifier exported with zipmap=False) or an FP32 tensor, or name one with \
         onnx.score; the graph has {}",
        list(outputs)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(kv: &[(&str, &str)]) -> Result<OnnxMapping, String> {
        OnnxMapping::from_annotations(kv.iter().copied())
    }

    #[test]
    fn other_annotations_are_ignored_and_defaults_are_empty() {
        assert_eq!(parse(&[("run", "42")]).unwrap(), OnnxMapping::defaults());
    }

    #[test]
    fn round_trips_through_annotations() {
        let m = parse(&[
            ("onnx.score", "scores"),
            ("onnx.score_sign", "-1"),
            ("onnx.score_column", "0"),
            ("onnx.label", "label"),
            ("onnx.label_anomaly", "-1"),
        ])
        .unwrap();
        let back = m.to_annotations();
        let again =
            OnnxMapping::from_annotations(back.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(again.unwrap(), m);
    }

    #[test]
    fn refuses_bad_keys_values_and_combinations_naming_the_key() {
        for (kv, says) in [
            (vec![("onnx.scor", "x")], "onnx.scor: unknown"),
            (
                vec![
                    ("onnx.score", "s"),
                    ("onnx.score_sign", "2"),
                    ("onnx.threshold", "0"),
                ],
                "onnx.score_sign: expected 1 or -1",
            ),
            (
                vec![("onnx.threshold", "nan")],
                "onnx.threshold: expected a finite",
            ),
            (vec![("onnx.score", "s")], "onnx.score needs"),
            (vec![("onnx.score_sign", "-1")], "need onnx.score"),
            (vec![("onnx.label_anomaly", "1")], "needs onnx.label"),
            (
                vec![("onnx.label", "l"), ("onnx.threshold", "0")],
                "exclude each other",
            ),
            (
                vec![("onnx.score", " "), ("onnx.threshold", "0")],
                "onnx.score: expected an output",
            ),
        ] {
            let err = parse(&kv).unwrap_err();
            assert!(err.contains(says), "{kv:?}: {err}");
        }
    }

    #[test]
    fn a_classifiers_default_zipmap_export_is_scored_by_its_last_class() {
        use ort::value::{Shape, SymbolicDimensions};
        let t = |ty, dims: Vec<i64>| ValueType::Tensor {
            ty,
            dimension_symbols: SymbolicDimensions::new(dims.iter().map(|_| String::new())),
            shape: Shape::new(dims),
        };
        // As the node sees it: the ZipMap already served as FP32 [N, 2].
        let outputs = vec![
            (
                "output_label".to_owned(),
                t(TensorElementType::Int64, vec![-1]),
            ),
            (
                "output_probability".to_owned(),
                t(TensorElementType::Float32, vec![-1, 2]),
            ),
        ];
        let (score, label) = OnnxMapping::defaults().resolve(&outputs).unwrap();
        assert_eq!(
            (score.output.as_str(), score.column, score.width, score.sign),
            ("output_probability", 1, 2, 1.0)
        );
        assert!(matches!(label, LabelFrom::Equals(ref n, 1) if n == "output_label"));
    }
}
