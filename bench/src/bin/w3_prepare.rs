//! W3 preparation: writes the benchmark market's 14 features as CSV (for
//! scikit-learn, which MLServer then serves) and joust's Isolation Forest
//! (100 trees) trained on the same rows as an artifact (for the registry,
//! which a joust node then serves).
//!
//! Usage: `w3_prepare OUT_DIR` → `OUT_DIR/features.csv`, `OUT_DIR/joust.bin`.

use std::path::PathBuf;

use joust_bench::{market, write_features_csv};
use joust_models::features::schema;
use joust_models::{Model, ModelKind, TrainConfig};

const MARKET_SEED: u64 = 7;

fn main() -> Result<(), String> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: w3_prepare OUT_DIR")?
        .into();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let data = market(MARKET_SEED);
    write_features_csv(&data, &out.join("features.csv")).map_err(|e| e.to_string())?;
    let cfg = TrainConfig::new(ModelKind::IsolationForest)
        .with_seed(0)
        .with_param("n_trees", 100);
    let model = Model::train(&cfg, schema(), data.x.view()).map_err(|e| e.to_string())?;
    let bytes = model.to_bytes().map_err(|e| e.to_string())?;
    std::fs::write(out.join("joust.bin"), bytes).map_err(|e| e.to_string())?;
    println!(
        "{{\"rows\": {}, \"features\": {}, \"dir\": {:?}}}",
        data.x.nrows(),
        data.x.ncols(),
        out.display().to_string()
    );
    Ok(())
}
