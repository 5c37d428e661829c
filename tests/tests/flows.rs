//! The lifecycle flows end to end through the built `joust` binary, as a
//! user runs them, against a registry on SQLite and on PostgreSQL:
//! ingest → train (two versions) → evaluate (one pass, one failing gate) →
//! promote → rollback, checking lineage annotations and the audit log.
//!
//! The binary must be built first (`cargo build -p joust`; scripts/test
//! does it). `JOUST_BIN` overrides where it is looked for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

use joust_tests::{TestRegistry, joust_bin};
use serde_json::Value;

/// Runs `joust GROUP --registry URL --actor flow-test [--json] ARGS…`.
struct Joust {
    bin: PathBuf,
    url: String,
}

impl Joust {
    fn new(registry: &TestRegistry) -> Self {
        let bin = joust_bin();
        assert!(
            bin.is_file(),
            "the joust binary is not at {}: build it first with `cargo build -p joust` \
             (scripts/test does), or point JOUST_BIN at it",
            bin.display()
        );
        Self {
            bin,
            url: registry.url.clone(),
        }
    }

    async fn run(&self, group: &str, json: bool, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg(group)
            .args(["--registry", &self.url, "--actor", "flow-test"])
            .env_remove("JOUST_JSON")
            .env_remove("JOUST_REGISTRY")
            .env("JOUST_LOG", "warn");
        if json {
            cmd.arg("--json");
        }
        cmd.args(args).kill_on_drop(true).output().await.unwrap()
    }

