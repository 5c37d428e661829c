//! The scikit-learn → ONNX fixtures of the onnx kind's tests (issue 20):
//! `tests/onnx/make_models.py` run at test time into a temporary folder.

use std::path::{Path, PathBuf};

use crate::require_all;

/// Features of every generated model.
pub const FEATURES: usize = 12;
/// Rows scored in the parity test.
pub const ROWS: usize = 10_000;

pub struct Generated {
    _dir: tempfile::TempDir,
    /// The folder holding the generated files.
    pub path: PathBuf,
    /// `ROWS` rows of `FEATURES` values, row-major.
    pub rows: Vec<f32>,
}

/// Runs the generator, or `None` (a skip, outside CI) when the runtime or
/// the Python packages are missing.
pub fn generate() -> Option<Generated> {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        assert!(
            !require_all(),
            "ORT_DYLIB_PATH is not set: scripts/test installs onnxruntime and sets it"
        );
        eprintln!("skipped: ORT_DYLIB_PATH is not set (see docs/models.md, ONNX models)");
        return None;
    }
    let python = std::env::var("JOUST_ONNX_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx/make_models.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !require_all(),
            "{python} {} failed: {err}",
            script.display()
        );
        eprintln!("skipped: {python} cannot run the generator: {err}");
        return None;
    }
    let bytes = std::fs::read(dir.path().join("rows.f32")).unwrap();
    let rows: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(rows.len(), ROWS * FEATURES);
    Some(Generated {
        path: dir.path().to_owned(),
        _dir: dir,
        rows,
    })
}

/// Reads little-endian f32 values.
pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
