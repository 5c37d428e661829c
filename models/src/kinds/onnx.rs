//! The `onnx` kind: a model trained elsewhere (scikit-learn, XGBoost,
//! LightGBM…) and exported to ONNX, run by ONNX Runtime through the `ort`
//! crate. The runtime is the `libonnxruntime` shared library of PyPI's
//! `onnxruntime` 1.31 wheel, loaded at run time from `ORT_DYLIB_PATH`;
//! nothing is downloaded. Without it an onnx model fails to load with a
//! message saying how to install it; the other kinds do not need it.
//!
//! Input schema: the graph's single FP32 input of shape `[N, d]` (fixed
//! `d`); the features are named by the model's metadata property
//! `feature_names` (comma-separated) when present, else `x0..x{d-1}`.
//!
//! Output mapping (joust's `score`, higher = more anomalous, and `label`):
//! - an output `scores` (FP32) and an output `label` (INT64) and no
//!   `probabilities`: a scikit-learn IsolationForest exported by skl2onnx,
//!   where `scores` is `decision_function`: score = −scores, label =
//!   (label = −1);
//! - an output `probabilities` (FP32, `[N, k]`, `k ≥ 2`): a classifier
//!   exported with `zipmap=False`: score = the probability of the last
//!   class (the positive class of a binary classifier), label = (`label`
//!   output = 1) if the graph has an INT64 `label`, else score > 0.5;
//! - otherwise the first FP32 tensor output: score = its first column,
//!   label = score > 0.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The environment variable naming the ONNX Runtime shared library.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// How to install the runtime (in every "runtime missing" message).
pub const INSTALL_HINT: &str = "install it with `pip install onnxruntime==1.31.1` and set \
ORT_DYLIB_PATH to the wheel's onnxruntime/capi/libonnxruntime.so.1.31.1 (see docs/models.md, \
\"ONNX models\")";

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process from `ORT_DYLIB_PATH`.
fn runtime() -> Result<&'static ort::environment::Environment, String> {
    RUNTIME
        .get_or_init(|| {
            let path = match std::env::var_os(ORT_DYLIB_PATH) {
                Some(p) if !p.is_empty() => PathBuf::from(p),
                _ => {
                    return Err(format!(
                        "ONNX Runtime is not installed: {ORT_DYLIB_PATH} is not set; {INSTALL_HINT}"
                    ));
                }
            };
            if !path.is_file() {
                return Err(format!(
                    "ONNX Runtime is not installed: {ORT_DYLIB_PATH}={} is not a file; {INSTALL_HINT}",
                    path.display()
                ));
            }
            let builder = ort::init_from(&path).map_err(|e| {
                format!(
                    "ONNX Runtime at {} does not load: {e}; {INSTALL_HINT}",
                    path.display()
                )
            })?;
            builder
                .with_name("joust")
                .build()
                .map_err(|e| format!("ONNX Runtime environment: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether the runtime loads in this process (for health output).
pub fn runtime_status() -> Result<(), String> {
    runtime().map(|_| ())
}

/// How the `score` output is read.
#[derive(Debug, Clone, PartialEq)]
enum ScoreFrom {
    /// `-output[:, 0]` (IsolationForest `decision_function`).
    Negated(String),
    /// `output[:, column]` of `width` columns.
    Column {
        output: String,
        column: usize,
        width: usize,
    },
}

/// How the `label` is obtained.
#[derive(Debug, Clone, PartialEq)]
enum LabelFrom {
    /// INT64 output equal to this value means anomalous.
    Equals(String, i64),
    /// `score > threshold`.
    Above(f32),
}

struct Inner {
    bytes: Vec<u8>,
    input: String,
    n_features: usize,
    feature_names: Vec<String>,
    score: ScoreFrom,
    label: LabelFrom,
    outputs: Vec<(String, String)>,
    session: Mutex<Session>,
}

/// A loaded ONNX model.
#[derive(Clone)]
pub struct OnnxModel(Arc<Inner>);

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("bytes", &self.0.bytes.len())
            .field("input", &self.0.input)
            .field("n_features", &self.0.n_features)
            .field("score", &self.0.score)
            .field("label", &self.0.label)
            .finish()
    }
}

impl PartialEq for OnnxModel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.bytes == other.0.bytes
    }
}

impl Serialize for OnnxModel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0.bytes)
    }
}

