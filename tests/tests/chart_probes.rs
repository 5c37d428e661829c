//! The grpc.health.v1 services the helm chart's liveness and readiness
//! probes ask for (helm/joust/values.yaml `*.probes`) answer as the chart
//! expects: the registry is alive (`grpc.health.v1.Health`, process-only:
//! SERVING while the process answers, whatever its database) and ready
//! under `joust.v1.Registry` (it follows the database:
//! tests/tests/registry_health.rs); a node is alive
//! (`joust.v1.ServingAdmin`) before it has anything loaded and ready
//! (`""`) only once every ref it follows has a version; a router is alive
//! (`joust.v1.RouterAdmin`) before it has read its routes and ready (`""`)
//! after.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_models::ModelKind;
use joust_tests::node::{RegistryOps, TestNode, artifact, eventually};
use joust_tests::{TestRegistry, TestRouter};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn status(url: &str, service: &str) -> Result<ServingStatus, tonic::Status> {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
    let r = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(r.into_inner().status())
}

#[tokio::test]
async fn registry_probes_answer_serving() {
    let registry = TestRegistry::sqlite().await.unwrap();
    for service in ["", "joust.v1.Registry", "grpc.health.v1.Health"] {
        assert_eq!(
            status(&registry.url, service).await.unwrap(),
            ServingStatus::Serving,
            "registry health {service:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_alive_before_it_is_ready_and_ready_once_its_ref_is_loaded() {
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, 3, 1),
    )
    .await
    .unwrap();
    // No champion yet: the node cannot load `m@champion`.
    let node = TestNode::start(TestNode::config(&registry.url, &["m@champion"]))
        .await
        .unwrap();
    assert_eq!(
        status(&node.url, "joust.v1.ServingAdmin").await.unwrap(),
        ServingStatus::Serving,
        "liveness: the process answers"
    );
    assert_eq!(
        status(&node.url, "").await.unwrap(),
        ServingStatus::NotServing,
        "readiness: nothing loaded yet"
    );

    ops.promote("m:1").await.unwrap();
    node.wait_serving("", Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(
        status(&node.url, "joust.v1.ServingAdmin").await.unwrap(),
        ServingStatus::Serving
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_is_alive_before_it_has_routes_and_ready_after() {
    let mut registry = TestRegistry::sqlite().await.unwrap();
    let node = TestNode::start(TestNode::config(&registry.url, &["m@champion"]))
        .await
        .unwrap();
    // The registry is down: the router cannot read its routes.
    registry.stop().await;
    let router = TestRouter::start(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    assert_eq!(
        status(&router.url, "joust.v1.RouterAdmin").await.unwrap(),
        ServingStatus::Serving,
        "liveness: the process answers"
    );
    assert_eq!(
        status(&router.url, "").await.unwrap(),
        ServingStatus::NotServing,
        "readiness: no routes yet"
    );

    registry.restart().await.unwrap();
    eventually(Duration::from_secs(15), || async {
        status(&router.url, "").await.ok() == Some(ServingStatus::Serving)
    })
    .await
    .unwrap();
    router.stop().await.unwrap();
}
