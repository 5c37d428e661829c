//! Failover through a real router: two nodes, one cut off (every
//! connection dropped, nothing accepted) under load → at most 0.1% of
//! requests fail, the node is ejected, and it rejoins once it answers.
//! And the fault drill: a `joust serve` process killed (SIGKILL) under
//! load → no request fails (the router retries on the other node).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use joust_tests::node::{FIXTURE_FEATURES, Partition, TestNode, eventually, predict_request};
use joust_tests::process::JoustProcess;
use joust_tests::router::two_versions;
use joust_tests::{TestRegistry, TestRouter};

const REQUESTS: usize = 4000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lost_under_load_fails_at_most_a_thousandth_of_requests() {
    let registry = TestRegistry::sqlite().await.unwrap();
    two_versions(&registry.url).await.unwrap();
    let a = TestNode::start_ready(TestNode::config(&registry.url, &["m:1"]))
        .await
        .unwrap();
    let b = TestNode::start_ready(TestNode::config(&registry.url, &["m:1"]))
        .await
        .unwrap();
    let b_proxy = Partition::start(b.addr).await.unwrap();
    let router =
        TestRouter::start_ready(TestRouter::config(&registry.url, &[a.addr, b_proxy.addr]))
            .await
            .unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let client = router.native();
    let load = {
        let (done, failed) = (done.clone(), failed.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..REQUESTS)
                .for_each_concurrent(16, |_| {
                    let mut c = client.clone();
                    let (done, failed) = (done.clone(), failed.clone());
                    async move {
                        if let Err(s) = c.predict(predict_request("m", FIXTURE_FEATURES, 1)).await {
                            eprintln!("failed: {s:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
        })
    };
    eventually(Duration::from_secs(60), || async {
        done.load(Ordering::Relaxed) >= REQUESTS / 4
    })
    .await
    .unwrap();
    b_proxy.cut();
    load.await.unwrap();
    let failed = failed.load(Ordering::Relaxed);
    assert!(
        failed * 1000 <= REQUESTS,
        "{failed} of {REQUESTS} requests failed"
    );
    assert_taken_out(&router, b_proxy.addr).await;
    let text = router.metrics_text().await.unwrap();
    assert!(text.contains("joust_router_node_ejections_total"), "{text}");

    // Healed, the node gets traffic again once its ejection ends.
    b_proxy.heal().await.unwrap();
    eventually(Duration::from_secs(20), || async {
        let _ = router
            .native()
            .predict(predict_request("m", FIXTURE_FEATURES, 1))
            .await;
        router
            .stats()
            .await
            .unwrap()
            .nodes
            .iter()
            .all(|n| !n.ejected && n.consecutive_failures == 0)
    })
    .await
    .unwrap();
    router.stop().await.unwrap();
}

fn spawn_node(registry_url: &str) -> JoustProcess {
    JoustProcess::spawn(
        &[
            "serve",
            "--registry",
            registry_url,
            "--model",
            "m:1",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
        ],
        "joust serve listening on",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_process_killed_under_load_fails_no_request() {
    let registry = TestRegistry::sqlite().await.unwrap();
    two_versions(&registry.url).await.unwrap();
    let a = spawn_node(&registry.url);
    let mut b = spawn_node(&registry.url);
    for node in [&a, &b] {
        node.wait_serving(Duration::from_secs(60)).await.unwrap();
    }
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[a.addr, b.addr]))
        .await
        .unwrap();
    // Both nodes answer through the router before the drill starts.
    eventually(Duration::from_secs(60), || async {
        let ok = router
            .native()
            .predict(predict_request("m", FIXTURE_FEATURES, 1))
            .await
            .is_ok();
        let stats = router.stats().await.unwrap();
        ok && stats
            .nodes
            .iter()
            .all(|n| n.consecutive_failures == 0 && !n.ejected)
    })
    .await
    .unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let client = router.native();
    let load = {
        let (done, failed) = (done.clone(), failed.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..REQUESTS)
                .for_each_concurrent(16, |_| {
                    let mut c = client.clone();
                    let (done, failed) = (done.clone(), failed.clone());
                    async move {
                        if let Err(s) = c.predict(predict_request("m", FIXTURE_FEATURES, 1)).await {
                            eprintln!("failed: {s:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
        })
    };
    eventually(Duration::from_secs(60), || async {
        done.load(Ordering::Relaxed) >= REQUESTS / 4
    })
    .await
    .unwrap();
    b.kill().unwrap();
    let killed_at = done.load(Ordering::Relaxed);
    load.await.unwrap();
    assert!(killed_at < REQUESTS, "the kill happened under load");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed");
    assert_taken_out(&router, b.addr).await;
    router.stop().await.unwrap();
}

/// The lost node is out of the pool by one of the router's two ways:
/// ejected after a failed call, or marked down when its serving-state
/// stream broke (which can come first, and then no call fails on it).
async fn assert_taken_out(router: &TestRouter, addr: std::net::SocketAddr) {
    let stats = router.stats().await.unwrap();
    let lost = stats
        .nodes
        .iter()
        .find(|n| n.address == addr.to_string())
        .unwrap();
    let states = router
        .admin()
        .list_node_states(joust_proto::v1::ListNodeStatesRequest {})
        .await
        .unwrap()
        .into_inner();
    let state = states
        .nodes
        .iter()
        .find(|n| n.address == addr.to_string())
        .unwrap();
    assert!(
        lost.ejections >= 1 || state.stream == "down",
        "{lost:?} {state:?}"
    );
}
