//! Scoring throughput: rows/s of joust's Isolation Forest (100 trees,
//! ψ = 256, 14 features, one thread) at batch 1, 100 and 1000, against
//! scikit-learn's `score_samples` on the same rows in the same run.

use std::time::Instant;

use joust_bench::{bench_file, market, median, run_python, smoke, write_features_csv};
use joust_models::features::schema;
use joust_models::{Model, ModelKind, TrainConfig};
use ndarray::{Axis, Slice};

const BATCHES: [usize; 3] = [1, 100, 1000];

fn main() -> Result<(), String> {
    let data = market(7);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let csv = dir.path().join("features.csv");
    write_features_csv(&data, &csv).map_err(|e| e.to_string())?;
    let model = Model::train(
        &TrainConfig::new(ModelKind::IsolationForest),
        schema(),
        data.x.view(),
    )
    .map_err(|e| e.to_string())?;

    let mut joust = Vec::new();
    for batch in BATCHES {
        let repeats = if smoke() {
            5
        } else {
            (200_000 / batch).clamp(200, 20_000)
        };
        let mut out = vec![0.0f32; batch];
        let mut times = Vec::with_capacity(repeats);
        for r in 0..repeats {
            let start = (r * 7919) % (data.x.nrows() - batch);
            let rows = data
                .x
                .slice_axis(Axis(0), Slice::from(start..start + batch));
            let t = Instant::now();
            model
                .score_into(rows, &mut out)
                .map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64());
            std::hint::black_box(&out);
        }
        let m = median(times);
        joust.push((batch, m, batch as f64 / m));
    }
    let mut args = vec![csv.display().to_string()];
    args.extend(BATCHES.iter().map(|b| b.to_string()));
    let sk = run_python(&bench_file("sklearn_scoring.py"), &args)?;
    let mut rows = Vec::new();
    println!(
        "| batch | joust median | joust rows/s | sklearn median | sklearn rows/s | speed-up |"
    );
    println!(
        "|------:|-------------:|-------------:|---------------:|---------------:|---------:|"
    );
    for (batch, m, rps) in joust {
        let key = batch.to_string();
        let sk_m = sk["median_seconds"][&key].as_f64().unwrap_or(f64::NAN);
        let sk_rps = batch as f64 / sk_m;
        println!(
            "| {batch} | {:.2} µs | {:.0} | {:.2} µs | {:.0} | {:.1}× |",
            m * 1e6,
            rps,
            sk_m * 1e6,
            sk_rps,
            rps / sk_rps
        );
        rows.push(serde_json::json!({
            "batch": batch, "joust_median_s": m, "joust_rows_per_s": rps,
            "sklearn_median_s": sk_m, "sklearn_rows_per_s": sk_rps, "ratio": rps / sk_rps,
        }));
    }
    let report = serde_json::json!({ "sklearn_version": sk["sklearn_version"], "results": rows });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    );
    Ok(())
}
