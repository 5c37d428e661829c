//! The Open Inference Protocol's REST form (KServe v2 HTTP/JSON and the
//! binary-data extension) on a real node and a real router over sockets:
//! health, metadata, readiness, inference in JSON and in binary with the
//! same scores as gRPC, errors with the HTTP status of their gRPC code and
//! a KServe `{"error"}` body naming the field, the router's split (sticky
//! keys, arm headers, comparison records, metrics) and 503 once its node is
//! gone; and, with authentication on, the gRPC tokens and roles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_tests::node::{FIXTURE_FEATURES, TestNode, eventually, infer_request};
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::security::{PREDICTOR, ProtectedPlatform, READER, guarded_model};
use joust_tests::{TestRegistry, TestRouter};
use serde_json::{Value, json};

/// One HTTP answer: status, headers and body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"error\" in {}", self.json()))
            .to_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req).await
}

async fn post(
    addr: SocketAddr,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
    token: Option<&str>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req).await
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

/// `rows` rows of 3 features, as the gRPC tests build them.
fn rows(rows: usize) -> Vec<f32> {
    (0..rows * FIXTURE_FEATURES)
        .map(|i| (i % 7) as f32 * 0.3)
        .collect()
}

fn json_infer(values: &[f32], extra: Value) -> Vec<u8> {
    let mut body = json!({
        "id": "rest-1",
        "inputs": [{
            "name": "input",
            "datatype": "FP32",
            "shape": [values.len() / FIXTURE_FEATURES, FIXTURE_FEATURES],
            "data": values,
        }]
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    body.to_string().into_bytes()
}

/// The gRPC scores of `values` from `node` at `version`.
async fn grpc_scores(node: &TestNode, version: &str, values: &[f32]) -> Vec<f32> {
    let mut req = infer_request(
        vec![
            (values.len() / FIXTURE_FEATURES) as i64,
            FIXTURE_FEATURES as i64,
        ],
        "FP32",
        values.to_vec(),
    );
    req.model_version = version.to_owned();
    let resp = node
        .oip()
        .await
        .model_infer(req)
        .await
        .unwrap()
        .into_inner();
    joust_client::inference::fp32_output(&resp, "score")
        .unwrap()
        .unwrap()
        .collect()
}

fn data_f32(output: &Value) -> Vec<f32> {
    output["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// The value of series `series` (name and labels, as printed) in `text`.
fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Health, metadata, readiness and errors every server answers the same.
async fn check_common(addr: SocketAddr, server_name: &str) {
    let a = get(addr, "/v2/health/live", None).await;
    assert_eq!((a.status, a.json()), (200, json!({"live": true})));
    let a = get(addr, "/v2/health/ready", None).await;
    assert_eq!((a.status, a.json()), (200, json!({"ready": true})));
    let a = get(addr, "/v2", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["name"], server_name);
    assert_eq!(a.json()["extensions"], json!([]));

    let a = get(addr, "/v2/models/m", None).await;
    assert_eq!(a.status, 200, "{}", a.json());
    let m = a.json();
    assert_eq!(m["name"], "m");
    assert_eq!(
        m["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, FIXTURE_FEATURES]}])
    );
    assert_eq!(
        m["outputs"],
        json!([
            {"name": "score", "datatype": "FP32", "shape": [-1]},
            {"name": "label", "datatype": "BOOL", "shape": [-1]}
        ])
    );
    let a = get(addr, "/v2/models/m/versions/2", None).await;
    assert_eq!(a.status, 200, "{}", a.json());
    assert_eq!(a.json()["platform"], m["platform"]);

    for path in ["/v2/models/m/ready", "/v2/models/m/versions/2/ready"] {
        let a = get(addr, path, None).await;
        assert_eq!(
            (a.status, a.json()),
            (200, json!({"ready": true})),
            "{path}"
        );
    }
    let a = get(addr, "/v2/models/m/versions/9/ready", None).await;
    assert_eq!((a.status, a.json()), (400, json!({"ready": false})));

    // Errors: the gRPC code's HTTP status and a message naming the field.
    let a = get(addr, "/v2/models/ghost", None).await;
    assert_eq!(a.status, 404, "{}", a.json());
    assert!(a.error().contains("\"ghost\""), "{}", a.error());
    let a = get(addr, "/v2/models/m/versions/x1", None).await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("\"x1\""), "{}", a.error());
    let infer = "/v2/models/m/infer";
    let a = post(addr, infer, b"{\"inputs\": [".to_vec(), &[], None).await;
    assert_eq!(a.status, 400);
    assert!(
        a.error()
            .starts_with("request body: expected a JSON object"),
        "{}",
        a.error()
    );
    let a = post(addr, infer, br#"{"inputs": {}}"#.to_vec(), &[], None).await;
    assert_eq!(
        (a.status, a.error()),
        (
            400,
            "inputs: expected an array of input tensors, got {}".to_owned()
        )
    );
    let bad_shape = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [1.0, "x", 2.0]}]});
    let a = post(addr, infer, bad_shape.to_string().into_bytes(), &[], None).await;
    assert_eq!(
        (a.status, a.error()),
        (
            400,
            "inputs[0].data[1]: expected a number, got \"x\"".to_owned()
        )
    );
    // The model's own check, through the same handler as gRPC.
    let two = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}]});
    let a = post(addr, infer, two.to_string().into_bytes(), &[], None).await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("expects 3 features"), "{}", a.error());
    let a = post(
        addr,
        "/v2/models/ghost/infer",
        json_infer(&rows(1), json!({})),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    let a = get(addr, "/v1/models", None).await;
    assert_eq!(a.status, 404);
    assert!(a.error().contains("no such endpoint"), "{}", a.error());
}

