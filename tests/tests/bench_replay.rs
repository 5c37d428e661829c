//! `joust bench --dataset` and `--csv` as a user runs them, against a real
//! `joust up`: a market dataset ingested, a champion and a challenger
//! trained on it, a shadow trial, and the trial driven by real feature
//! rows replayed from the dataset shows anomaly rates strictly between 0
//! and 1 on both arms (one fixed payload is either anomalous or not). A CSV with a
//! wrong header, an unknown dataset and a model of another width fail
//! before any load, naming what was wrong and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use joust_models::ModelKind;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_tests::node::{artifact, eventually, infer_request};
use joust_tests::up::UpProcess;
use serde_json::Value;

const MODEL: &str = "mkt";
const DATASET: &str = "mkt_market";

/// `joust ARGS…` with `--registry`: (success, stdout, stderr).
fn joust(up: &UpProcess, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(joust_tests::joust_bin())
        .args(args)
        .args(["--registry", &up.registry])
        .env("JOUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(up: &UpProcess, args: &[&str]) -> Value {
    let (ok, out, err) = joust(up, args);
    assert!(ok, "joust {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn fails(up: &UpProcess, args: &[&str]) -> String {
    let (ok, out, err) = joust(up, args);
    assert!(!ok, "joust {args:?} succeeded: {out}");
    err
}

/// Waits until `url` answers `MODEL` (14 features) with `version`
/// (pinned when `pin`).
async fn answers(url: &str, version: u64, pin: bool) {
    answers_model(url, MODEL, 14, version, pin).await;
}

/// Waits until `url` answers `model` with `version` (pinned when `pin`)
/// for a row of `width` features.
async fn answers_model(url: &str, model: &str, width: usize, version: u64, pin: bool) {
    let oip = GrpcInferenceServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || {
        let mut request = infer_request(vec![1, width as i64], "FP32", vec![0.1; width]);
        request.model_name = model.to_owned();
        if pin {
            request.model_version = version.to_string();
        }
        let mut oip = oip.clone();
        async move {
            matches!(oip.model_infer(request).await,
                Ok(r) if r.get_ref().model_version == version.to_string())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{url} never answered {model} v{version}: {e}"));
}

fn rate(report: &Value, arm: &str) -> f64 {
    report[arm]["anomaly_rate"]["estimate"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {arm} anomaly rate: {report}"))
}

// The CLI runs as blocking child processes while the test waits on this
// runtime's other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_driven_by_replayed_rows_shows_real_anomaly_rates() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(&dir.path().join("data"));

    json(
        &up,
        &[
            "data",
            "ingest",
            "--synthetic",
            "--tickers",
            "3",
            "--rows",
            "400",
            "--name",
            DATASET,
            "--json",
        ],
    );
    for (seed, contamination) in [("1", "0.05"), ("2", "0.08")] {
        json(
            &up,
            &[
                "model",
                "train",
                "--dataset",
                DATASET,
                "--model",
                MODEL,
                "--seed",
                seed,
                "--contamination",
                contamination,
                "--json",
            ],
        );
    }
    for v in ["mkt:1", "mkt:2"] {
        json(
            &up,
            &["model", "evaluate", v, "--dataset", DATASET, "--json"],
        );
    }
    json(&up, &["model", "promote", "mkt:1", "--json"]);
    json(
        &up,
        &["trial", "start", "mkt:2", "--mode", "shadow", "--json"],
    );
    answers(&up.router, 1, false).await;
    answers(&up.node, 2, true).await;

    // Wrong inputs fail before any load, naming what was expected.
    let err = fails(
        &up,
        &[
            "bench",
            "--target",
            &up.router,
            "--model",
            MODEL,
            "--dataset",
            "nope",
        ],
    );
    assert!(err.contains("--dataset nope"), "{err}");
    assert!(err.contains("dataset \"nope\" not found"), "{err}");
    // A 3-feature model cannot take the dataset's 14-feature rows.
    let narrow = dir.path().join("narrow.bin");
    std::fs::write(&narrow, artifact(ModelKind::IsolationForest, 3, 1)).unwrap();
    json(&up, &["model", "create", "narrow", "--json"]);
    let narrow = narrow.to_str().unwrap();
    json(
        &up,
        &[
            "model",
            "register",
            "narrow",
            narrow,
            "--kind",
            "isolation_forest",
            "--json",
        ],
    );
    json(
        &up,
        &[
            "model",
            "transition",
            "narrow:1",
            "evaluated",
            "--force-evaluated",
            "--reason",
            "test version",
            "--json",
        ],
    );
    json(&up, &["model", "promote", "narrow:1", "--json"]);
    answers_model(&up.node, "narrow", 3, 1, false).await;
    let err = fails(
        &up,
        &[
            "bench",
            "--target",
            &up.node,
            "--model",
            "narrow",
            "--dataset",
            DATASET,
        ],
    );
    assert!(
        err.contains(&format!(
            "--dataset {DATASET}:1: its rows have 14 features (return_1,"
        )),
        "{err}"
    );
    assert!(err.contains("model narrow expects 3 inputs ("), "{err}");
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "return_1,return_5,log_volume_z,rsi_14,macd,macd_hist,bb_percent_b,bb_bandwidth,\
         atr_14,volatility_20,hl_range,close_open,volume_chnge,dist_sma_20\n\
         0,0,0,50,0,0,0.5,0.1,0.01,0.01,0.01,0,0,0\n",
    )
    .unwrap();
    let err = fails(
        &up,
        &[
            "bench",
            "--target",
            &up.router,
            "--model",
            MODEL,
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("column 13 \"volume_chnge\" is not an input of model mkt"),
        "{err}"
    );
    assert!(
        err.contains("volume_change"),
        "expected inputs listed: {err}"
    );

    // A CSV naming the inputs in another order replays (through the node).
    std::fs::write(
        &csv,
        "dist_sma_20,return_1,return_5,log_volume_z,rsi_14,macd,macd_hist,bb_percent_b,\
         bb_bandwidth,atr_14,volatility_20,hl_range,close_open,volume_change\n\
         0,0.001,0.002,0.1,50,0,0,0.5,0.1,0.01,0.01,0.01,0,0\n\
         0.01,-0.002,0.004,0.3,55,0.01,0,0.6,0.1,0.01,0.01,0.02,0.01,0.1\n",
    )
    .unwrap();
    let report = json(
        &up,
        &[
            "bench",
            "--target",
            &up.node,
            "--model",
            MODEL,
            "--csv",
            csv.to_str().unwrap(),
            "--rate",
            "50",
            "--seconds",
            "0.5",
            "--warmup-seconds",
            "0",
            "--batch",
            "3",
        ],
    );
    assert!(report["ok"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(report["config"]["rows"], 3, "{report}");
    assert_eq!(report["config"]["payload"]["rows"], 2, "{report}");

    // The trial, driven by the dataset's rows through the router.
    let report = json(
        &up,
        &[
            "bench",
            "--target",
            &up.router,
            "--model",
            MODEL,
            "--dataset",
            DATASET,
            "--rate",
            "200",
            "--seconds",
            "3",
            "--warmup-seconds",
            "0",
            "--connections",
            "1",
        ],
    );
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let payload = &report["config"]["payload"];
    assert_eq!(payload["kind"], "replay", "{report}");
    assert_eq!(
        payload["source"],
        format!("dataset {DATASET}:1"),
        "{report}"
    );
    assert_eq!(payload["features"], 14, "{report}");
    let sent = report["ok"].as_u64().unwrap();
    assert!(sent > 200, "{report}");

    // Comparison records reach the registry asynchronously.
    let mut trial = Value::Null;
    eventually(Duration::from_secs(30), || {
        trial = json(&up, &["trial", "report", MODEL, "--json"]);
        let n = |arm: &str| trial[arm]["anomaly_rate"]["trials"].as_u64().unwrap_or(0);
        let done = n("champion") >= sent && n("challenger") >= sent;
        async move { done }
    })
    .await
    .unwrap_or_else(|e| panic!("records never arrived ({e}): {trial}"));
    for arm in ["champion", "challenger"] {
        let r = rate(&trial, arm);
        assert!(r > 0.0 && r < 1.0, "{arm} anomaly rate {r}: {trial}");
    }
}
