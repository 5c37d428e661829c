//! The Open Inference Protocol methods joust does not serve (Triton's
//! `ModelConfig`, `ModelStatistics`, `RepositoryIndex`, shared memory, …)
//! on a real node and a real router over sockets: every one answers
//! UNIMPLEMENTED with a message naming the method and what to use
//! instead; the served methods still answer; the Triton REST paths answer
//! 404 with a KServe `{"error"}` body saying the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use http::uri::PathAndQuery;
use joust_tests::TestRouter;
use joust_tests::node::champion_fixture;
use tonic::transport::Channel;
use tonic_prost::ProstCodec;

/// Every unserved method Triton's gRPC client calls, and a phrase its
/// message must hold (the thing to use instead).
const UNSERVED: &[(&str, &str)] = &[
    ("ModelConfig", "use ModelMetadata"),
    ("ModelStatistics", "/metrics (Prometheus"),
    ("RepositoryIndex", "joust.v1.ServingAdmin/ListLoaded"),
    ("RepositoryModelLoad", "joust.v1.ServingAdmin/Reload"),
    ("RepositoryModelUnload", "joust.v1.ServingAdmin/Unload"),
    ("ModelStreamInfer", "unary ModelInfer"),
    (
        "SystemSharedMemoryStatus",
        "send the tensors in the request",
    ),
    (
        "SystemSharedMemoryRegister",
        "send the tensors in the request",
    ),
    (
        "SystemSharedMemoryUnregister",
        "send the tensors in the request",
    ),
    ("CudaSharedMemoryStatus", "send the tensors in the request"),
    (
        "CudaSharedMemoryRegister",
        "send the tensors in the request",
    ),
    (
        "CudaSharedMemoryUnregister",
        "send the tensors in the request",
    ),
    ("TraceSetting", "--otlp-endpoint"),
    ("LogSettings", "JOUST_LOG"),
    // Not even Triton's: the list of what is served.
    (
        "NoSuchMethod",
        "served: ServerLive, ServerReady, ModelReady",
    ),
];

/// Calls `path` on `addr` with an empty message (every Triton request
/// decodes from one) and returns the status.
async fn call(addr: SocketAddr, path: &str) -> tonic::Status {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = PathAndQuery::try_from(path.to_owned()).unwrap();
    grpc.unary::<(), (), _>(
        tonic::Request::new(()),
        path,
        ProstCodec::<(), ()>::default(),
    )
    .await
    .expect_err("an unserved method must not answer OK")
}

async fn check_grpc(addr: SocketAddr, role: &str) {
    for (method, says) in UNSERVED {
        let path = format!("/inference.GRPCInferenceService/{method}");
        let status = call(addr, &path).await;
        assert_eq!(
            status.code(),
            tonic::Code::Unimplemented,
            "{role} {path}: {status:?}"
        );
        let message = status.message();
        assert!(
            message.starts_with(&format!("inference.GRPCInferenceService/{method}: ")),
            "{role} {path}: {message:?}"
        );
        assert!(message.contains(says), "{role} {path}: {message:?}");
    }
    // A served method still reaches the service: ServerLive answers
    // (decoding the empty message as its empty request).
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary::<(), (), _>(
        tonic::Request::new(()),
        PathAndQuery::from_static("/inference.GRPCInferenceService/ServerLive"),
        ProstCodec::<(), ()>::default(),
    )
    .await
    .unwrap_or_else(|s| panic!("{role} ServerLive: {s:?}"));
}

async fn check_rest(addr: SocketAddr, role: &str) {
    let client = reqwest::Client::new();
    for (method, path, says) in [
        ("GET", "/v2/models/m/config", "use ModelMetadata"),
        ("GET", "/v2/models/m/versions/1/config", "use ModelMetadata"),
        ("GET", "/v2/models/m/stats", "/metrics (Prometheus"),
        ("POST", "/v2/repository/index", "ServingAdmin/ListLoaded"),
        (
            "POST",
            "/v2/repository/models/m/load",
            "ServingAdmin/Reload",
        ),
        (
            "POST",
            "/v2/repository/models/m/unload",
            "ServingAdmin/Unload",
        ),
        ("GET", "/v2/systemsharedmemory/status", "send the tensors"),
        (
            "POST",
            "/v2/cudasharedmemory/region/r/register",
            "send the tensors",
        ),
        ("GET", "/v2/trace/setting", "--otlp-endpoint"),
        ("GET", "/v2/logging", "JOUST_LOG"),
        (
            "POST",
            "/v2/models/m/generate",
            "POST /v2/models/NAME/infer",
        ),
    ] {
        let url = format!("http://{addr}{path}");
        let request = match method {
            "GET" => client.get(url),
            _ => client.post(url).body("{}"),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 404, "{role} {method} {path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(&format!("{path}: not served by joust; ")),
            "{role} {method} {path}: {body}"
        );
        assert!(error.contains(says), "{role} {method} {path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_router_say_what_to_use_instead_of_unserved_oip_methods() {
    let (registry, _ops, node) = champion_fixture(|c| c).await;
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();

    check_grpc(node.addr, "node").await;
    check_grpc(router.addr, "router").await;
    check_rest(node.http_addr, "node").await;
    check_rest(router.http_addr, "router").await;

    // A role that does not serve the OIP service keeps tonic's answer.
    let status = call(registry.addr, "/inference.GRPCInferenceService/ModelConfig").await;
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    assert!(
        !status.message().contains("ModelMetadata"),
        "{:?}",
        status.message()
    );
}

fn tritonclient_installed() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import tritonclient.grpc, tritonclient.http"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What Triton's own clients see: `tritonclient.grpc` and
/// `tritonclient.http` (tests/python/oip_unserved_tritonclient.py) raise
/// `InferenceServerException` with UNIMPLEMENTED / 404 and the advice.
/// `scripts/test` installs `tritonclient[grpc,http]`; without it the test
/// fails under `JOUST_TEST_REQUIRE_ALL=1` and is skipped otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_sees_what_to_use_instead() {
    if !tritonclient_installed() {
        assert!(
            !joust_tests::require_all(),
            "tritonclient is missing: python3 -m pip install 'tritonclient[grpc,http]' (scripts/test does)"
        );
        eprintln!("skipped: tritonclient is not installed");
        return;
    }
    let (registry, _ops, node) = champion_fixture(|c| c).await;
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    let spec = serde_json::json!({
        "targets": [
            {"grpc": node.addr.to_string(), "http": node.http_addr.to_string(), "name": "node"},
            {"grpc": router.addr.to_string(), "http": router.http_addr.to_string(), "name": "router"},
        ],
        "model": "m",
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python/oip_unserved_tritonclient.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
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
        stdout.contains("ok: node") && stdout.contains("ok: router"),
        "{stdout}"
    );
}