/// JSON and binary inference on `addr` give `expected` (scores of `values`).
async fn check_infer(addr: SocketAddr, path: &str, values: &[f32], expected: &[f32]) {
    // JSON in, JSON out.
    let a = post(addr, path, json_infer(values, json!({})), &[], None).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/json")
    );
    let r = a.json();
    assert_eq!(r["model_name"], "m");
    assert_eq!(r["id"], "rest-1");
    let outputs = r["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["name"], "score");
    assert_eq!(
        outputs[0]["shape"],
        json!([values.len() / FIXTURE_FEATURES])
    );
    assert_eq!(data_f32(&outputs[0]), expected);
    assert_eq!(outputs[1]["name"], "label");
    assert!(
        outputs[1]["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_boolean)
    );

    // Binary in, binary `score` out, JSON `label`.
    let n = values.len() / FIXTURE_FEATURES;
    let header = json!({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [n, FIXTURE_FEATURES],
                    "parameters": {"binary_data_size": values.len() * 4}}],
        "outputs": [{"name": "score", "parameters": {"binary_data": true}}, {"name": "label"}]
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    let a = post(
        addr,
        path,
        body,
        &[("Inference-Header-Content-Length", header.len().to_string())],
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let json_len: usize = a
        .header("inference-header-content-length")
        .unwrap()
        .parse()
        .unwrap();
    let (json_part, binary) = a.body.split_at(json_len);
    let r: Value = serde_json::from_slice(json_part).unwrap();
    assert_eq!(r["outputs"][0]["parameters"]["binary_data_size"], n * 4);
    assert!(r["outputs"][0].get("data").is_none());
    let scores: Vec<f32> = binary
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(scores, expected);
    assert_eq!(r["outputs"][1]["data"].as_array().unwrap().len(), n);

    // A short binary part is refused naming the parameter.
    let mut short = header.clone().into_bytes();
    short.extend([0u8; 4]);
    let a = post(
        addr,
        path,
        short,
        &[("Inference-Header-Content-Length", header.len().to_string())],
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.error()
            .starts_with("inputs[0].parameters.binary_data_size:"),
        "{}",
        a.error()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_router_serve_the_rest_api_through_the_grpc_paths() {
    let registry = TestRegistry::sqlite().await.unwrap();
    let _ops = two_versions(&registry.url).await.unwrap();
    let trials = TrialOps::new(&registry.url);
    let trial = trials
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

    let values = rows(4);
    let v1 = grpc_scores(&node, "1", &values).await;
    let v2 = grpc_scores(&node, "2", &values).await;
    assert_ne!(v1, v2, "the two versions must score differently");

    check_common(node.http_addr, "joust").await;
    check_common(router.http_addr, "joust-router").await;
    check_infer(node.http_addr, "/v2/models/m/infer", &values, &v1).await;
    check_infer(
        node.http_addr,
        "/v2/models/m/versions/2/infer",
        &values,
        &v2,
    )
    .await;
    // The router pins a version and answers with that version's scores.
    check_infer(
        router.http_addr,
        "/v2/models/m/versions/2/infer",
        &values,
        &v2,
    )
    .await;

    // Split on the router: the arm of a key is the gRPC path's (sticky),
    // shown in the x-joust-arm header, recorded and counted.
    let node_before = counter(
        &node.metrics_text().await.unwrap(),
        "joust_node_requests_total{api=\"oip\",model=\"m\"}",
    );
    let sent_before = router.stats().await.unwrap().records_sent;
    let mut arms = std::collections::HashMap::new();
    for i in 0..40 {
        let key = format!("customer-{i}");
        let by_param = post(
            router.http_addr,
            "/v2/models/m/infer",
            json_infer(&values, json!({"parameters": {"routing_key": key}})),
            &[],
            None,
        )
        .await;
        assert_eq!(
            by_param.status,
            200,
            "{}",
            String::from_utf8_lossy(&by_param.body)
        );
        let arm = by_param.header("x-joust-arm").unwrap();
        let version = by_param.header("x-joust-model-version").unwrap();
        assert_eq!(by_param.json()["model_version"], version.as_str());
        let scores = data_f32(&by_param.json()["outputs"][0]);
        assert_eq!(&scores, if version == "2" { &v2 } else { &v1 }, "{key}");
        assert_eq!(version, if arm == "challenger" { "2" } else { "1" });
        let by_header = post(
            router.http_addr,
            "/v2/models/m/infer",
            json_infer(&values, json!({})),
            &[("x-joust-routing-key", key.clone())],
            None,
        )
        .await;
        assert_eq!(
            by_header.header("x-joust-arm").as_deref(),
            Some(arm.as_str())
        );
        // The same key over gRPC lands on the same arm.
        let mut req = infer_request(vec![4, 3], "FP32", values.clone());
        req.parameters.insert(
            "routing_key".into(),
            joust_proto::inference::InferParameter {
                parameter_choice: Some(
                    joust_proto::inference::infer_parameter::ParameterChoice::StringParam(
                        key.clone(),
                    ),
                ),
            },
        );
        let grpc = router.oip().model_infer(req).await.unwrap();
        assert_eq!(
            grpc.metadata()
                .get("x-joust-arm")
                .unwrap()
                .to_str()
                .unwrap(),
            arm
        );
        arms.insert(key, arm);
    }
    let challengers = arms.values().filter(|a| *a == "challenger").count();
    assert!(
        (5..=35).contains(&challengers),
        "{challengers} of 40 keys on the challenger at weight 0.5"
    );
    // 120 routed requests (40 × param, header, gRPC) → 120 records.
    eventually(Duration::from_secs(20), || async {
        router.stats().await.unwrap().records_sent >= sent_before + 120
    })
    .await
    .unwrap();
    let router_metrics = router.metrics_text().await.unwrap();
    assert!(
        counter(
            &router_metrics,
            "joust_router_requests_total{model=\"m\",arm=\"champion\"}"
        ) + counter(
            &router_metrics,
            "joust_router_requests_total{model=\"m\",arm=\"challenger\"}"
        ) >= 120.0,
        "{router_metrics}"
    );
    let node_after = counter(
        &node.metrics_text().await.unwrap(),
        "joust_node_requests_total{api=\"oip\",model=\"m\"}",
    );
    assert!(
        node_after >= node_before + 120.0,
        "{node_before} → {node_after}"
    );

    // The router with no node left: 503 UNAVAILABLE, not ready.
    let router_http = router.http_addr;
    node.stop().await.unwrap();
    eventually(Duration::from_secs(10), || async {
        post(
            router_http,
            "/v2/models/m/infer",
            json_infer(&values, json!({})),
            &[],
            None,
        )
        .await
        .status
            == 503
    })
    .await
    .unwrap();
    let a = post(
        router_http,
        "/v2/models/m/infer",
        json_infer(&values, json!({})),
        &[],
        None,
    )
    .await;
    assert_eq!(a.status, 503);
    assert!(!a.error().is_empty());
    let a = get(router_http, "/v2/health/ready", None).await;
    assert_eq!((a.status, a.json()), (400, json!({"ready": false})));
    router.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_takes_the_grpc_tokens_and_roles() {
    let (model, bytes) = guarded_model();
    let platform = ProtectedPlatform::start(|c| c, vec![(model, bytes)])
        .await
        .unwrap();
    let features = joust_tests::security::FEATURES;
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, features],
                                  "data": vec![0.5f32; features]}]})
    .to_string()
    .into_bytes();
    let infer = format!("/v2/models/{model}/infer");
    for addr in [platform.node.http_addr, platform.router.http_addr] {
        let a = get(addr, "/v2/health/ready", None).await;
        assert_eq!(a.status, 401, "{}", a.json());
        assert!(a.error().contains("missing credentials"), "{}", a.error());
        let a = get(addr, "/v2/health/ready", Some("not-a-token-0123456789")).await;
        assert_eq!(a.status, 401);
        assert!(a.error().contains("unknown token"), "{}", a.error());
        let a = get(addr, &format!("/v2/models/{model}"), Some(READER.1)).await;
        assert_eq!(a.status, 200, "{}", a.json());
        let a = post(addr, &infer, body.clone(), &[], None).await;
        assert_eq!(a.status, 401);
        let a = post(addr, &infer, body.clone(), &[], Some(READER.1)).await;
        assert_eq!(a.status, 403, "{}", a.json());
        assert!(
            a.error().contains("ModelInfer needs role predictor"),
            "{}",
            a.error()
        );
        let a = post(addr, &infer, body.clone(), &[], Some(PREDICTOR.1)).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.json()["outputs"][0]["name"], "score");
    }
}
