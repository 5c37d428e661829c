//! ONNX models' outputs (issue 20): the registration-time output mapping
//! given with `joust model register … --kind onnx --onnx-*` (the real CLI
//! against a real registry), checked against the graph and stored with the
//! version; the graph's own outputs in OIP answers (gRPC and REST) by their
//! ONNX names and types beside joust's `score`/`label`; a classifier with
//! skl2onnx's default ZipMap served (its `seq(map)` output as FP32 [N, k])
//! and scored like scikit-learn's predict_proba.
//!
//! Needs ONNX Runtime (`ORT_DYLIB_PATH`), the Python generator (see
//! onnx_parity.rs) and the `joust` binary (`JOUST_BIN`, or `cargo build -p
//! joust`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use joust_proto::inference as oip;
use joust_proto::inference::model_infer_request::InferRequestedOutputTensor;
use joust_tests::node::{RegistryOps, TestNode};
use joust_tests::onnx::{FEATURES, Generated, ROWS, generate};
use joust_tests::{TestRegistry, joust_bin};
use tonic::Code;

fn expected(g: &Generated, name: &str) -> (Vec<f64>, Vec<bool>) {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(g.path.join(format!("{name}_expected.json"))).unwrap(),
    )
    .unwrap();
    let col = |k: &str| v[k].as_array().unwrap().clone();
    (
        col("score").iter().map(|s| s.as_f64().unwrap()).collect(),
        col("label").iter().map(|s| s.as_bool().unwrap()).collect(),
    )
}

