//! Writes seed inputs for the cargo-fuzz targets in `fuzz/` (see
//! docs/fuzzing.md): small trained artifacts of every model kind, OHLCV CSV
//! files, and model refs. Usage:
//!
//! ```sh
//! cargo run -p joust-models --example fuzz_seeds -- fuzz/corpus
//! ```

use std::path::Path;

use joust_models::csv_io::write_csv;
use joust_models::synthetic::{SyntheticConfig, generate};
use joust_models::{Model, ModelKind, TrainConfig};
use ndarray::Array2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_seeds CORPUS_DIR (e.g. fuzz/corpus)")?;
    let root = Path::new(&root);
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };

    // artifact_decode: first byte 0 = whole artifact, 1 = body to seal.
    let features = 4;
    let x = Array2::from_shape_fn((64, features), |(i, j)| {
        ((i * 7 + j * 13) % 31) as f32 / 3.0
    });
    let schema: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    for kind in ModelKind::ALL {
        let config = match kind {
            ModelKind::IsolationForest => TrainConfig::new(kind).with_param("n_trees", 3),
            ModelKind::OneClassSvm => TrainConfig::new(kind).with_param("max_samples", 32),
            ModelKind::GaussianMixture => TrainConfig::new(kind).with_param("n_components", 2),
            _ => TrainConfig::new(kind),
        };
        let bytes = Model::train(&config, schema.clone(), x.view())?.to_bytes()?;
        let mut whole = vec![0u8];
        whole.extend_from_slice(&bytes);
        write("artifact_decode", &format!("{kind}-whole"), &whole)?;
        let mut body = vec![1u8];
        body.extend_from_slice(&bytes[14..bytes.len() - 32]);
        write("artifact_decode", &format!("{kind}-body"), &body)?;
    }

    // csv_ingest: a normalised file, one with RFC 3339 times, no label
    // and shuffled columns.
    let series = generate(&SyntheticConfig {
        tickers: 2,
        rows: 40,
        ..SyntheticConfig::default()
    });
    write("csv_ingest", "synthetic", &write_csv(&series))?;
    write(
        "csv_ingest",
        "rfc3339",
        b"close,volume,ticker,timestamp,open,high,low\n\
          10,5,B,2024-01-01T00:01:00Z,10,11,9\n\
          10,5,A,1704067200,10,11,9\n\
          11,5,\"B\",2024-01-01T00:00:00+00:00,10,11,9\n",
    )?;

    // ref_parse: every form of ref.
    for (i, r) in [
        "anomaly_detector",
        "anomaly_detector:7",
        "anomaly_detector@champion",
        "m@prod-2",
        "market_snapshot@latest",
        "a.b_c-d:18446744073709551615",
    ]
    .iter()
    .enumerate()
    {
        write("ref_parse", &format!("ref-{i}"), r.as_bytes())?;
    }
    Ok(())
}
