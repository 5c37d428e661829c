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
//! Output mapping (joust's `score` and `label`): see `mapping`, set at
//! registration by the version's `onnx.*` annotations, with defaults that
//! recognise skl2onnx's IsolationForest and classifiers.
//!
//! Outputs: every graph output must be a tensor of a type OIP carries
//! (FP32, FP64, INT32, INT64, BOOL) or a ZipMap (`seq(map(int64, float))`,
//! a scikit-learn classifier's default export), which is served as the
//! FP32 tensor `[N, classes]` (classes in ascending order; the class count
//! from a warm-up row at load); other sequences and maps are refused naming
//! the output and the `zipmap=False` fix. A run can hand back every output
//! by name (`OutputTensor`), which OIP answers carry beside `score`/`label`.
//!
//! Sessions: `ort` 2.0.0-rc.15's `Session::run` takes `&mut self` (ONNX
//! Runtime's `Run` is not safe to call concurrently on one session in
//! every execution provider), so each model holds a small pool of
//! sessions (one per core, at most 4; one only for a graph that takes
//! over 0.5 s to build), each behind its own mutex; a call takes the first
//! free one.

mod mapping;

pub use mapping::{KEYS as MAPPING_KEYS, OnnxMapping};

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{
    DynMapValueType, DynSequenceValueType, DynValue, Shape, SymbolicDimensions, TensorElementType,
    TensorRef, ValueType,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use mapping::{LabelFrom, ScoreFrom, oip_datatype, type_name};

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

/// One graph output's values from a run, in the graph's own type.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputData {
    /// `tensor(float)`.
    Fp32(Vec<f32>),
    /// `tensor(double)`.
    Fp64(Vec<f64>),
    /// `tensor(int32)`.
    Int32(Vec<i32>),
    /// `tensor(int64)`.
    Int64(Vec<i64>),
    /// `tensor(bool)`.
    Bool(Vec<bool>),
}

impl OutputData {
    /// The OIP datatype name.
    pub fn datatype(&self) -> &'static str {
        match self {
            OutputData::Fp32(_) => "FP32",
            OutputData::Fp64(_) => "FP64",
            OutputData::Int32(_) => "INT32",
            OutputData::Int64(_) => "INT64",
            OutputData::Bool(_) => "BOOL",
        }
    }
}

/// One graph output of a run: its ONNX name, shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// The output's name in the graph.
    pub name: String,
    /// Its shape in this run (the batch dimension resolved).
    pub shape: Vec<i64>,
    /// Its values, row-major.
    pub data: OutputData,
}

/// A graph output as declared: its name, OIP datatype and shape (`-1`
/// for a dynamic dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The output's name in the graph.
    pub name: String,
    /// FP32, FP64, INT32, INT64 or BOOL.
    pub datatype: &'static str,
    /// Declared dimensions, `-1` where dynamic.
    pub shape: Vec<i64>,
}

struct Inner {
    bytes: Vec<u8>,
    mapping: OnnxMapping,
    input: String,
    n_features: usize,
    feature_names: Vec<String>,
    score: ScoreFrom,
    label: LabelFrom,
    outputs: Vec<OutputSpec>,
    /// The session built at load; always there.
    first: Mutex<Session>,
    /// More sessions (`fill_pool`); empty cells when the graph was too
    /// slow to build.
    extra: Box<[OnceLock<Mutex<Session>>]>,
    next: AtomicUsize,
}

/// Sessions per model: one per core, at most this many.
const MAX_SESSIONS: usize = 4;

/// A graph whose first session took longer than this to build keeps one.
const POOL_BUILD_BUDGET: Duration = Duration::from_millis(500);

/// Why an ONNX file does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxLoadError {
    /// The file, its graph or the runtime (not ONNX, truncated, an
    /// unsupported operator, a wrong input type, no runtime…).
    Model(String),
    /// The output mapping (`onnx.*` annotations) does not fit the graph.
    Mapping(String),
}

impl fmt::Display for OnnxLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxLoadError::Model(m) | OnnxLoadError::Mapping(m) => f.write_str(m),
        }
    }
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
            .field("sessions", &self.sessions())
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
        (&self.0.bytes, self.0.mapping.to_annotations()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for OnnxModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (bytes, annotations): (Vec<u8>, Vec<(String, String)>) =
            serde::Deserialize::deserialize(d)?;
        let mapping = OnnxMapping::from_annotations(
            annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(serde::de::Error::custom)?;
        OnnxModel::load(bytes, &mapping).map_err(serde::de::Error::custom)
    }
}

