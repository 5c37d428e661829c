//! Registry health follows its database: on a private PostgreSQL cluster
//! (never the shared server), `grpc.health.v1` answers `NOT_SERVING` for
//! the registry, the trials service and the server as a whole while
//! PostgreSQL is stopped, and `SERVING` again once it answers. The
//! liveness entry (`grpc.health.v1.Health`, what the helm chart's liveness
//! probe asks for) stays `SERVING` throughout: an outage of the database
//! must not make the kubelet restart registry pods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use joust_registry::RegistryConfig;
use joust_tests::TestRegistry;
use joust_tests::node::eventually;
use joust_tests::pg_cluster::PrivatePostgres;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SERVICES: [&str; 3] = ["", "joust.v1.Registry", "joust.v1.Trials"];
const LIVENESS: &str = "grpc.health.v1.Health";

async fn status(url: &str, service: &str) -> ServingStatus {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .unwrap()
        .connect_lazy();
    let r = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    ServingStatus::try_from(r.status).unwrap()
}

async fn statuses(url: &str) -> Vec<ServingStatus> {
    let mut out = Vec::new();
    for service in SERVICES {
        out.push(status(url, service).await);
    }
    out
}

async fn all(url: &str, want: ServingStatus) -> bool {
    statuses(url).await.iter().all(|s| *s == want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_health_follows_a_stopped_private_postgres() {
    let Some(pg) = PrivatePostgres::start_or_skip().await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = RegistryConfig {
        database_url: pg.url.clone(),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    };
    let registry = TestRegistry::start(config, dir, None, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = registry.url.clone();
    assert_eq!(statuses(&url).await, [ServingStatus::Serving; 3]);
    assert_eq!(status(&url, LIVENESS).await, ServingStatus::Serving);

    for round in 1..=2 {
        pg.stop().await.unwrap();
        let stopped = Instant::now();
        eventually(Duration::from_secs(10), || {
            all(&url, ServingStatus::NotServing)
        })
        .await
        .unwrap();
        eprintln!(
            "round {round}: NOT_SERVING {:?} after the stop",
            stopped.elapsed()
        );
        // Health itself keeps answering while the database is down.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(statuses(&url).await, [ServingStatus::NotServing; 3]);
        assert_eq!(
            status(&url, LIVENESS).await,
            ServingStatus::Serving,
            "liveness is process-only: the database being down restarts nothing"
        );

        pg.resume().await.unwrap();
        let resumed = Instant::now();
        eventually(Duration::from_secs(30), || {
            all(&url, ServingStatus::Serving)
        })
        .await
        .unwrap();
        eprintln!(
            "round {round}: SERVING {:?} after the restart",
            resumed.elapsed()
        );
    }
    // And the registry works again.
    let ops = joust_tests::node::RegistryOps::new(&url);
    ops.register("m", "opaque", b"after the outage".to_vec())
        .await
        .unwrap();
}
