//! Scale-out as the helm chart runs it, with local servers: several
//! registry replicas on one PostgreSQL database (changes fan out over
//! LISTEN/NOTIFY), nodes following whichever replica they reach, and
//! several routers whose comparison records all count in a trial report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use joust_models::ModelKind;
use joust_proto::v1 as pb;
use joust_tests::node::{
    FIXTURE_FEATURES, RegistryOps, TestNode, artifact, eventually, predict_request,
};
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::{TestRegistry, TestRouter};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const F: usize = 3;

/// Registry replica B: another server on A's database and blob store.
struct Replica {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<joust_registry::Result<()>>,
}

impl Replica {
    async fn of(a: &TestRegistry) -> Self {
        let (listener, registry) = a.replica().await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(joust_registry::run(
            listener,
            registry,
            joust_runtime::RoleConfig::plain(8 << 20),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            url: format!("http://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

async fn serving_version(node: &TestNode) -> Option<u64> {
    let mut c = node.native().await;
    c.predict(predict_request("m", F, 1))
        .await
        .ok()
        .map(|r| r.into_inner().version)
}

/// Waits until `node` serves version `want`; prints how long it took (a
/// figure for the docs, not an assertion).
async fn wait_version(node: &TestNode, want: u64) {
    let took = eventually(Duration::from_secs(15), || async {
        serving_version(node).await == Some(want)
    })
    .await
    .unwrap_or_else(|e| panic!("node never served v{want}: {e}"));
    eprintln!("node {} serves v{want} after {took:?}", node.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promotion_through_registry_a_reaches_a_node_following_registry_b() {
    let a = TestRegistry::postgres().await.unwrap();
    let b = Replica::of(&a).await;
    let ops_a = RegistryOps::new(&a.url);
    let ops_b = RegistryOps::new(&b.url);

    // v1 registered and promoted through A; the node only knows B, and
    // downloads the artifact A stored from B.
    ops_a
        .register(
            "m",
            "isolation_forest",
            artifact(ModelKind::IsolationForest, F, 1),
        )
        .await
        .unwrap();
    ops_a.promote("m:1").await.unwrap();
    let node = TestNode::start_ready(TestNode::config(&b.url, &["m@champion"]))
        .await
        .unwrap();
    assert_eq!(serving_version(&node).await, Some(1));

    // A promotion through A reaches the node through B's Watch stream.
    ops_a
        .register("m", "noop", artifact(ModelKind::Noop, F, 2))
        .await
        .unwrap();
    ops_a.promote("m:2").await.unwrap();
    wait_version(&node, 2).await;

    // And the other way round: a rollback through B, with a second node on A.
    let node_a = TestNode::start_ready(TestNode::config(&a.url, &["m@champion"]))
        .await
        .unwrap();
    assert_eq!(serving_version(&node_a).await, Some(2));
    ops_b.rollback("m").await.unwrap();
    wait_version(&node, 1).await;
    wait_version(&node_a, 1).await;

    node.stop().await.unwrap();
    node_a.stop().await.unwrap();
    b.stop().await;
}

/// `n` native requests through `router`, request ids prefixed by `tag`;
/// every answer comes from the champion (shadow mode).
async fn shadowed(router: &TestRouter, tag: &str, n: usize) {
    let client = router.native();
    let answers: Vec<pb::PredictResponse> = futures::stream::iter(0..n)
        .map(|i| {
            let mut c = client.clone();
            let id = format!("{tag}-{i}");
            async move {
                let mut req = predict_request("m", FIXTURE_FEATURES, 1);
                req.request_id = id;
                c.predict(req).await.unwrap().into_inner()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for a in answers {
        assert_eq!((a.arm.as_str(), a.version), ("champion", 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trial_report_counts_the_records_of_every_router_replica() {
    // Two registries on one database, two nodes (one per registry), two
    // routers (one per registry), each over both nodes: the chart's shape.
    let a = TestRegistry::postgres().await.unwrap();
    let b = Replica::of(&a).await;
    two_versions(&a.url).await.unwrap();
    let trial = TrialOps::new(&a.url)
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    let node_a = TestNode::start_ready(TestNode::config(&a.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let node_b = TestNode::start_ready(TestNode::config(&b.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let nodes = [node_a.addr, node_b.addr];
    let router_a = TestRouter::start_ready(TestRouter::config(&a.url, &nodes))
        .await
        .unwrap();
    let router_b = TestRouter::start_ready(TestRouter::config(&b.url, &nodes))
        .await
        .unwrap();

    shadowed(&router_a, "a", 120).await;
    shadowed(&router_b, "b", 80).await;
    for (router, n) in [(&router_a, 120), (&router_b, 80)] {
        eventually(Duration::from_secs(20), || async {
            router.stats().await.unwrap().records_sent >= n
        })
        .await
        .unwrap();
        let stats = router.stats().await.unwrap();
        assert_eq!((stats.records_sent, stats.records_dropped), (n, 0));
    }
    router_a.stop().await.unwrap();
    router_b.stop().await.unwrap();

    // The report, read through either replica, counts both routers' records.
    for url in [&a.url, &b.url] {
        let report = TrialOps::new(url).report(trial.id).await.unwrap();
        assert_eq!(report.records, 200, "report through {url}");
        let (c, ch) = (report.champion.unwrap(), report.challenger.unwrap());
        assert_eq!((c.version, c.requests, c.errors), (1, 200, 0));
        assert_eq!((ch.version, ch.requests, ch.errors), (2, 200, 0));
    }
    node_a.stop().await.unwrap();
    node_b.stop().await.unwrap();
    b.stop().await;
}
