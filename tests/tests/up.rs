//! `joust up` as a user runs it: the built binary in a temporary data
//! folder on free ports; a model registered, promoted and put up as a
//! challenger with the `joust model` commands; predictions through the
//! node and the router; Ctrl-C; a restart that finds the same state and
//! serves again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use joust_models::ModelKind;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_tests::node::{artifact, eventually, infer_request};

const FEATURES: usize = 3;

/// A `joust up` process (the harness's) with the CLI helpers of this test.
struct Up(joust_tests::up::UpProcess);

impl std::ops::Deref for Up {
    type Target = joust_tests::up::UpProcess;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Up {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Up {
    fn start(data_dir: &Path) -> Self {
        Self(joust_tests::up::UpProcess::start(data_dir))
    }

    /// `joust model ARGS… --json` against this registry.
    fn model(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(joust_tests::joust_bin())
            .arg("model")
            .args(["--registry", &self.registry, "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "joust model {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `joust CMD ARGS… --json` against this registry; the JSON output.
    fn json(&self, cmd: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(joust_tests::joust_bin())
            .arg(cmd)
            .args(["--registry", &self.registry, "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "joust {cmd} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Ctrl-C (SIGINT), then waits: every role must drain and exit 0.
    fn interrupt(mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "joust up exited with {exit}");
    }

    /// Waits until the node answers for `m` with `version` (pinned when
    /// `pin`, else the default version) and returns the score.
    async fn served(&self, version: u64, pin: bool) -> f32 {
        answered(&self.node, version, pin).await
    }

    /// Waits until the router answers for `m` with the champion `version`
    /// and returns the score.
    async fn routed(&self, version: u64) -> f32 {
        answered(&self.router, version, false).await
    }
}

/// Waits until `url` (node or router) answers for `m` with `version`
/// (pinned when `pin`) and returns the score.
async fn answered(url: &str, version: u64, pin: bool) -> f32 {
    let oip = GrpcInferenceServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    let score = std::sync::Arc::new(std::sync::Mutex::new(None));
    eventually(Duration::from_secs(20), || {
        let mut request = infer_request(vec![1, FEATURES as i64], "FP32", vec![0.5; FEATURES]);
        if pin {
            request.model_version = version.to_string();
        }
        let mut oip = oip.clone();
        let score = score.clone();
        async move {
            let Ok(r) = oip.model_infer(request).await else {
                return false;
            };
            let r = r.into_inner();
            if r.model_version != version.to_string() {
                return false;
            }
            *score.lock().unwrap() = r.outputs[0]
                .contents
                .as_ref()
                .and_then(|c| c.fp32_contents.first().copied());
            true
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{url} never answered with m:{version}: {e}"));
    score.lock().unwrap().expect("a score")
}

// Multi-threaded: the test blocks a thread waiting for `joust up` to exit
// while its gRPC connections must still answer the server's GOAWAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_champion_and_challenger_and_keeps_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let a1 = dir.path().join("v1.bin");
    let a2 = dir.path().join("v2.bin");
    std::fs::write(&a1, artifact(ModelKind::IsolationForest, FEATURES, 1)).unwrap();
    std::fs::write(&a2, artifact(ModelKind::IsolationForest, FEATURES, 2)).unwrap();

    let up = Up::start(&data);
    up.model(&["create", "m"]);
    let a1s = a1.to_str().unwrap();
    let a2s = a2.to_str().unwrap();
    up.model(&["register", "m", a1s, "--kind", "isolation_forest"]);
    up.model(&[
        "transition",
        "m:1",
        "evaluated",
        "--force-evaluated",
        "--reason",
        "test version, no evaluation",
    ]);
    up.model(&["promote", "m:1"]);
    // The node was started before the model existed: it discovers it.
    let champion_score = up.served(1, false).await;
    // A challenger is followed too, and the champion keeps unpinned traffic.
    up.model(&["register", "m", a2s, "--kind", "isolation_forest"]);
    up.model(&[
        "transition",
        "m:2",
        "evaluated",
        "--force-evaluated",
        "--reason",
        "test version, no evaluation",
    ]);
    up.model(&["transition", "m:2", "challenger"]);
    up.served(2, true).await;
    assert_eq!(up.served(1, false).await, champion_score);
    // The router sends unpinned traffic to the champion (no trial is open).
    assert_eq!(up.routed(1).await, champion_score);
    up.interrupt();

    // Same folder, new process (new ports): the registry's state and the
    // blobs are still there and the node loads the champion by itself.
    let up = Up::start(&data);
    let champion = up.model(&["show", "m@champion"]);
    assert_eq!(champion["version"].as_u64(), Some(1), "{champion}");
    let challenger = up.model(&["show", "m@challenger"]);
    assert_eq!(challenger["version"].as_u64(), Some(2), "{challenger}");
    assert_eq!(up.served(1, false).await, champion_score);
    up.served(2, true).await;
    assert_eq!(up.routed(1).await, champion_score);
    up.interrupt();
}

/// Waits until the router answers for the 14-feature `model` with the
/// champion `version`.
async fn routed_market(router: &str, model: &str, version: u64) {
    let oip = GrpcInferenceServiceClient::connect(router.to_owned())
        .await
        .unwrap();
    eventually(Duration::from_secs(20), || {
        let mut request = infer_request(vec![1, 14], "FP32", vec![0.1; 14]);
        request.model_name = model.to_owned();
        let mut oip = oip.clone();
        async move {
            matches!(oip.model_infer(request).await, Ok(r) if r.get_ref().model_version == version.to_string())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{router} never answered {model} with v{version}: {e}"));
}

// issue #6: `joust demo` against a running `joust up`, then a restart
// finds what the demo made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_against_up_leaves_state_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    // The dashboard is served next to the platform.
    let page = reqwest::get(format!("{}/trials", up.dashboard))
        .await
        .unwrap();
    assert!(page.status().is_success(), "{}", page.status());

    let out = Command::new(joust_tests::joust_bin())
        .args([
            "demo",
            "--json-lines",
            "--traffic-secs",
            "1",
            "--model",
            "mkt",
        ])
        .args(["--registry", &up.registry, "--router", &up.router])
        .args(["--dashboard", &up.dashboard])
        .env("JOUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "joust demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(steps[0]["embedded"], false, "{}", steps[0]);
    let done = steps.last().unwrap();
    assert_eq!(done["step"], "done");
    assert!(
        done["dashboard"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/trials/", up.dashboard)),
        "{done}"
    );
    up.interrupt();

    // Restart on the same folder: models, versions, champion, dataset and
    // the trial are still there, and the router serves the champion.
    let up = Up::start(&data);
    let champion = up.model(&["show", "mkt@champion"]);
    assert_eq!(champion["version"].as_u64(), Some(1), "{champion}");
    let versions = up.model(&["versions", "mkt"]);
    let mut statuses: Vec<(u64, &str)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["status"].as_str().unwrap(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, [(1, "champion"), (2, "retired")], "{versions}");
    let datasets = up.json("data", &["list", "mkt_market"]);
    assert_eq!(datasets.as_array().unwrap().len(), 1, "{datasets}");
    let trials = up.json("trial", &["list", "--model", "mkt"]);
    assert_eq!(trials[0]["state"], "stopped", "{trials}");
    assert_eq!(trials[0]["outcome"], "promote", "{trials}");
    routed_market(&up.router, "mkt", 1).await;
    up.interrupt();
}

/// `joust detect CMD --detect URL --json ARGS…`: success and stdout.
fn detect_cli(url: &str, cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(joust_tests::joust_bin())
        .args(["detect", cmd, "--detect", url, "--json-lines"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// issue #8: `joust up` also serves joust.v1.Detection, scoring through its
// router, with its store and evidence in the data folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_detection_through_its_router() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let artifact = dir.path().join("market.bin");
    std::fs::write(&artifact, joust_tests::detect::market_model(7)).unwrap();
    let up = Up::start(&data);
    let model = joust_tests::detect::MODEL;
    up.model(&["create", model]);
    let registered = up.model(&[
        "register",
        model,
        artifact.to_str().unwrap(),
        "--kind",
        "isolation_forest",
    ]);
    up.model(&[
        "transition",
        &format!("{model}:1"),
        "evaluated",
        "--force-evaluated",
        "--reason",
        "test version, no evaluation",
    ]);
    up.model(&["promote", &format!("{model}:1")]);

    let (ok, out) = detect_cli(
        &up.detect,
        "ingest",
        &["--synthetic", "1", "--rows", "300", "--interval", "1d"],
    );
    assert!(ok, "ingest: {out}");
    // The router learns of the champion through Watch: until then a run
    // fails (recorded as failed) and scores nothing.
    let run = std::sync::Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
    eventually(Duration::from_secs(30), || {
        let run = run.clone();
        let url = up.detect.clone();
        async move {
            let (ok, out) = detect_cli(&url, "run", &["SYN000", "--interval", "1d"]);
            if ok {
                *run.lock().unwrap() = serde_json::from_str(out.lines().next().unwrap()).unwrap();
            }
            ok
        }
    })
    .await
    .unwrap_or_else(|e| panic!("detection through the router never succeeded: {e}"));
    let run = run.lock().unwrap().clone();
    assert_eq!(run["status"], "complete", "{run}");
    assert_eq!(run["rows_scored"], 300 - 33, "{run}");
    assert_eq!(run["model_version"], "1", "{run}");
    assert_eq!(run["model_sha256"], registered["sha256"], "{run}");
    // Evidence under the data folder, served back byte for byte.
    let id = run["id"].as_u64().unwrap();
    let path = data.join(format!("evidence/joust/{id}/detection.json"));
    let on_disk = std::fs::read(&path).unwrap();
    assert!(
        run["evidence_uri"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/evidence/joust/{id}/detection.json")),
        "{run}"
    );
    let out = Command::new(joust_tests::joust_bin())
        .args([
            "detect",
            "evidence",
            "--detect",
            &up.detect,
            &id.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, on_disk);
    up.interrupt();
}