impl<'de> Deserialize<'de> for OnnxModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::Deserialize::deserialize(d)?;
        OnnxModel::load(bytes).map_err(serde::de::Error::custom)
    }
}

fn dtype_name(t: &ValueType) -> String {
    match t {
        ValueType::Tensor { ty, shape, .. } => format!("{ty}{:?}", &shape[..]),
        other => other.to_string(),
    }
}

impl OnnxModel {
    /// Parses `bytes` as an ONNX model, builds a session (every operator
    /// must have a kernel in the runtime), checks the input schema and
    /// picks the output mapping. Never panics on any input.
    pub fn load(bytes: Vec<u8>) -> Result<OnnxModel, String> {
        let env = runtime()?;
        if bytes.is_empty() {
            return Err("not an ONNX model: the file is empty".into());
        }
        let options = |e: ort::Error<ort::session::builder::SessionBuilder>| {
            format!("ONNX Runtime session options: {e}")
        };
        let mut builder = Session::builder(env)
            .map_err(|e| format!("ONNX Runtime session: {e}"))?
            .with_intra_threads(1)
            .map_err(options)?
            .with_inter_threads(1)
            .map_err(options)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(options)?;
        let session = builder
            .commit_from_memory(&bytes)
            .map_err(|e| format!("not a runnable ONNX model: {}", e.message()))?;
        let inputs = session.inputs();
        let [input] = inputs else {
            return Err(format!(
                "expected one FP32 input of shape [N, d], the graph has {} inputs ({})",
                inputs.len(),
                inputs
                    .iter()
                    .map(|i| format!("`{}`: {}", i.name(), dtype_name(i.dtype())))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let n_features = match input.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 && shape[1] > 0 => shape[1] as usize,
            other => {
                return Err(format!(
                    "input `{}`: expected FP32 of shape [N, d] with a fixed d, got {}",
                    input.name(),
                    dtype_name(other)
                ));
            }
        };
        let input_name = input.name().to_owned();
        let names = session
            .metadata()
            .ok()
            .and_then(|m| m.custom("feature_names"))
            .map(|s| {
                s.split(',')
                    .map(|n| n.trim().to_owned())
                    .collect::<Vec<_>>()
            });
        let feature_names = match names {
            Some(n) if n.len() == n_features => n,
            Some(n) => {
                return Err(format!(
                    "metadata feature_names has {} names but input `{input_name}` has {n_features} features",
                    n.len()
                ));
            }
            None => (0..n_features).map(|i| format!("x{i}")).collect(),
        };
        let outputs: Vec<(String, ValueType)> = session
            .outputs()
            .iter()
            .map(|o| (o.name().to_owned(), o.dtype().clone()))
            .collect();
        let (score, label) = mapping(&outputs)?;
        let model = OnnxModel(Arc::new(Inner {
            bytes,
            input: input_name,
            n_features,
            feature_names,
            score,
            label,
            outputs: outputs
                .iter()
                .map(|(n, t)| (n.clone(), dtype_name(t)))
                .collect(),
            session: Mutex::new(session),
        }));
        // Warm-up: one row of zeros must run and give one finite score.
        let zeros = vec![0.0f32; n_features];
        let mut s = [0.0f32];
        let mut l = [false];
        model
            .predict_rows(&zeros, &mut s, &mut l)
            .map_err(|e| format!("warm-up row failed: {e}"))?;
        Ok(model)
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.0.n_features
    }

    /// Feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        &self.0.feature_names
    }

    /// The ONNX outputs by name and type (for metadata).
    pub fn outputs(&self) -> &[(String, String)] {
        &self.0.outputs
    }

    /// Scores and labels `out_scores.len()` rows of `data` (row-major).
    pub fn predict_rows(
        &self,
        data: &[f32],
        out_scores: &mut [f32],
        out_labels: &mut [bool],
    ) -> Result<(), String> {
        let rows = out_scores.len();
        if rows == 0 {
            return Ok(());
        }
        let d = self.0.n_features;
        if data.len() != rows * d || out_labels.len() != rows {
            return Err(format!(
                "expected {} values for {rows} rows of {d} features, got {}",
                rows * d,
                data.len()
            ));
        }
        let tensor = TensorRef::from_array_view(([rows, d], data))
            .map_err(|e| format!("input tensor: {e}"))?;
        let mut session = self
            .0
            .session
            .lock()
            .map_err(|_| "ONNX session poisoned by an earlier panic".to_owned())?;
        let outputs = session
            .run(ort::inputs![self.0.input.as_str() => tensor])
            .map_err(|e| format!("ONNX Runtime run: {}", e.message()))?;
        let get = |name: &str| {
            outputs
                .get(name)
                .ok_or_else(|| format!("output `{name}` missing from the run"))
        };
        match &self.0.score {
            ScoreFrom::Negated(name) => {
                let (_, v) = get(name)?
                    .try_extract_tensor::<f32>()
                    .map_err(|e| format!("output `{name}`: {e}"))?;
                let width = v.len() / rows;
                if width == 0 || v.len() != width * rows {
                    return Err(format!(
                        "output `{name}`: {} values for {rows} rows",
                        v.len()
                    ));
                }
                for (o, row) in out_scores.iter_mut().zip(v.chunks_exact(width)) {
                    *o = -row[0];
                }
            }
            ScoreFrom::Column {
                output,
                column,
                width,
            } => {
                let (_, v) = get(output)?
                    .try_extract_tensor::<f32>()
                    .map_err(|e| format!("output `{output}`: {e}"))?;
                if v.len() != width * rows {
                    return Err(format!(
                        "output `{output}`: expected {} values, got {}",
                        width * rows,
                        v.len()
                    ));
                }
                for (o, row) in out_scores.iter_mut().zip(v.chunks_exact(*width)) {
                    *o = row[*column];
                }
            }
        }
        match &self.0.label {
            LabelFrom::Equals(name, value) => {
                let (_, v) = get(name)?
                    .try_extract_tensor::<i64>()
                    .map_err(|e| format!("output `{name}`: {e}"))?;
                if v.len() != rows {
                    return Err(format!(
                        "output `{name}`: {} values for {rows} rows",
                        v.len()
                    ));
                }
                for (o, l) in out_labels.iter_mut().zip(v) {
                    *o = *l == *value;
                }
            }
            LabelFrom::Above(t) => {
                for (o, s) in out_labels.iter_mut().zip(out_scores.iter()) {
                    *o = *s > *t;
                }
            }
        }
        for (i, s) in out_scores.iter().enumerate() {
            if !s.is_finite() {
                return Err(format!("row {i}: the model gave a non-finite score {s}"));
            }
        }
        Ok(())
    }
}

fn is_tensor(t: &ValueType, want: TensorElementType) -> bool {
    matches!(t, ValueType::Tensor { ty, .. } if *ty == want)
}

/// Picks the default score/label mapping from the graph's outputs.
fn mapping(outputs: &[(String, ValueType)]) -> Result<(ScoreFrom, LabelFrom), String> {
    let find = |name: &str| outputs.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    let int_label = find("label").is_some_and(|t| is_tensor(t, TensorElementType::Int64));
    if let Some(t) = find("probabilities") {
        let width = match t {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 && shape[1] >= 2 => shape[1] as usize,
            other => {
                return Err(format!(
                    "output `probabilities`: expected FP32 of shape [N, k] with k >= 2, got {}",
                    dtype_name(other)
                ));
            }
        };
        let label = if int_label {
            LabelFrom::Equals("label".into(), 1)
        } else {
            LabelFrom::Above(0.5)
        };
        return Ok((
            ScoreFrom::Column {
                output: "probabilities".into(),
                column: width - 1,
                width,
            },
            label,
        ));
    }
    if let Some(t) = find("scores")
        && is_tensor(t, TensorElementType::Float32)
        && int_label
    {
        return Ok((
            ScoreFrom::Negated("scores".into()),
            LabelFrom::Equals("label".into(), -1),
        ));
    }
    for (name, t) in outputs {
        if let ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape,
            ..
        } = t
        {
            let width = match shape.get(1) {
                Some(w) if *w > 0 => *w as usize,
                _ => 1,
            };
            return Ok((
                ScoreFrom::Column {
                    output: name.clone(),
                    column: 0,
                    width,
                },
                LabelFrom::Above(0.0),
            ));
        }
    }
    Err(format!(
        "no output gives a score: expected `scores` + `label` (IsolationForest), `probabilities` \
         (a classifier exported with zipmap=False) or an FP32 tensor; the graph has {}",
        outputs
            .iter()
            .map(|(n, t)| format!("`{n}`: {}", dtype_name(t)))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