/// Checks that every output is a tensor OIP can carry.
fn output_specs(outputs: &[(String, ValueType)]) -> Result<Vec<OutputSpec>, String> {
    outputs
        .iter()
        .map(|(name, t)| match t {
            ValueType::Tensor { ty, shape, .. } => {
                let datatype = oip_datatype(*ty)
                    .filter(|d| *d != "STRING")
                    .ok_or_else(|| {
                        format!(
                            "output `{name}` is {}: joust serves FP32, FP64, INT32, INT64 and BOOL \
                         tensor outputs",
                            type_name(t)
                        )
                    })?;
                Ok(OutputSpec {
                    name: name.clone(),
                    datatype,
                    shape: shape.iter().map(|d| if *d < 0 { -1 } else { *d }).collect(),
                })
            }
            ValueType::Sequence(_) | ValueType::Map { .. } => Err(format!(
                "output `{name}` is {}: joust serves tensor outputs and ZipMap outputs \
                 (seq(map(int64, float)), skl2onnx's default for classifiers); for string class \
                 labels export the classifier with \
                 `to_onnx(model, X, options={{id(model): {{\"zipmap\": False}}}})` to get a \
                 `probabilities` tensor instead",
                type_name(t)
            )),
            other => Err(format!(
                "output `{name}` is {}: joust serves tensor outputs only",
                type_name(other)
            )),
        })
        .collect()
}

/// A ZipMap output: `seq(map(int64, float))`, one map per row (class →
/// probability), skl2onnx's default for classifiers.
fn is_zipmap(t: &ValueType) -> bool {
    matches!(t, ValueType::Sequence(inner) if matches!(
        **inner,
        ValueType::Map {
            key: TensorElementType::Int64,
            value: TensorElementType::Float32
        }
    ))
}

/// A ZipMap output's rows as row-major FP32 values, the classes in
/// ascending key order, and the number of classes (every row must have
/// the same).
fn zipmap_rows(name: &str, value: &DynValue) -> Result<(Vec<f32>, usize), String> {
    let err = |e: ort::Error| format!("output `{name}`: {e}");
    let seq = value
        .view()
        .downcast::<DynSequenceValueType>()
        .map_err(err)?;
    let maps = seq.try_extract_sequence::<DynMapValueType>().map_err(err)?;
    let mut out = Vec::new();
    let mut classes = None;
    for (i, m) in maps.iter().enumerate() {
        let mut kv = m.try_extract_key_values::<i64, f32>().map_err(err)?;
        kv.sort_by_key(|(k, _)| *k);
        match classes {
            None => classes = Some(kv.len()),
            Some(n) if n != kv.len() => {
                return Err(format!(
                    "output `{name}`: row {i} has {} classes, row 0 has {n}",
                    kv.len()
                ));
            }
            Some(_) => {}
        }
        out.extend(kv.into_iter().map(|(_, v)| v));
    }
    Ok((out, classes.unwrap_or(0)))
}

/// The FP32 values of output `name`: a tensor's data, or a ZipMap's rows
/// flattened (`zipmap_rows`).
fn float_values(name: &str, value: &DynValue) -> Result<Vec<f32>, String> {
    if is_zipmap(value.dtype()) {
        return zipmap_rows(name, value).map(|(v, _)| v);
    }
    let (_, v) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| format!("output `{name}`: {e}"))?;
    Ok(v.to_vec())
}

/// The declared outputs with each ZipMap output replaced by the FP32
/// tensor `[N, classes]` it is served as; the class count comes from one
/// run of a row of zeros on `session`.
fn zipmaps_as_tensors(
    session: &mut Session,
    input: &str,
    n_features: usize,
    outputs: Vec<(String, ValueType)>,
) -> Result<Vec<(String, ValueType)>, String> {
    if !outputs.iter().any(|(_, t)| is_zipmap(t)) {
        return Ok(outputs);
    }
    let zeros = vec![0.0f32; n_features];
    let tensor = TensorRef::from_array_view(([1, n_features], zeros.as_slice()))
        .map_err(|e| format!("input tensor: {e}"))?;
    let run = session
        .run(ort::inputs![input => tensor])
        .map_err(|e| format!("warm-up row failed: ONNX Runtime run: {}", e.message()))?;
    let mut out = Vec::with_capacity(outputs.len());
    for (name, t) in outputs {
        if !is_zipmap(&t) {
            out.push((name, t));
            continue;
        }
        let value = run
            .get(name.as_str())
            .ok_or_else(|| format!("output `{name}` missing from the warm-up run"))?;
        let (_, classes) = zipmap_rows(&name, value)?;
        if classes == 0 {
            return Err(format!("output `{name}`: the ZipMap gave no class"));
        }
        let t = ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new([-1, classes as i64]),
            dimension_symbols: SymbolicDimensions::new([String::new(), String::new()]),
        };
        out.push((name, t));
    }
    Ok(out)
}

