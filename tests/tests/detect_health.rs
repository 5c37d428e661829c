//! Health that checks (issue 18, item 6), with real processes: a
//! `joust serve` node and a `joust route` router in front of it, and a
//! `joust detect serve` process scoring through the router on SQLite or
//! PostgreSQL. The detection service's health entries follow its
//! dependencies: `joust.detect.scoring` (and `""`, `joust.v1.Detection`)
//! turn NOT_SERVING when the router is stopped, or the node behind it, and
//! SERVING again when they return on the same address;
//! `joust.detect.database` turns NOT_SERVING while the PostgreSQL
//! connection is cut; the liveness entry (`grpc.health.v1.Health`) stays
//! SERVING throughout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use joust_tests::detect::{Backend, MODEL, market_model};
use joust_tests::node::{Partition, RegistryOps, eventually};
use joust_tests::process::JoustProcess;
use joust_tests::{TestDatabase, TestRegistry};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const WAIT: Duration = Duration::from_secs(45);
const DATABASE: &str = "joust.detect.database";
const OBJECT_STORE: &str = "joust.detect.object_store";
const SCORING: &str = "joust.detect.scoring";
const READINESS: [&str; 2] = ["", "joust.v1.Detection"];
const LIVENESS: &str = "grpc.health.v1.Health";

fn spawn_node(registry: &str, listen: &str) -> JoustProcess {
    JoustProcess::spawn(
        &[
            "serve",
            "--registry",
            registry,
            "--model",
            &format!("{MODEL}@champion"),
            "--listen",
            listen,
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
        ],
        "joust serve listening on",
    )
    .unwrap()
}

fn spawn_router(registry: &str, node: SocketAddr, listen: &str) -> JoustProcess {
    JoustProcess::spawn(
        &[
            "route",
            "--listen",
            listen,
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
            "--registry",
            registry,
            "--nodes",
            &node.to_string(),
        ],
        "joust router listening on",
    )
    .unwrap()
}

async fn status(health: &HealthClient<Channel>, service: &str) -> Option<ServingStatus> {
    let r = health
        .clone()
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    Some(r.into_inner().status())
}

/// Waits until every service in `services` answers `want`.
async fn wait_for(
    health: &HealthClient<Channel>,
    services: &[&str],
    want: ServingStatus,
    what: &str,
) {
    let took = eventually(WAIT, || async {
        for s in services {
            if status(health, s).await != Some(want) {
                return false;
            }
        }
        true
    })
    .await;
    let mut now = Vec::new();
    for s in services {
        now.push((s.to_string(), status(health, s).await));
    }
    let took =
        took.unwrap_or_else(|e| panic!("{what}: {services:?} not {want:?} ({e}); now {now:?}"));
    eprintln!("{what}: {services:?} {want:?} after {took:?}");
}

async fn assert_status(health: &HealthClient<Channel>, services: &[&str], want: ServingStatus) {
    for s in services {
        assert_eq!(status(health, s).await, Some(want), "health {s:?}");
    }
}

async fn health_follows_dependencies(backend: Backend) {
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(MODEL, "isolation_forest", market_model(7))
        .await
        .unwrap();
    ops.promote(&format!("{MODEL}:1")).await.unwrap();

    let mut node = spawn_node(&registry.url, "127.0.0.1:0");
    let node_addr = node.addr;
    let mut router = spawn_router(&registry.url, node_addr, "127.0.0.1:0");
    let router_addr = router.addr;

    let dir = tempfile::tempdir().unwrap();
    // PostgreSQL is reached through a forwarder the test can cut.
    let (database_url, _db, partition) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}/detect.db", dir.path().display()),
            None,
            None,
        ),
        Backend::Postgres => {
            let db = TestDatabase::create().await.unwrap();
            let rest = db.url.split_once("://").unwrap().1;
            let (user, rest) = rest.split_once('@').unwrap();
            let (host, name) = rest.split_once('/').unwrap();
            let target: SocketAddr = tokio::net::lookup_host(host).await.unwrap().next().unwrap();
            let partition = Partition::start(target).await.unwrap();
            (
                format!("postgres://{user}@{}/{name}", partition.addr),
                Some(db),
                Some(partition),
            )
        }
    };
    let evidence = format!("file://{}/evidence", dir.path().display());
    let detect = JoustProcess::spawn(
        &[
            "detect",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--router",
            &format!("http://{router_addr}"),
            "--registry",
            &registry.url,
            "--model",
            MODEL,
            "--evidence-store",
            &evidence,
            "--health-interval-ms",
            "200",
            "--health-timeout-ms",
            "500",
        ],
        "joust detect listening on",
    )
    .unwrap();
    let channel = Channel::from_shared(detect.url.clone())
        .unwrap()
        .connect_lazy();
    let health = HealthClient::new(channel);
    let everything = [
        READINESS[0],
        READINESS[1],
        DATABASE,
        OBJECT_STORE,
        SCORING,
        LIVENESS,
    ];

    wait_for(&health, &everything, ServingStatus::Serving, "start").await;

    // The router stops: scoring, and so readiness, fail; the rest stay up.
    router.kill().unwrap();
    wait_for(
        &health,
        &[SCORING, READINESS[0], READINESS[1]],
        ServingStatus::NotServing,
        "router stopped",
    )
    .await;
    assert_status(
        &health,
        &[DATABASE, OBJECT_STORE, LIVENESS],
        ServingStatus::Serving,
    )
    .await;

    // It returns on the same address: SERVING again.
    router = spawn_router(&registry.url, node_addr, &router_addr.to_string());
    wait_for(&health, &everything, ServingStatus::Serving, "router back").await;

    // The node behind the router stops: the router answers that the model
    // is not ready (or fails the call): NOT_SERVING; back with the node.
    node.kill().unwrap();
    wait_for(
        &health,
        &[SCORING, READINESS[0], READINESS[1]],
        ServingStatus::NotServing,
        "node stopped",
    )
    .await;
    assert_status(&health, &[DATABASE, LIVENESS], ServingStatus::Serving).await;
    node = spawn_node(&registry.url, &node_addr.to_string());
    wait_for(&health, &everything, ServingStatus::Serving, "node back").await;

    if let Some(partition) = &partition {
        // The database connection is cut: database and readiness fail,
        // scoring stays up, liveness too.
        partition.cut();
        wait_for(
            &health,
            &[DATABASE, READINESS[0], READINESS[1]],
            ServingStatus::NotServing,
            "database cut",
        )
        .await;
        assert_status(
            &health,
            &[SCORING, OBJECT_STORE, LIVENESS],
            ServingStatus::Serving,
        )
        .await;
        partition.heal().await.unwrap();
        wait_for(
            &health,
            &everything,
            ServingStatus::Serving,
            "database back",
        )
        .await;
    }
    drop(detect);
    drop((router, node));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_health_follows_router_and_node() {
    health_follows_dependencies(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_health_follows_router_node_and_database() {
    health_follows_dependencies(Backend::Postgres).await;
}
