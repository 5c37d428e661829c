//! OpenTelemetry end to end: `joust serve --otlp-endpoint` as a process,
//! a real OTLP/gRPC collector (the opentelemetry-proto TraceService) on a
//! free port, and a Predict carrying a W3C `traceparent`. The collector
//! must receive the RPC's span in the caller's trace, parented on the
//! caller's span, with the RPC attributes, and the scoring span under it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use joust_models::ModelKind;
use joust_proto::v1::inference_client::InferenceClient;
use joust_tests::node::{FIXTURE_FEATURES, RegistryOps, artifact, eventually, predict_request};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

/// Every span received, with its resource's `service.name`.
#[derive(Debug, Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| attr(&r.attributes, "service.name"))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv
            .value
            .as_ref()
            .and_then(|v: &AnyValue| v.value.as_ref())?
        {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

async fn start_collector() -> (String, Collector) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (format!("http://{addr}"), collector)
}

/// `joust ROLE_ARGS… --otlp-endpoint otlp` as a process (killed on drop);
/// the address from its first stdout line (`… listening on ADDR`).
async fn start_role(role_args: &[&str], otlp: &str) -> (tokio::process::Child, String) {
    let bin = joust_tests::joust_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p joust`",
        bin.display()
    );
    let mut child = tokio::process::Command::new(bin)
        .args(role_args)
        .args(["--otlp-endpoint", otlp])
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(
        line.contains("listening on"),
        "unexpected first line {line:?}"
    );
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    (child, format!("http://{addr}"))
}

/// `joust serve` on port 0 following `m@champion`, exporting to `otlp`.
async fn start_node(registry: &str, otlp: &str) -> (tokio::process::Child, String) {
    start_role(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
            "--registry",
            registry,
            "--model",
            "m@champion",
        ],
        otlp,
    )
    .await
}

/// `joust route` on port 0 in front of `node`, exporting to `otlp`.
async fn start_router(registry: &str, node: &str, otlp: &str) -> (tokio::process::Child, String) {
    start_role(
        &[
            "route",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
            "--registry",
            registry,
            "--nodes",
            node.trim_start_matches("http://"),
        ],
        otlp,
    )
    .await
}

async fn wait_serving(url: &str) {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
    let mut health = HealthClient::new(channel);
    let wait = async {
        let mut stream = health
            .watch(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(msg) = stream.message().await.unwrap() {
            if msg.status == ServingStatus::Serving as i32 {
                return;
            }
        }
        panic!("health stream ended");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("node not SERVING");
}

#[tokio::test]
async fn a_predict_with_traceparent_is_exported_as_a_child_span() {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    let (otlp, collector) = start_collector().await;
    let (_node, url) = start_node(&registry.url, &otlp).await;
    wait_serving(&url).await;

    let channel = Channel::from_shared(url.clone()).unwrap().connect_lazy();
    let mut client = InferenceClient::new(channel);
    let mut request = tonic::Request::new(predict_request("m", FIXTURE_FEATURES, 3));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    let response = client.predict(request).await.unwrap().into_inner();
    assert_eq!(response.scores.len(), 3);

    let trace_id = hex::decode(TRACE_ID).unwrap();
    let parent_id = hex::decode(PARENT_ID).unwrap();
    let find_rpc = || {
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| s.trace_id == trace_id && s.name == "joust.v1.Inference/Predict")
            .cloned()
    };
    eventually(Duration::from_secs(30), || async { find_rpc().is_some() })
        .await
        .expect("the collector never received the Predict span");
    let (service, rpc) = find_rpc().unwrap();
    assert_eq!(service, "joust-node");
    assert_eq!(
        rpc.parent_span_id, parent_id,
        "parented on the caller's span"
    );
    assert_eq!(attr(&rpc.attributes, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attr(&rpc.attributes, "rpc.service").as_deref(),
        Some("joust.v1.Inference")
    );
    assert_eq!(
        attr(&rpc.attributes, "rpc.method").as_deref(),
        Some("Predict")
    );
    assert_eq!(
        attr(&rpc.attributes, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );

    // The scoring span is a child of the RPC span, with model and version.
    let find_score = || {
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| s.trace_id == trace_id && s.name == "score")
            .map(|(_, s)| s.clone())
    };
    eventually(Duration::from_secs(30), || async { find_score().is_some() })
        .await
        .expect("no scoring span");
    let score = find_score().unwrap();
    assert_eq!(score.parent_span_id.len(), 8);
    let mut ancestor = score.parent_span_id.clone();
    let spans = collector.spans.lock().unwrap().clone();
    // Walk up through the handler span to the RPC span.
    while ancestor != rpc.span_id {
        let parent = spans
            .iter()
            .find(|(_, s)| s.span_id == ancestor)
            .unwrap_or_else(|| panic!("score span's ancestor {ancestor:?} not exported"));
        ancestor = parent.1.parent_span_id.clone();
        assert!(!ancestor.is_empty(), "score span is not under the RPC span");
    }
    assert_eq!(attr(&score.attributes, "model").as_deref(), Some("m"));
    assert_eq!(attr(&score.attributes, "version").as_deref(), Some("1"));
}

#[tokio::test]
async fn a_failed_rpc_records_its_grpc_status() {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let (otlp, collector) = start_collector().await;
    // No model at all: the node serves, every Predict is NOT_FOUND.
    let (_node, url) = start_node(&registry.url, &otlp).await;
    let channel = Channel::from_shared(url.clone()).unwrap().connect_lazy();
    let mut client = InferenceClient::new(channel);
    let mut request = tonic::Request::new(predict_request("absent", FIXTURE_FEATURES, 1));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    let status = client.predict(request).await.unwrap_err();
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let find = || {
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| s.trace_id == trace_id && s.name == "joust.v1.Inference/Predict")
            .map(|(_, s)| s.clone())
    };
    eventually(Duration::from_secs(30), || async { find().is_some() })
        .await
        .expect("the collector never received the failed Predict span");
    let span = find().unwrap();
    assert_eq!(
        attr(&span.attributes, "rpc.grpc.status_code"),
        Some((status.code() as i32).to_string())
    );
    // OTLP status code 2 = ERROR.
    assert_eq!(span.status.map(|s| s.code), Some(2));
}

#[tokio::test]
async fn the_trace_continues_from_router_to_node() {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    let (otlp, collector) = start_collector().await;
    let (_node, node_url) = start_node(&registry.url, &otlp).await;
    wait_serving(&node_url).await;
    let (_router, router_url) = start_router(&registry.url, &node_url, &otlp).await;

    let channel = Channel::from_shared(router_url).unwrap().connect_lazy();
    let mut client = InferenceClient::new(channel);
    // The router learns the route from the registry: retry until it answers.
    eventually(Duration::from_secs(30), || {
        let mut client = client.clone();
        async move {
            let mut request = tonic::Request::new(predict_request("m", FIXTURE_FEATURES, 2));
            request.metadata_mut().insert(
                "traceparent",
                format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
            );
            client.predict(request).await.is_ok()
        }
    })
    .await
    .expect("the router never answered");
    let mut request = tonic::Request::new(predict_request("m", FIXTURE_FEATURES, 2));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    client.predict(request).await.unwrap();

    let trace_id = hex::decode(TRACE_ID).unwrap();
    let parent_id = hex::decode(PARENT_ID).unwrap();
    // A node Predict span whose parent is a router span (the router's
    // handler span, under its Predict RPC span) in the caller's trace,
    // the router's RPC span being the caller's child: client → router →
    // node, one trace.
    let chained = || {
        let spans = collector.spans.lock().unwrap();
        let router_rpc_ancestor = |mut id: Vec<u8>| {
            for _ in 0..8 {
                let Some((_, span)) = spans.iter().find(|(svc, s)| {
                    svc == "joust-router" && s.trace_id == trace_id && s.span_id == id
                }) else {
                    return false;
                };
                if span.name == "joust.v1.Inference/Predict" {
                    return span.parent_span_id == parent_id;
                }
                id = span.parent_span_id.clone();
            }
            false
        };
        spans.iter().any(|(service, node_span)| {
            service == "joust-node"
                && node_span.trace_id == trace_id
                && node_span.name == "joust.v1.Inference/Predict"
                && router_rpc_ancestor(node_span.parent_span_id.clone())
        })
    };
    let ok = eventually(Duration::from_secs(30), || async { chained() }).await;
    if ok.is_err() {
        let spans = collector.spans.lock().unwrap();
        let seen: Vec<_> = spans
            .iter()
            .map(|(svc, s)| {
                (
                    svc.clone(),
                    s.name.clone(),
                    hex::encode(&s.span_id),
                    hex::encode(&s.parent_span_id),
                )
            })
            .collect();
        panic!("no router span parenting a node span in the caller's trace; spans: {seen:?}");
    }
}

/// The OIP REST API continues the caller's trace too: a REST infer with a
/// `traceparent` header is exported as a child span named for its route,
/// and the node's scoring span is in the same trace.
#[tokio::test]
async fn a_rest_infer_with_traceparent_is_exported_as_a_child_span() {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    let (otlp, collector) = start_collector().await;
    let bin = joust_tests::joust_bin();
    let mut child = tokio::process::Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ])
        .args(["--http-listen", "127.0.0.1:0", "--registry", &registry.url])
        .args(["--model", "m@champion", "--otlp-endpoint", &otlp])
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = async |prefix: &'static str| {
        let line = lines.next_line().await.unwrap().unwrap_or_default();
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .trim()
            .to_owned()
    };
    let grpc = address("joust serve listening on ").await;
    let http = address("joust serve http on ").await;
    wait_serving(&format!("http://{grpc}")).await;

    let trace_id_text = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_text = "00f067aa0ba902b7";
    let body = serde_json::json!({"inputs": [{"name": "input", "datatype": "FP32",
        "shape": [2, FIXTURE_FEATURES], "data": vec![0.5f32; 2 * FIXTURE_FEATURES]}]});
    let resp = reqwest::Client::new()
        .post(format!("http://{http}/v2/models/m/infer"))
        .header(
            "traceparent",
            format!("00-{trace_id_text}-{parent_text}-01"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let trace_id = hex::decode(trace_id_text).unwrap();
    let spans = || {
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.trace_id == trace_id)
            .map(|(_, s)| s.clone())
            .collect::<Vec<_>>()
    };
    let named = |name: &str| spans().into_iter().find(|s| s.name == name);
    eventually(Duration::from_secs(30), || async {
        named("POST /v2/models/{name}/infer").is_some() && named("score").is_some()
    })
    .await
    .expect("the collector never received the REST span and the scoring span");
    let rest = named("POST /v2/models/{name}/infer").unwrap();
    assert_eq!(rest.parent_span_id, hex::decode(parent_text).unwrap());
    assert_eq!(
        attr(&rest.attributes, "rpc.method").as_deref(),
        Some("ModelInfer")
    );
    assert_eq!(
        attr(&rest.attributes, "http.route").as_deref(),
        Some("/v2/models/{name}/infer")
    );
}
