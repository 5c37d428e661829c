//! ONNX models trained in scikit-learn, served by joust (issue 20), over
//! real gRPC: `tests/onnx/make_models.py` trains an IsolationForest and a
//! GradientBoostingClassifier on 12 features, exports them with skl2onnx
//! (and the forest also as one TreeEnsembleRegressor, compact_iforest.py)
//! and writes scikit-learn's own scores and labels for 10,000 rows. All
//! are registered as kind `onnx`, served by a node and through a router,
//! and every score must equal scikit-learn's to 1e-5 and every label be
//! identical. Bad files are refused at registration with INVALID_ARGUMENT
//! naming what is wrong, recording nothing.
//!
//! Needs ONNX Runtime (`ORT_DYLIB_PATH`) and a Python with scikit-learn,
//! skl2onnx and onnxruntime (`JOUST_ONNX_PYTHON`, default `python3`);
//! scripts/test installs both and sets `JOUST_TEST_REQUIRE_ALL=1`, so in CI
//! a missing one is a failure, not a skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_proto::inference as oip;
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, TestNode};
use joust_tests::router::TestRouter;
use tonic::Code;

use joust_tests::onnx::{FEATURES, Generated, ROWS, generate};

fn expected(g: &Generated, name: &str) -> (Vec<f64>, Vec<bool>) {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(g.path.join(format!("{name}_expected.json"))).unwrap(),
    )
    .unwrap();
    let score = v["score"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    let label = v["label"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_bool().unwrap())
        .collect();
    (score, label)
}

/// Scores every row through OIP `ModelInfer` in batches of 1,000.
async fn score_all(
    mut c: oip::grpc_inference_service_client::GrpcInferenceServiceClient<
        tonic::transport::Channel,
    >,
    model: &str,
    rows: &[f32],
) -> (Vec<f32>, Vec<bool>) {
    let mut scores = Vec::with_capacity(ROWS);
    let mut labels = Vec::with_capacity(ROWS);
    for chunk in rows.chunks(1_000 * FEATURES) {
        let req =
            joust_client::inference::InferRequest::new(model, FEATURES, chunk.to_vec()).build();
        let r = c.model_infer(req).await.unwrap().into_inner();
        let by_name = |n: &str| {
            r.outputs
                .iter()
                .position(|t| t.name == n)
                .unwrap_or_else(|| panic!("no output {n}: {:?}", r.outputs))
        };
        let s = &r.outputs[by_name("score")];
        scores.extend(s.contents.as_ref().unwrap().fp32_contents.iter().copied());
        let l = &r.outputs[by_name("label")];
        labels.extend(l.contents.as_ref().unwrap().bool_contents.iter().copied());
    }
    (scores, labels)
}

fn compare(what: &str, got: &(Vec<f32>, Vec<bool>), want: &(Vec<f64>, Vec<bool>)) {
    assert_eq!(got.0.len(), ROWS, "{what}: rows scored");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.0.iter().zip(&want.0).enumerate() {
        let d = (f64::from(*g) - w).abs();
        worst = worst.max(d);
        assert!(d <= 1e-5, "{what}: row {i}: joust {g}, scikit-learn {w}");
    }
    let differ = got.1.iter().zip(&want.1).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{what}: labels differing from scikit-learn");
    let flagged = got.1.iter().filter(|l| **l).count();
    println!(
        "{what}: {ROWS} rows, max |score - scikit-learn| = {worst:.3e}, labels identical ({flagged} positive)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scikit_learn_models_score_like_scikit_learn_through_a_node_and_a_router() {
    let Some(g) = generate() else { return };
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    for (model, file) in [
        ("forest", "iforest"),
        ("compact", "iforest_compact"),
        ("clf", "classifier"),
    ] {
        let bytes = std::fs::read(g.path.join(format!("{file}.onnx"))).unwrap();
        let v = ops.register(model, "onnx", bytes).await.unwrap();
        assert_eq!(v.kind, "onnx");
        ops.promote(&format!("{model}:1")).await.unwrap();
    }
    let node = TestNode::start(TestNode::config(
        &registry.url,
        &["forest@champion", "compact@champion", "clf@champion"],
    ))
    .await
    .unwrap();
    // skl2onnx's per-tree forest (~2,500 nodes) takes ONNX Runtime seconds
    // to build a session on a loaded 2-core machine: a longer wait than
    // start_ready's 10 s.
    node.wait_serving("", Duration::from_secs(60))
        .await
        .unwrap();

    // The schema comes from the graph: one FP32 input of 12 features.
    let meta = node
        .oip()
        .await
        .model_metadata(oip::ModelMetadataRequest {
            name: "forest".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.inputs[0].shape, [-1, FEATURES as i64]);
    assert_eq!(meta.platform, "joust_onnx");

    // A row of the wrong width is refused as for any model.
    let err = node
        .oip()
        .await
        .model_infer(joust_client::inference::InferRequest::new("forest", 3, vec![0.0; 3]).build())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    let forest = expected(&g, "iforest");
    let clf = expected(&g, "classifier");
    compare(
        "IsolationForest via node",
        &score_all(node.oip().await, "forest", &g.rows).await,
        &forest,
    );
    compare(
        "IsolationForest as one TreeEnsembleRegressor (compact_iforest.py) via node",
        &score_all(node.oip().await, "compact", &g.rows).await,
        &forest,
    );
    compare(
        "GradientBoostingClassifier via node",
        &score_all(node.oip().await, "clf", &g.rows).await,
        &clf,
    );

    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    joust_tests::node::eventually(Duration::from_secs(10), || async {
        router.route("forest").await.is_some() && router.route("clf").await.is_some()
    })
    .await
    .unwrap();
    compare(
        "IsolationForest via router",
        &score_all(router.oip(), "forest", &g.rows).await,
        &forest,
    );
    compare(
        "GradientBoostingClassifier via router",
        &score_all(router.oip(), "clf", &g.rows).await,
        &clf,
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_onnx_files_are_refused_at_registration_naming_what_is_wrong() {
    let Some(g) = generate() else { return };
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    let good = std::fs::read(g.path.join("iforest.onnx")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not onnx",
            b"this is not a model at all".to_vec(),
            "not a runnable ONNX model",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "not a runnable ONNX model",
        ),
        (
            "unsupported operator",
            std::fs::read(g.path.join("bad_unsupported_op.onnx")).unwrap(),
            "Missing",
        ),
        (
            "string input",
            std::fs::read(g.path.join("bad_string_input.onnx")).unwrap(),
            "input `x`: expected FP32",
        ),
    ];
    for (what, bytes, needle) in cases {
        let err = ops.register("bad", "onnx", bytes).await.unwrap_err();
        let status = err
            .chain()
            .find_map(|e| e.downcast_ref::<joust_client::ClientError>())
            .and_then(|e| match e {
                joust_client::ClientError::Status(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{what}: not a status: {err:#}"));
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(
            status.message().contains(needle) && status.message().contains("nothing was recorded"),
            "{what}: {}",
            status.message()
        );
        println!("{what}: {}", status.message());
    }
    let m = ops.client.get_model("bad").await.unwrap();
    assert_eq!(m.latest_version, 0, "a refused file records no version");
}
