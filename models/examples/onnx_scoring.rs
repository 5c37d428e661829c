//! Scoring speed of one IsolationForest three ways (issue 20): joust's own
//! isolation forest trained on the same rows, scikit-learn's forest as ONNX
//! in joust (ONNX Runtime through `ort`) — both as skl2onnx exports it
//! (`joust_onnx`, ~2,500 nodes) and as one TreeEnsembleRegressor
//! (`joust_onnx_compact`, tests/onnx/compact_iforest.py) — each at batch 1
//! and 1,000, one thread. scikit-learn's `score_samples` is timed by `bench/rows.d/onnx`
//! in the same run. Usage: onnx_scoring DIR SECONDS, where DIR holds
//! `tests/onnx/make_models.py`'s output; prints one JSON object.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use joust_models::onnx::{OnnxMapping, OnnxModel};
use joust_models::{Model, ModelKind, TrainConfig};
use ndarray::ArrayView2;

const FEATURES: usize = 12;

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("read")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Rows per second scoring `batch`-row slices of `rows` for `budget`.
fn rate(model: &Model, rows: &[f32], batch: usize, budget: Duration) -> f64 {
    let n = rows.len() / FEATURES;
    let started = Instant::now();
    let mut scored = 0usize;
    let mut i = 0usize;
    while started.elapsed() < budget {
        let start = (i * batch) % (n - batch + 1);
        let x = ArrayView2::from_shape(
            (batch, FEATURES),
            &rows[start * FEATURES..(start + batch) * FEATURES],
        )
        .unwrap();
        std::hint::black_box(model.predict(x).unwrap());
        scored += batch;
        i += 1;
    }
    scored as f64 / started.elapsed().as_secs_f64()
}

/// Rows per second scoring single rows straight through `OnnxModel`.
fn rate_raw(model: &OnnxModel, rows: &[f32], budget: Duration) -> f64 {
    let n = rows.len() / FEATURES;
    let started = Instant::now();
    let (mut s, mut l) = ([0.0f32], [false]);
    let mut i = 0usize;
    while started.elapsed() < budget {
        let r = i % n;
        model
            .predict_rows(
                &rows[r * FEATURES..(r + 1) * FEATURES],
                &mut s,
                &mut l,
                None,
            )
            .unwrap();
        i += 1;
    }
    i as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let seconds: f64 = args.next().map_or(2.0, |s| s.parse().expect("SECONDS"));
    let budget = Duration::from_secs_f64(seconds);
    let train = read_f32(&dir.join("iforest_train.f32"));
    let rows = read_f32(&dir.join("rows.f32"));
    let x = ndarray::Array2::from_shape_vec((train.len() / FEATURES, FEATURES), train).unwrap();
    let native = Model::train(
        &TrainConfig::new(ModelKind::IsolationForest).with_param("n_trees", 100),
        (0..FEATURES).map(|i| format!("x{i}")).collect(),
        x.view(),
    )
    .unwrap();
    let onnx = Model::from_onnx(&std::fs::read(dir.join("iforest.onnx")).unwrap()).unwrap();
    let compact =
        Model::from_onnx(&std::fs::read(dir.join("iforest_compact.onnx")).unwrap()).unwrap();
    let mut out = Vec::new();
    for (name, model) in [
        ("joust_native", &native),
        ("joust_onnx", &onnx),
        ("joust_onnx_compact", &compact),
    ] {
        for batch in [1usize, 1000] {
            let r = rate(model, &rows, batch, budget);
            out.push(format!("\"{name}_batch{batch}_rows_per_s\": {r:.1}"));
        }
    }
    // The session pool (issue 20): two threads scoring batch 1 on one
    // compact model, with one session (every call waits for it) and two.
    let bytes = std::fs::read(dir.join("iforest_compact.onnx")).unwrap();
    for sessions in [1usize, 2] {
        let m = OnnxModel::load_with_sessions(bytes.clone(), &OnnxMapping::defaults(), sessions)
            .unwrap();
        let total: f64 = std::thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|_| s.spawn(|| rate_raw(&m, &rows, budget)))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).sum()
        });
        out.push(format!(
            "\"joust_onnx_compact_2threads_{sessions}sessions_batch1_rows_per_s\": {total:.1}"
        ));
    }
    println!("{{{}}}", out.join(", "));
}
