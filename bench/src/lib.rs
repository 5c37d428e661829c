//! joust-bench: benchmarks that compare joust's models with scikit-learn
//! (ROC-AUC fidelity and single-thread scoring throughput). It owns the
//! shared plumbing of the two binaries: building the synthetic feature set,
//! writing it as CSV for Python, and running the Python side. It knows
//! nothing about serving or gRPC (the `detect` binary, which benchmarks the
//! detection service end to end, does); [`trials`] holds the registry and
//! record plumbing of the trial benchmarks.

pub mod trials;

use std::path::Path;
use std::process::Command;

use joust_models::dataset::{LabelledFeatures, feature_matrix};
use joust_models::features::FEATURE_NAMES;
use joust_models::synthetic::{SyntheticConfig, generate};

/// Smoke mode (`JOUST_BENCH_SMOKE=1`, set by `bench/run-all --smoke`):
/// the binaries run on a small market with few repeats, to check that they
/// work, not to measure.
pub fn smoke() -> bool {
    std::env::var("JOUST_BENCH_SMOKE").is_ok_and(|v| v == "1")
}

/// The benchmark market: 20 tickers × 2000 bars, fixed seed (2 × 1000 in
/// smoke mode).
pub fn market(seed: u64) -> LabelledFeatures {
    let (tickers, rows) = if smoke() { (2, 1000) } else { (20, 2000) };
    feature_matrix(&generate(&SyntheticConfig {
        tickers,
        rows,
        seed,
        ..SyntheticConfig::default()
    }))
}

/// Writes features (and labels, 0/1) as CSV with a header.
pub fn write_features_csv(data: &LabelledFeatures, path: &Path) -> std::io::Result<()> {
    let mut out = FEATURE_NAMES.join(",");
    out.push_str(",label\n");
    let labels = data.labels.as_deref().unwrap_or(&[]);
    for (i, row) in data.x.rows().into_iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        out.push_str(&cells.join(","));
        out.push_str(if labels.get(i).copied().unwrap_or(false) {
            ",1\n"
        } else {
            ",0\n"
        });
    }
    std::fs::write(path, out)
}

/// Runs `python3 <script> <args>` single-threaded and parses its stdout as JSON.
pub fn run_python(script: &Path, args: &[String]) -> Result<serde_json::Value, String> {
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("could not start python3: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("python printed non-JSON: {e}"))
}

/// Median of durations in seconds.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { 0.0 } else { xs[xs.len() / 2] }
}

/// Path of a file in this crate's directory.
pub fn bench_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}