/// `joust model --registry URL register NAME FILE --kind onnx --create ARGS…`.
async fn register(
    registry: &TestRegistry,
    name: &str,
    file: &std::path::Path,
    args: &[&str],
) -> Output {
    let bin = joust_bin();
    assert!(
        bin.is_file(),
        "the joust binary is not at {}: `cargo build -p joust` or set JOUST_BIN",
        bin.display()
    );
    tokio::process::Command::new(bin)
        .args(["model", "--registry", &registry.url, "--actor", "onnx-test"])
        .args(["register", name])
        .arg(file)
        .args(["--kind", "onnx", "--create"])
        .args(args)
        .env_remove("JOUST_JSON")
        .env_remove("JOUST_REGISTRY")
        .env("JOUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn infer(model: &str, rows: &[f32], outputs: &[&str]) -> oip::ModelInferRequest {
    let mut req =
        joust_client::inference::InferRequest::new(model, FEATURES, rows.to_vec()).build();
    req.outputs = outputs
        .iter()
        .map(|n| InferRequestedOutputTensor {
            name: (*n).to_owned(),
            parameters: Default::default(),
        })
        .collect();
    req
}

fn output<'a>(
    r: &'a oip::ModelInferResponse,
    name: &str,
) -> &'a oip::model_infer_response::InferOutputTensor {
    r.outputs
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no output {name}: {:?}",
                r.outputs.iter().map(|o| &o.name).collect::<Vec<_>>()
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_mapping_is_served_and_a_bad_one_refused() {
    let Some(g) = generate() else { return };
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    let forest = g.path.join("iforest_compact.onnx");

    // Non-default: score = +decision_function, label = (predict == 1), the
    // opposite of the IsolationForest defaults in both sign and label.
    let out = register(
        &registry,
        "inverted",
        &forest,
        &[
            "--onnx-score",
            "scores",
            "--onnx-score-sign",
            "1",
            "--onnx-label",
            "label",
            "--onnx-label-anomaly",
            "1",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = ops.client.get_version("inverted:1").await.unwrap();
    assert_eq!(
        v.annotations.get("onnx.score").map(String::as_str),
        Some("scores")
    );
    assert_eq!(
        v.annotations.get("onnx.label_anomaly").map(String::as_str),
        Some("1")
    );
    ops.promote("inverted:1").await.unwrap();

    // Bad mappings: refused with INVALID_ARGUMENT naming the output, nothing recorded.
    for (args, needle) in [
        (
            vec!["--onnx-score", "nosuch", "--onnx-threshold", "0"],
            "onnx.score: the graph has no output `nosuch`",
        ),
        (
            vec!["--onnx-score", "scores", "--onnx-label", "scores"],
            "onnx.label: output `scores` is FP32",
        ),
        (
            vec!["--onnx-score", "label", "--onnx-threshold", "0"],
            "onnx.score: output `label` is INT64",
        ),
        (
            vec![
                "--onnx-score",
                "scores",
                "--onnx-score-column",
                "3",
                "--onnx-threshold",
                "0",
            ],
            "onnx.score_column: output `scores` has 1 columns",
        ),
        (
            vec![
                "--onnx-score",
                "scores",
                "--onnx-score-sign",
                "2",
                "--onnx-threshold",
                "0",
            ],
            "onnx.score_sign: expected 1 or -1",
        ),
        (
            vec!["--onnx-score", "scores"],
            "onnx.score needs onnx.label",
        ),
    ] {
        let out = register(&registry, "badmap", &forest, &args).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            err.contains("INVALID_ARGUMENT")
                && err.contains("metadata.annotations")
                && err.contains(needle),
            "{args:?}: {err}"
        );
        println!("{args:?}: {}", err.trim());
    }
    assert_eq!(
        ops.client.get_model("badmap").await.unwrap().latest_version,
        0
    );

    // The ZipMap classifier (skl2onnx's default export): accepted, its
    // `output_probability` served as FP32 [N, 2] and scored by default as
    // P(class 1) with label = (`output_label` = 1).
    let out = register(
        &registry,
        "zipmap",
        &g.path.join("classifier_zipmap.onnx"),
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ops.promote("zipmap:1").await.unwrap();

    let node = TestNode::start_ready(TestNode::config(
        &registry.url,
        &["inverted@champion", "zipmap@champion"],
    ))
    .await
    .unwrap();
    let (want_score, want_label) = expected(&g, "iforest");
    let mut c = node.oip().await;
    let mut worst = 0.0f64;
    for (b, chunk) in g.rows.chunks(1_000 * FEATURES).enumerate() {
        let r = c
            .model_infer(infer("inverted", chunk, &["score", "label"]))
            .await
            .unwrap()
            .into_inner();
        let s = &output(&r, "score").contents.as_ref().unwrap().fp32_contents;
        let l = &output(&r, "label").contents.as_ref().unwrap().bool_contents;
        for (i, (s, l)) in s.iter().zip(l).enumerate() {
            let row = b * 1_000 + i;
            let d = (f64::from(*s) + want_score[row]).abs();
            worst = worst.max(d);
            assert!(d <= 1e-5, "row {row}: {s} vs -{}", want_score[row]);
            assert_eq!(*l, !want_label[row], "row {row}");
        }
    }
    println!(
        "mapped score = decision_function on {ROWS} rows: max |Δ| = {worst:.3e}, labels = predict == 1"
    );

    // The ZipMap classifier against scikit-learn's predict_proba[:, 1] and
    // predict, every row; its ZipMap output by name, FP32 [N, 2].
    let (want_p, want_label) = expected(&g, "classifier");
    let mut worst = 0.0f64;
    let mut positives = 0;
    for (b, chunk) in g.rows.chunks(1_000 * FEATURES).enumerate() {
        let r = c
            .model_infer(infer(
                "zipmap",
                chunk,
                &["score", "label", "output_probability"],
            ))
            .await
            .unwrap()
            .into_inner();
        let s = &output(&r, "score").contents.as_ref().unwrap().fp32_contents;
        let l = &output(&r, "label").contents.as_ref().unwrap().bool_contents;
        let p = output(&r, "output_probability");
        assert_eq!(p.datatype, "FP32");
        assert_eq!(p.shape, [s.len() as i64, 2]);
        let p = &p.contents.as_ref().unwrap().fp32_contents;
        for (i, (s, l)) in s.iter().zip(l).enumerate() {
            let row = b * 1_000 + i;
            assert_eq!(*s, p[2 * i + 1], "row {row}: score = P(class 1)");
            assert!((p[2 * i] + p[2 * i + 1] - 1.0).abs() < 1e-5, "row {row}");
            let d = (f64::from(*s) - want_p[row]).abs();
            worst = worst.max(d);
            assert!(d <= 1e-5, "row {row}: {s} vs {}", want_p[row]);
            assert_eq!(*l, want_label[row], "row {row}");
            positives += usize::from(*l);
        }
    }
    println!(
        "ZipMap classifier on {ROWS} rows: max |Δ P(class 1)| = {worst:.3e}, {positives} positives, labels identical"
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oip_answers_carry_the_graphs_outputs_by_name_and_type() {
    let Some(g) = generate() else { return };
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    for (model, file) in [("forest", "iforest_compact"), ("clf", "classifier")] {
        ops.register(
            model,
            "onnx",
            std::fs::read(g.path.join(format!("{file}.onnx"))).unwrap(),
        )
        .await
        .unwrap();
        ops.promote(&format!("{model}:1")).await.unwrap();
    }
    let node = TestNode::start_ready(TestNode::config(
        &registry.url,
        &["forest@champion", "clf@champion"],
    ))
    .await
    .unwrap();
    let mut c = node.oip().await;

    // Metadata: joust's two outputs, then the graph's; the graph's `label`
    // is served as `onnx.label` (joust's `label` keeps its name).
    let meta = c
        .model_metadata(oip::ModelMetadataRequest {
            name: "forest".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<(&str, &str, Vec<i64>)> = meta
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.datatype.as_str(), o.shape.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            ("score", "FP32", vec![-1]),
            ("label", "BOOL", vec![-1]),
            ("onnx.label", "INT64", vec![-1, 1]),
            ("scores", "FP32", vec![-1, 1]),
        ]
    );

    // Default: every output; the graph's values are the graph's own.
    let rows = &g.rows[..3 * FEATURES];
    let r = c
        .model_infer(infer("forest", rows, &[]))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = r.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["score", "label", "onnx.label", "scores"]);
    let score = &output(&r, "score").contents.as_ref().unwrap().fp32_contents;
    let scores = output(&r, "scores");
    assert_eq!(
        (scores.datatype.as_str(), scores.shape.as_slice()),
        ("FP32", &[3, 1][..])
    );
    for (a, b) in score
        .iter()
        .zip(&scores.contents.as_ref().unwrap().fp32_contents)
    {
        assert_eq!(*a, -*b, "score = -scores");
    }
    let graph_label = &output(&r, "onnx.label")
        .contents
        .as_ref()
        .unwrap()
        .int64_contents;
    let label = &output(&r, "label").contents.as_ref().unwrap().bool_contents;
    for (l, g) in label.iter().zip(graph_label) {
        assert_eq!(*l, *g == -1);
    }

    // Selected by name, in the order asked; an unknown name lists the valid ones.
    let r = c
        .model_infer(infer("clf", rows, &["probabilities", "score"]))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = r.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["score", "probabilities"]);
    let p = output(&r, "probabilities");
    assert_eq!(p.shape, [3, 2]);
    let p = &p.contents.as_ref().unwrap().fp32_contents;
    let s = &output(&r, "score").contents.as_ref().unwrap().fp32_contents;
    for i in 0..3 {
        assert_eq!(s[i], p[2 * i + 1], "score = P(class 1)");
    }
    let err = c
        .model_infer(infer("clf", rows, &["output_probability"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("\"probabilities\"") && err.message().contains("output_probability"),
        "{}",
        err.message()
    );

    // REST: the same outputs, by name and datatype.
    let body = serde_json::json!({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [3, FEATURES], "data": rows}],
        "outputs": [{"name": "onnx.label"}, {"name": "scores"}]
    });
    let r: serde_json::Value = serde_json::from_slice(
        &reqwest::Client::new()
            .post(format!("http://{}/v2/models/forest/infer", node.http_addr))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let outs = r["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 2, "{r}");
    assert_eq!(outs[0]["name"], "onnx.label");
    assert_eq!(outs[0]["datatype"], "INT64");
    assert_eq!(outs[0]["data"].as_array().unwrap().len(), 3);
    assert_eq!(outs[1]["name"], "scores");
    assert_eq!(outs[1]["datatype"], "FP32");
    let meta: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("http://{}/v2/models/clf", node.http_addr))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = meta["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["score", "label", "onnx.label", "probabilities"]);
    node.stop().await.unwrap();
}
