//! Every role is served by joust-runtime's `RoleServer`, over real
//! sockets: gRPC reflection (v1 and v1alpha) lists exactly the services
//! that role serves, and `/metrics` answers OpenMetrics text with the
//! OpenMetrics content type — registry, serving node, router, detection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_runtime::{Listeners, RoleConfig};
use joust_tests::detect::{Backend, TestDetect};
use joust_tests::node::TestNode;
use joust_tests::reflection::{expected, list_v1, list_v1alpha};
use joust_tests::registry::TestRegistry;
use joust_tests::router::TestRouter;
use tokio::net::TcpListener;

const OPENMETRICS: &str =
    "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn assert_lists(url: &str, role_services: &[&str]) {
    let want = expected(role_services);
    assert_eq!(list_v1(channel(url).await).await.unwrap(), want, "{url} v1");
    assert_eq!(
        list_v1alpha(channel(url).await).await.unwrap(),
        want,
        "{url} v1alpha"
    );
}

/// `GET /metrics`: OpenMetrics content type, body ending in `# EOF`,
/// containing `needle`.
async fn assert_openmetrics(addr: std::net::SocketAddr, needle: &str) {
    let answer = joust_tests::scrape_metrics(addr).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.lines().any(|l| l.eq_ignore_ascii_case(OPENMETRICS)),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    assert!(body.contains(needle), "{needle} in {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_lists_only_its_own_services_and_serves_openmetrics() {
    let registry = TestRegistry::sqlite().await.unwrap();
    assert_lists(&registry.url, &["joust.v1.Registry", "joust.v1.Trials"]).await;

    let node = TestNode::start(TestNode::config(&registry.url, &["m@champion"]))
        .await
        .unwrap();
    assert_lists(
        &node.url,
        &[
            "inference.GRPCInferenceService",
            "joust.v1.Inference",
            "joust.v1.ServingAdmin",
        ],
    )
    .await;
    assert_openmetrics(node.metrics_addr, "joust_node_").await;

    let router = TestRouter::start(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    assert_lists(
        &router.url,
        &[
            "inference.GRPCInferenceService",
            "joust.v1.Inference",
            "joust.v1.RouterAdmin",
        ],
    )
    .await;
    assert_openmetrics(router.metrics_addr, "joust_router_").await;

    let detect = TestDetect::start(Backend::Sqlite, &router.url, &registry.url)
        .await
        .unwrap();
    assert_lists(&detect.url, &["joust.v1.Detection"]).await;
    detect.stop().await.unwrap();
    router.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_and_detection_metrics_count_each_rpc() {
    // The registry with a /metrics listener (the harness has none).
    let dir = tempfile::tempdir().unwrap();
    let config = joust_registry::RegistryConfig {
        database_url: format!("sqlite://{}/r.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    };
    let registry = joust_registry::server::open(&config).await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, metrics_addr) = (
        format!("http://{}", grpc.local_addr().unwrap()),
        metrics.local_addr().unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(joust_registry::run(
        Listeners::new(grpc).with_metrics(Some(metrics)),
        registry,
        RoleConfig::plain(8 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    let mut client = joust_proto::v1::registry_client::RegistryClient::new(channel(&url).await);
    client
        .list_models(joust_proto::v1::ListModelsRequest::default())
        .await
        .unwrap();
    let e = client
        .get_version(joust_proto::v1::GetVersionRequest {
            r#ref: "nope@champion".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert_openmetrics(
        metrics_addr,
        r#"joust_registry_grpc_requests_total{service="joust.v1.Registry",method="ListModels",code="Ok"} 1"#,
    )
    .await;
    assert_openmetrics(
        metrics_addr,
        r#"joust_registry_grpc_requests_total{service="joust.v1.Registry",method="GetVersion",code="NotFound"} 1"#,
    )
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // Detection, likewise.
    let dir = tempfile::tempdir().unwrap();
    let detect_config = joust_detect::DetectConfig {
        database_url: format!("sqlite://{}/detect.db", dir.path().display()),
        registry_url: None,
        evidence: None,
        ..joust_detect::DetectConfig::default()
    };
    let detector = joust_detect::server::open(&detect_config).await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, metrics_addr) = (
        format!("http://{}", grpc.local_addr().unwrap()),
        metrics.local_addr().unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(joust_detect::server::serve(
        Listeners::new(grpc).with_metrics(Some(metrics)),
        detector,
        RoleConfig::plain(8 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    assert_lists(&url, &["joust.v1.Detection"]).await;
    let mut client = joust_proto::v1::detection_client::DetectionClient::new(channel(&url).await);
    client
        .list_rules(joust_proto::v1::ListRulesRequest::default())
        .await
        .unwrap();
    assert_openmetrics(
        metrics_addr,
        r#"joust_detect_grpc_requests_total{service="joust.v1.Detection",method="ListRules",code="Ok"} 1"#,
    )
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