/// Copies one run output into an `OutputTensor` (a ZipMap as the FP32
/// tensor `[N, classes]`).
fn extract(name: &str, value: &DynValue) -> Result<OutputTensor, String> {
    let err = |e: ort::Error| format!("output `{name}`: {e}");
    if is_zipmap(value.dtype()) {
        let (data, classes) = zipmap_rows(name, value)?;
        let rows = data.len().checked_div(classes).unwrap_or(0);
        return Ok(OutputTensor {
            name: name.to_owned(),
            shape: vec![rows as i64, classes as i64],
            data: OutputData::Fp32(data),
        });
    }
    let ty = match value.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        other => {
            return Err(format!(
                "output `{name}` is {}, not a tensor",
                type_name(other)
            ));
        }
    };
    macro_rules! take {
        ($t:ty, $v:ident) => {{
            let (shape, v) = value.try_extract_tensor::<$t>().map_err(err)?;
            (shape.to_vec(), OutputData::$v(v.to_vec()))
        }};
    }
    let (shape, data) = match ty {
        TensorElementType::Float32 => take!(f32, Fp32),
        TensorElementType::Float64 => take!(f64, Fp64),
        TensorElementType::Int32 => take!(i32, Int32),
        TensorElementType::Int64 => take!(i64, Int64),
        TensorElementType::Bool => take!(bool, Bool),
        other => return Err(format!("output `{name}`: type {other} is not served")),
    };
    Ok(OutputTensor {
        name: name.to_owned(),
        shape,
        data,
    })
}

/// A fresh session of `bytes` (one intra-op thread, all graph
/// optimisations).
fn session(env: &ort::environment::Environment, bytes: &[u8]) -> Result<Session, String> {
    let options = |e: ort::Error<ort::session::builder::SessionBuilder>| {
        format!("ONNX Runtime session options: {e}")
    };
    let mut builder = Session::builder(env)
        .map_err(|e| format!("ONNX Runtime session: {e}"))?
        .with_intra_threads(1)
        .map_err(options)?
        .with_inter_threads(1)
        .map_err(options)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(options)?;
    builder
        .commit_from_memory(bytes)
        .map_err(|e| format!("not a runnable ONNX model: {}", e.message()))
}

