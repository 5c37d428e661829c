//! Every bad input to a serving node, over OIP and the native API: the
//! gRPC code and a message naming the field and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_proto::inference as oip;
use joust_proto::inference::model_infer_request::InferRequestedOutputTensor;
use joust_proto::v1 as pb;
use joust_server::NodeConfig;
use joust_tests::node::{champion_fixture as setup, infer_request as infer, predict_request};
use tonic::Code;

const F: usize = joust_tests::node::FIXTURE_FEATURES;

async fn expect(
    c: &mut joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient<
        tonic::transport::Channel,
    >,
    req: oip::ModelInferRequest,
    code: Code,
    needle: &str,
) {
    let e = c.model_infer(req).await.unwrap_err();
    assert_eq!(e.code(), code, "{e:?}");
    assert!(
        e.message().contains(needle),
        "{:?} should contain {needle:?}",
        e.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_the_right_code_and_names_the_field() {
    let (_registry, _ops, node) = setup(|c| NodeConfig { max_rows: 100, ..c }).await;
    let mut c = node.oip().await;
    let ok = |rows: usize| infer(vec![rows as i64, F as i64], "FP32", vec![0.5; rows * F]);
    let inv = Code::InvalidArgument;
    expect(
        &mut c,
        infer(vec![1, 2], "FP32", vec![1.0, 2.0]),
        inv,
        "expects 3 features [\"f0\", \"f1\", \"f2\"], got 2",
    )
    .await;
    expect(
        &mut c,
        infer(vec![1, 3], "INT32", vec![1.0; 3]),
        inv,
        "inputs[0].datatype: expected \"FP32\", got \"INT32\"",
    )
    .await;
    expect(
        &mut c,
        infer(vec![2, 3], "FP32", vec![1.0; 5]),
        inv,
        "needs 6 values, got 5",
    )
    .await;
    expect(
        &mut c,
        infer(vec![3], "FP32", vec![1.0; 3]),
        inv,
        "inputs[0].shape",
    )
    .await;
    expect(
        &mut c,
        infer(vec![1, 3], "FP32", vec![1.0, f32::NAN, 1.0]),
        inv,
        "feature \"f1\": expected a finite number, got NaN",
    )
    .await;
    expect(
        &mut c,
        infer(vec![1, 3], "FP32", vec![f32::INFINITY, 1.0, 1.0]),
        inv,
        "feature \"f0\": expected a finite number, got inf",
    )
    .await;
    expect(
        &mut c,
        infer(vec![0, 3], "FP32", vec![]),
        inv,
        "empty batch",
    )
    .await;
    expect(
        &mut c,
        ok(101),
        inv,
        "101 rows exceed this node's limit of 100",
    )
    .await;
    let mut unknown = ok(1);
    unknown.model_name = "nope".into();
    expect(
        &mut c,
        unknown,
        Code::NotFound,
        "model \"nope\" is not loaded on this node (loaded: m)",
    )
    .await;
    let mut version = ok(1);
    version.model_version = "7".into();
    expect(
        &mut c,
        version,
        Code::NotFound,
        "version 7 is not loaded on this node (loaded versions: 1)",
    )
    .await;
    let mut version = ok(1);
    version.model_version = "latest".into();
    expect(
        &mut c,
        version,
        inv,
        "model_version: expected a version number",
    )
    .await;
    let mut output = ok(1);
    output.outputs = vec![InferRequestedOutputTensor {
        name: "probability".into(),
        parameters: Default::default(),
    }];
    expect(&mut c, output, inv, "outputs[0].name").await;
    let mut two = ok(1);
    two.inputs.push(two.inputs[0].clone());
    expect(&mut c, two, inv, "expected exactly one FP32 tensor").await;

    let mut n = node.native().await;
    let e = n.predict(predict_request("m", 2, 1)).await.unwrap_err();
    assert_eq!(e.code(), inv);
    assert!(
        e.message().contains("rows[0].values") && e.message().contains("[\"f0\", \"f1\", \"f2\"]"),
        "{e:?}"
    );
    let mut named = predict_request("m", F, 0);
    named.rows = vec![pb::FeatureRow {
        values: vec![],
        features: [("f0".to_owned(), 1.0), ("volume".to_owned(), 1.0)]
            .into_iter()
            .collect(),
    }];
    let e = n.predict(named).await.unwrap_err();
    assert_eq!(e.code(), inv);
    assert!(e.message().contains("unknown feature \"volume\""), "{e:?}");
    let e = n.predict(predict_request("m", F, 0)).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (inv, "rows: empty batch, expected at least one row")
    );
    let e = n.predict(predict_request("m", F, 101)).await.unwrap_err();
    assert_eq!(e.code(), inv);
    let e = n.predict(predict_request("zzz", F, 1)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let metrics = node.metrics_text().await.unwrap();
    assert!(
        metrics.contains("joust_node_request_errors_total{api=\"oip\",code=\"InvalidArgument\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("joust_node_request_errors_total{api=\"oip\",code=\"NotFound\"} 2"),
        "{metrics}"
    );
}
