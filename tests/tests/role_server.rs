//! A role assembled by `RoleServer` over real sockets: reflection (v1 and
//! v1alpha) lists exactly its services, health follows the role's flips
//! and the drain, `/metrics` answers OpenMetrics with its content type.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_proto::v1 as pb;
use joust_proto::v1::router_admin_server::{RouterAdmin, RouterAdminServer};
use joust_runtime::{Listeners, RoleConfig, RoleServer};
use joust_tests::reflection::{list_v1, list_v1alpha};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A one-service role for the test.
struct Admin;

#[tonic::async_trait]
impl RouterAdmin for Admin {
    async fn list_routes(
        &self,
        _: Request<pb::ListRoutesRequest>,
    ) -> Result<Response<pb::ListRoutesResponse>, Status> {
        Ok(Response::new(pb::ListRoutesResponse::default()))
    }

    async fn get_stats(
        &self,
        _: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::RouterStats>, Status> {
        Err(Status::failed_precondition("no stats here"))
    }

    async fn list_node_states(
        &self,
        _: Request<pb::ListNodeStatesRequest>,
    ) -> Result<Response<pb::ListNodeStatesResponse>, Status> {
        Ok(Response::new(pb::ListNodeStatesResponse::default()))
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn reflection_lists_exactly_the_role_services_and_metrics_are_openmetrics() {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (grpc_addr, metrics_addr) = (grpc.local_addr().unwrap(), metrics.local_addr().unwrap());
    let config = RoleConfig {
        drain_timeout: Duration::from_millis(200),
        ..RoleConfig::plain(1 << 20)
    };
    let server = RoleServer::new("test role", config)
        .add_serving(RouterAdminServer::new(Admin))
        .rpc_metrics("joust_test");
    let health = server.health();
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(
        Listeners::new(grpc).with_metrics(Some(metrics)),
        async {
            let _ = stop_rx.await;
        },
    ));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let expected = vec![
        "grpc.health.v1.Health".to_owned(),
        "grpc.reflection.v1.ServerReflection".to_owned(),
        "grpc.reflection.v1alpha.ServerReflection".to_owned(),
        "joust.v1.RouterAdmin".to_owned(),
    ];
    assert_eq!(list_v1(channel.clone()).await.unwrap(), expected);
    assert_eq!(list_v1alpha(channel.clone()).await.unwrap(), expected);

    // Health: the liveness service is SERVING, "" is the role's to flip.
    let mut h = HealthClient::new(channel.clone());
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let got = h
        .check(status("joust.v1.RouterAdmin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, ServingStatus::Serving as i32);
    let got = h.check(status("")).await.unwrap().into_inner();
    assert_eq!(got.status, ServingStatus::NotServing as i32);
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let got = h.check(status("")).await.unwrap().into_inner();
    assert_eq!(got.status, ServingStatus::Serving as i32);

    // One OK and one failed call, counted by code.
    let mut admin = pb::router_admin_client::RouterAdminClient::new(channel.clone());
    admin.list_routes(pb::ListRoutesRequest {}).await.unwrap();
    let e = admin.get_stats(pb::GetStatsRequest {}).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);

    let answer = http_get(metrics_addr, "/metrics").await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines().any(|l| l.eq_ignore_ascii_case(
            "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"
        )),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    assert!(
        body.contains(r#"joust_test_grpc_requests_total{service="joust.v1.RouterAdmin",method="ListRoutes",code="Ok"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_test_grpc_requests_total{service="joust.v1.RouterAdmin",method="GetStats",code="FailedPrecondition"} 1"#),
        "{body}"
    );
    assert!(
        body.contains("joust_test_grpc_request_duration_seconds_count{service=\"joust.v1.RouterAdmin\",method=\"ListRoutes\"} 1"),
        "{body}"
    );

    // Shutdown: health says NOT_SERVING during the drain; an idle client
    // does not hold the drain past its timeout.
    let mut watch = h.watch(status("")).await.unwrap().into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
    let started = std::time::Instant::now();
    stop_tx.send(()).unwrap();
    let next = watch.message().await;
    if let Ok(Some(next)) = next {
        assert_eq!(next.status, ServingStatus::NotServing as i32);
    }
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the drain is bounded")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_metrics_listener_without_metrics_is_refused() {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = RoleServer::new("bare role", RoleConfig::default())
        .add_service(RouterAdminServer::new(Admin))
        .serve(Listeners::new(grpc).with_metrics(Some(metrics)), async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("metrics-listen:"), "{e}");
}