impl OnnxModel {
    /// Parses `bytes` as an ONNX model, builds its sessions (every
    /// operator must have a kernel in the runtime), checks the input
    /// schema and the outputs, resolves `mapping` against the outputs and
    /// runs a warm-up row. Never panics on any input.
    pub fn load(bytes: Vec<u8>, mapping: &OnnxMapping) -> Result<OnnxModel, OnnxLoadError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::load_with_sessions(bytes, mapping, cores.clamp(1, MAX_SESSIONS))
    }

    /// `load` with a pool of up to `sessions` sessions (at least one; see
    /// `fill_pool`). The registry's check uses one.
    pub fn load_with_sessions(
        bytes: Vec<u8>,
        mapping: &OnnxMapping,
        sessions: usize,
    ) -> Result<OnnxModel, OnnxLoadError> {
        use OnnxLoadError::{Mapping, Model};
        let env = runtime().map_err(Model)?;
        if bytes.is_empty() {
            return Err(Model("not an ONNX model: the file is empty".into()));
        }
        let started = Instant::now();
        let first = session(env, &bytes).map_err(Model)?;
        let first_took = started.elapsed();
        let inputs = first.inputs();
        let [input] = inputs else {
            return Err(Model(format!(
                "expected one FP32 input of shape [N, d], the graph has {} inputs ({})",
                inputs.len(),
                inputs
                    .iter()
                    .map(|i| format!("`{}`: {}", i.name(), type_name(i.dtype())))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let n_features = match input.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 && shape[1] > 0 => shape[1] as usize,
            other => {
                return Err(Model(format!(
                    "input `{}`: expected FP32 of shape [N, d] with a fixed d, got {}",
                    input.name(),
                    type_name(other)
                )));
            }
        };
        let input_name = input.name().to_owned();
        let names = first
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
                return Err(Model(format!(
                    "metadata feature_names has {} names but input `{input_name}` has {n_features} features",
                    n.len()
                )));
            }
            None => (0..n_features).map(|i| format!("x{i}")).collect(),
        };
        let outputs: Vec<(String, ValueType)> = first
            .outputs()
            .iter()
            .map(|o| (o.name().to_owned(), o.dtype().clone()))
            .collect();
        let mut first = first;
        let outputs =
            zipmaps_as_tensors(&mut first, &input_name, n_features, outputs).map_err(Model)?;
        let specs = output_specs(&outputs).map_err(Model)?;
        let (score, label) = mapping.resolve(&outputs).map_err(Mapping)?;
        let extra = (1..sessions.max(1)).map(|_| OnceLock::new()).collect();
        let model = OnnxModel(Arc::new(Inner {
            bytes,
            mapping: mapping.clone(),
            input: input_name,
            n_features,
            feature_names,
            score,
            label,
            outputs: specs,
            first: Mutex::new(first),
            extra,
            next: AtomicUsize::new(0),
        }));
        // Warm-up: one row of zeros must run and give one finite score.
        let zeros = vec![0.0f32; n_features];
        let mut s = [0.0f32];
        let mut l = [false];
        model
            .predict_rows(&zeros, &mut s, &mut l, None)
            .map_err(|e| Model(format!("warm-up row failed: {e}")))?;
        model.fill_pool(env, first_took);
        Ok(model)
    }

    /// Builds the pool's other sessions, now (no background thread: one
    /// still inside ONNX Runtime when the process exits would crash it),
    /// unless the first took longer than `POOL_BUILD_BUDGET` to build: a
    /// graph that slow to build (skl2onnx's per-tree IsolationForest takes
    /// seconds) keeps one session rather than multiply its load time. A
    /// failed build leaves the pool smaller, which only costs concurrency.
    fn fill_pool(&self, env: &ort::environment::Environment, first_took: Duration) {
        if first_took > POOL_BUILD_BUDGET {
            return;
        }
        for cell in self.0.extra.iter() {
            let Ok(s) = session(env, &self.0.bytes) else {
                return;
            };
            let _ = cell.set(Mutex::new(s));
        }
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.0.n_features
    }

    /// Feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        &self.0.feature_names
    }

    /// The graph's outputs as declared (for metadata).
    pub fn outputs(&self) -> &[OutputSpec] {
        &self.0.outputs
    }

    /// The registered output mapping.
    pub fn mapping(&self) -> &OnnxMapping {
        &self.0.mapping
    }

    /// Sessions in the pool.
    pub fn sessions(&self) -> usize {
        1 + self.0.extra.iter().filter(|c| c.get().is_some()).count()
    }

    /// A free session, or (all busy) one in turn, waited for.
    fn checkout(&self) -> Result<MutexGuard<'_, Session>, String> {
        let inner = &self.0;
        let n = 1 + inner.extra.len();
        let at = |i: usize| match i {
            0 => Some(&inner.first),
            i => inner.extra.get(i - 1).and_then(OnceLock::get),
        };
        let start = inner.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Some(m) = at((start + i) % n) {
                match m.try_lock() {
                    Ok(guard) => return Ok(guard),
                    Err(TryLockError::WouldBlock | TryLockError::Poisoned(_)) => continue,
                }
            }
        }
        at(start)
            .unwrap_or(&inner.first)
            .lock()
            .map_err(|_| "ONNX session poisoned by an earlier panic".to_owned())
    }

    /// Scores and labels `out_scores.len()` rows of `data` (row-major);
    /// with `raw`, also hands back every graph output by name.
    pub fn predict_rows(
        &self,
        data: &[f32],
        out_scores: &mut [f32],
        out_labels: &mut [bool],
        raw: Option<&mut Vec<OutputTensor>>,
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
        let mut session = self.checkout()?;
        let outputs = session
            .run(ort::inputs![self.0.input.as_str() => tensor])
            .map_err(|e| format!("ONNX Runtime run: {}", e.message()))?;
        let get = |name: &str| {
            outputs
                .get(name)
                .ok_or_else(|| format!("output `{name}` missing from the run"))
        };
        let ScoreFrom {
            output,
            column,
            width,
            sign,
        } = &self.0.score;
        let v = float_values(output, get(output)?)?;
        if v.len() != width * rows {
            return Err(format!(
                "output `{output}`: expected {} values for {rows} rows, got {}",
                width * rows,
                v.len()
            ));
        }
        for (o, row) in out_scores.iter_mut().zip(v.chunks_exact(*width)) {
            *o = sign * row[*column];
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
        if let Some(raw) = raw {
            raw.clear();
            for spec in &self.0.outputs {
                raw.push(extract(&spec.name, get(&spec.name)?)?);
            }
        }
        Ok(())
    }
}
