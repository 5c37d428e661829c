//! Fidelity: ROC-AUC of joust's Isolation Forest vs scikit-learn's on the
//! same synthetic feature rows, averaged over several seeds.

use joust_bench::{bench_file, market, run_python, smoke, write_features_csv};
use joust_models::features::schema;
use joust_models::metrics::roc_auc;
use joust_models::{Model, ModelKind, TrainConfig};

const MARKET_SEED: u64 = 7;
const SEEDS: [u64; 5] = [0, 1, 2, 3, 4];

fn main() -> Result<(), String> {
    let data = market(MARKET_SEED);
    let labels = data.labels.clone().ok_or("synthetic data has no labels")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let csv = dir.path().join("features.csv");
    write_features_csv(&data, &csv).map_err(|e| e.to_string())?;

    let seeds: &[u64] = if smoke() { &SEEDS[..1] } else { &SEEDS };
    let mut joust = Vec::new();
    for &seed in seeds {
        let cfg = TrainConfig::new(ModelKind::IsolationForest).with_seed(seed);
        let model = Model::train(&cfg, schema(), data.x.view()).map_err(|e| e.to_string())?;
        let scores = model.score(data.x.view()).map_err(|e| e.to_string())?;
        joust.push(roc_auc(&scores, &labels).ok_or("one class missing")?);
    }
    let mut args = vec![csv.display().to_string()];
    args.extend(seeds.iter().map(|s| s.to_string()));
    let sk = run_python(&bench_file("sklearn_fidelity.py"), &args)?;
    let sk_aucs: Vec<f64> = sk["aucs"]
        .as_array()
        .ok_or("no aucs from python")?
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (j, s) = (mean(&joust), mean(&sk_aucs));
    let report = serde_json::json!({
        "rows": data.x.nrows(),
        "anomaly_rate": joust_models::metrics::anomaly_rate(&labels),
        "seeds": seeds,
        "joust_auc": joust,
        "sklearn_auc": sk_aucs,
        "sklearn_version": sk["sklearn_version"],
        "joust_auc_mean": j,
        "sklearn_auc_mean": s,
        "difference": j - s,
        "goal_met": j >= s - 0.01,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    );
    Ok(())
}
