//! The OIP REST API as an existing client sees it: `tritonclient.http`
//! (tests/python/oip_rest_tritonclient.py) against a real node and a real
//! router in a split trial: readiness, server and model metadata,
//! inference with JSON and with binary data (in and out) equal to the
//! gRPC scores of each version, sticky routing keys through the router,
//! and errors (400 naming the field, 404). `scripts/test` installs
//! `tritonclient[http]`; without it the test fails under
//! `JOUST_TEST_REQUIRE_ALL=1` and is skipped otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_tests::node::{FIXTURE_FEATURES, TestNode, eventually, infer_request};
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::{TestRegistry, TestRouter};
use serde_json::json;

fn tritonclient_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import numpy, tritonclient.http"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_http_talks_to_a_node_and_a_router() {
    if !tritonclient_installed() {
        assert!(
            !joust_tests::require_all(),
            "tritonclient.http is missing: python3 -m pip install 'tritonclient[http]' (scripts/test does)"
        );
        eprintln!("skipped: tritonclient.http is not installed");
        return;
    }
    let registry = TestRegistry::sqlite().await.unwrap();
    let _ops = two_versions(&registry.url).await.unwrap();
    let trial = TrialOps::new(&registry.url)
        .start("m", 2, pb::TrialMode::Split, 0.5, 0.0)
        .await
        .unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m@champion", "m:2"]))
        .await
        .unwrap();
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        router
            .route("m")
            .await
            .is_some_and(|r| r.trial_id == trial.id)
    })
    .await
    .unwrap();

    let rows: Vec<Vec<f32>> = (0..5)
        .map(|r| {
            (0..FIXTURE_FEATURES)
                .map(|f| ((r * 5 + f * 3) % 11) as f32 * 0.25)
                .collect()
        })
        .collect();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let mut scores = serde_json::Map::new();
    for version in ["1", "2"] {
        let mut req = infer_request(
            vec![rows.len() as i64, FIXTURE_FEATURES as i64],
            "FP32",
            flat.clone(),
        );
        req.model_version = version.to_owned();
        let resp = node
            .oip()
            .await
            .model_infer(req)
            .await
            .unwrap()
            .into_inner();
        let s: Vec<f32> = joust_client::inference::fp32_output(&resp, "score")
            .unwrap()
            .unwrap()
            .collect();
        scores.insert(version.to_owned(), json!(s));
    }
    let spec = json!({
        "targets": [
            {"url": node.http_addr.to_string(), "name": "joust", "routed": false},
            {"url": router.http_addr.to_string(), "name": "joust-router", "routed": true},
        ],
        "model": "m",
        "features": FIXTURE_FEATURES,
        "rows": rows,
        "scores": scores,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/oip_rest_tritonclient.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(spec.to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tritonclient test failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok: joust at") && stdout.contains("ok: joust-router at"),
        "{stdout}"
    );
    router.stop().await.unwrap();
    node.stop().await.unwrap();
}