    /// Runs with `--json`, asserts success and parses stdout.
    async fn json(&self, group: &str, args: &[&str]) -> Value {
        let out = self.run(group, true, args).await;
        assert!(
            out.status.success(),
            "joust {group} {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "joust {group} {args:?}: stdout is not JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:#}"))
}

async fn lifecycle(registry: TestRegistry) {
    let joust = Joust::new(&registry);

    // Ingest a small labelled synthetic market.
    let d = joust
        .json(
            "data",
            &[
                "ingest",
                "--synthetic",
                "--tickers",
                "4",
                "--rows",
                "400",
                "--seed",
                "7",
                "--name",
                "market_snapshot",
            ],
        )
        .await;
    assert_eq!(d["version"], 1);
    assert_eq!(d["rows"], 1600);
    let dataset_sha = s(&d, "sha256").to_owned();
    assert_eq!(dataset_sha.len(), 64);
    assert_eq!(d["annotations"]["source"], "synthetic");
    assert_eq!(d["annotations"]["source.seed"], "7");
    assert_eq!(d["annotations"]["tickers"], "4");
    assert_eq!(d["annotations"]["labelled"], "true");
    assert_eq!(d["annotations"]["time.start"], "2024-01-01T00:00:00Z");
    assert_eq!(
        d["schema"],
        serde_json::json!([
            "ticker",
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "label"
        ])
    );

    // Train two candidates: defaults, and other params.
    let train = |extra: &'static [&'static str]| {
        let mut args = vec![
            "train",
            "--dataset",
            "market_snapshot@latest",
            "--kind",
            "isolation_forest",
            "--model",
            "anomaly_detector",
        ];
        args.extend_from_slice(extra);
        args
    };
    let t1 = joust.json("model", &train(&["--seed", "42"])).await;
    assert_eq!(
        (t1["version"].as_u64(), s(&t1, "status")),
        (Some(1), "candidate")
    );
    let t2 = joust
        .json(
            "model",
            &train(&[
                "--param",
                "n_trees=50",
                "--param",
                "sample_size=128",
                "--contamination",
                "0.1",
                "--seed",
                "7",
            ]),
        )
        .await;
    assert_eq!(
        (t2["version"].as_u64(), s(&t2, "status")),
        (Some(2), "candidate")
    );
    assert_ne!(t1["training_run_id"], t2["training_run_id"]);

    // Lineage as the registry stores it.
    let v1 = joust.json("model", &["show", "anomaly_detector:1"]).await;
    let a = &v1["annotations"];
    assert_eq!(a["flow"], "train");
    assert_eq!(a["dataset.name"], "market_snapshot");
    assert_eq!(a["dataset.version"], "1");
    assert_eq!(s(a, "dataset.sha256"), dataset_sha);
    assert_eq!(a["training_run_id"], t1["training_run_id"]);
    assert!(uuid::Uuid::parse_str(s(a, "training_run_id")).is_ok());
    assert_eq!(a["param.n_trees"], "100");
    assert_eq!(a["param.sample_size"], "256");
    assert_eq!(a["param.contamination"], "0.05");
    assert_eq!(a["param.seed"], "42");
    assert!(!s(a, "joust.version").is_empty());
    assert_eq!(s(a, "features.schema").split(',').count(), 14);
    assert_eq!(v1["kind"], "isolation_forest");
    let rows = v1["metrics"]["rows"].as_u64().unwrap();
    assert!(
        rows > 1000 && rows < 1600,
        "feature rows after warm-up: {rows}"
    );
    let rate = v1["metrics"]["anomaly_rate"].as_f64().unwrap();
    assert!((rate - 0.05).abs() < 0.01, "training anomaly rate {rate}");
    assert!(v1["metrics"]["duration_ms"].is_u64());
    let v2 = joust.json("model", &["show", "anomaly_detector:2"]).await;
    assert_eq!(v2["annotations"]["param.n_trees"], "50");
    assert_eq!(v2["annotations"]["param.sample_size"], "128");
    assert_eq!(v2["annotations"]["param.contamination"], "0.1");
    assert_eq!(v2["annotations"]["param.seed"], "7");

    // Evaluate v1: passes and becomes evaluated.
    let e1 = joust
        .json(
            "model",
            &[
                "evaluate",
                "anomaly_detector:1",
                "--dataset",
                "market_snapshot:1",
                "--max-anomaly-rate",
                "0.20",
                "--min-auc",
                "0.6",
                "--min-recall",
                "0.1",
            ],
        )
        .await;
    assert_eq!(e1["passed"], true, "{e1:#}");
    assert_eq!(e1["status"], "evaluated");
    assert_eq!(e1["gates"].as_array().unwrap().len(), 3);
    let auc = e1["metrics"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.6 && auc < 0.999, "roc_auc {auc}");
    assert!(e1["metrics"]["rows_per_sec"].as_f64().unwrap() > 0.0);
    let v1 = joust.json("model", &["show", "anomaly_detector:1"]).await;
    assert_eq!(v1["status"], "evaluated");
    assert_eq!(v1["annotations"]["eval.passed"], "true");
    assert_eq!(v1["annotations"]["eval.run_id"], e1["eval_run_id"]);
    assert_eq!(v1["annotations"]["eval.dataset"], "market_snapshot:1");
    assert_eq!(s(&v1["annotations"], "eval.dataset.sha256"), dataset_sha);
    assert_eq!(v1["annotations"]["eval.failed_gates"], "");
    for key in [
        "eval_anomaly_rate",
        "eval_precision",
        "eval_recall",
        "eval_f1",
        "eval_roc_auc",
        "eval_rows_per_sec",
    ] {
        assert!(
            v1["metrics"][key].is_number(),
            "{key} missing: {:#}",
            v1["metrics"]
        );
    }
    // Training metrics are kept beside the evaluation's.
    assert!(v1["metrics"]["anomaly_rate"].is_number());

    // Evaluate v2 with gates it cannot meet: non-zero exit, stays candidate,
    // the failing gates are printed and recorded.
    let out = joust
        .run(
            "model",
            false,
            &[
                "evaluate",
                "anomaly_detector:2",
                "--dataset",
                "market_snapshot@latest",
                "--max-anomaly-rate",
                "0.0001",
                "--min-auc",
                "0.999",
            ],
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("evaluation failed: 2 of 2 gates failed"),
        "{stderr}"
    );
    assert!(stderr.contains("stays candidate"), "{stderr}");
    assert!(stdout.contains("FAIL min_auc: roc_auc"), "{stdout}");
    let v2 = joust.json("model", &["show", "anomaly_detector:2"]).await;
    assert_eq!(v2["status"], "candidate");
    let failed = s(&v2["annotations"], "eval.failed_gates");
    assert!(
        failed.contains("max_anomaly_rate: anomaly_rate"),
        "{failed}"
    );
    assert!(failed.contains("min_auc: roc_auc"), "{failed}");
    assert_eq!(v2["annotations"]["eval.passed"], "false");

    // A later passing evaluation moves it on.
    let e2 = joust
        .json(
            "model",
            &[
                "evaluate",
                "anomaly_detector:2",
                "--dataset",
                "market_snapshot",
            ],
        )
        .await;
    assert_eq!(
        (e2["passed"].as_bool(), s(&e2, "status")),
        (Some(true), "evaluated")
    );

    // Promote v1, then v2 (retiring v1), then roll back to v1.
    joust
        .json(
            "model",
            &[
                "promote",
                "anomaly_detector:1",
                "--reason",
                "first champion",
            ],
        )
        .await;
    joust
        .json(
            "model",
            &["promote", "anomaly_detector:2", "--reason", "better"],
        )
        .await;
    let r = joust
        .json(
            "model",
            &["rollback", "anomaly_detector", "--reason", "v2 misbehaves"],
        )
        .await;
    assert_eq!(r["retired"]["version"], 2);
    assert_eq!(r["champion"]["version"], 1);
    let champion = joust
        .json("model", &["show", "anomaly_detector@champion"])
        .await;
    assert_eq!(champion["version"], 1);
    assert_eq!(
        champion["annotations"]["training_run_id"],
        t1["training_run_id"]
    );

    // The audit log tells the whole story, by this actor.
    let events = joust.json("model", &["history", "anomaly_detector"]).await;
    let events = events.as_array().unwrap();
    assert!(
        events.iter().all(|e| e["actor"] == "flow-test"),
        "{events:#?}"
    );
    let steps: Vec<(u64, &str, &str, &str)> = events
        .iter()
        .filter(|e| e["kind"] == "transition" || e["kind"] == "rollback")
        .map(|e| {
            (
                e["version"].as_u64().unwrap_or(0),
                s(e, "kind"),
                s(e, "from"),
                s(e, "to"),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (1, "transition", "candidate", "evaluated"),
            (2, "transition", "candidate", "evaluated"),
            (1, "transition", "evaluated", "champion"),
            (1, "transition", "champion", "retired"),
            (2, "transition", "evaluated", "champion"),
            (2, "rollback", "champion", "retired"),
            (1, "rollback", "retired", "champion"),
        ],
        "{events:#?}"
    );
    let evaluated_v1 = events
        .iter()
        .find(|e| e["version"] == 1 && e["to"] == "evaluated")
        .unwrap();
    let reason = s(evaluated_v1, "reason");
    assert!(reason.contains(s(&e1, "eval_run_id")), "{reason}");
    assert!(reason.contains("min_auc: roc_auc"), "{reason}");
    assert!(reason.contains("on market_snapshot:1 passed"), "{reason}");
    let registered = events
        .iter()
        .filter(|e| e["kind"] == "version_registered")
        .count();
    assert_eq!(registered, 2);
    let annotated = events.iter().filter(|e| e["kind"] == "annotated").count();
    assert_eq!(annotated, 3, "one per evaluation run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_end_to_end_on_sqlite() {
    lifecycle(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_end_to_end_on_postgres() {
    lifecycle(TestRegistry::postgres().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_ingest_names_the_bad_line_and_column() {
    let registry = TestRegistry::sqlite().await.unwrap();
    let joust = Joust::new(&registry);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bars.csv");
    std::fs::write(
        &path,
        "ticker,timestamp,open,high,low,close,volume\n\
         AAA,2024-01-01T00:00:00Z,10,11,9,10.5,1000\n\
         AAA,2024-01-01T00:01:00Z,10.5,11,10,abc,1200\n",
    )
    .unwrap();
    let out = joust
        .run(
            "data",
            false,
            &["ingest", "--csv", path.to_str().unwrap(), "--name", "bad"],
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3, column `close`"), "{stderr}");
    assert!(stderr.contains("bars.csv"), "{stderr}");
    // Nothing was registered.
    let list = joust.json("data", &["list", "bad"]).await;
    assert_eq!(list, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_ingest_of_unlabelled_bars_then_label_gates_fail() {
    let registry = TestRegistry::sqlite().await.unwrap();
    let joust = Joust::new(&registry);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bars.csv");
    // 2 tickers × 120 bars, no label column, RFC 3339 and unix times mixed.
    let mut csv = String::from("ticker,timestamp,open,high,low,close,volume\n");
    for t in ["AAA", "BBB"] {
        for i in 0..120i64 {
            let p = 100.0 + (i as f64 * 0.3).sin() * 2.0 + i as f64 * 0.01;
            let ts = 1_704_067_200 + i * 60;
            let ts = if i % 2 == 0 {
                ts.to_string()
            } else {
                chrono_free_rfc3339(ts)
            };
            csv.push_str(&format!(
                "{t},{ts},{p},{},{},{},{}\n",
                p + 0.5,
                p - 0.5,
                p + 0.1,
                1000 + (i % 7) * 50
            ));
        }
    }
    std::fs::write(&path, &csv).unwrap();
    let d = joust
        .json(
            "data",
            &["ingest", "--csv", path.to_str().unwrap(), "--name", "real"],
        )
        .await;
    assert_eq!(d["rows"], 240);
    assert_eq!(d["annotations"]["source"], "csv");
    assert_eq!(d["annotations"]["labelled"], "false");
    assert_eq!(
        s(&d["annotations"], "source.sha256"),
        joust_client::sha256_hex(csv.as_bytes())
    );
    assert_eq!(d["annotations"]["time.end"], "2024-01-01T01:59:00Z");
    joust
        .json("model", &["train", "--dataset", "real", "--model", "m"])
        .await;
    let out = joust
        .run(
            "model",
            false,
            &[
                "evaluate",
                "m:1",
                "--dataset",
                "real",
                "--min-recall",
                "0.5",
            ],
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 of 2 gates failed"), "{stderr}");
    assert!(
        stderr.contains("min_recall: recall unknown (needs labels"),
        "{stderr}"
    );
}

/// `1704067260` → `2024-01-01T00:01:00Z` for whole minutes of 2024-01-01.
fn chrono_free_rfc3339(unix: i64) -> String {
    let secs = unix - 1_704_067_200;
    format!("2024-01-01T{:02}:{:02}:00Z", secs / 3600, (secs / 60) % 60)
}
