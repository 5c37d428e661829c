//! Shadow mode through a real router and nodes, registry on PostgreSQL:
//! the client only ever sees the champion; a failing challenger never
//! fails a client request; records hold both arms and reach the trial
//! report from PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use joust_proto::v1 as pb;
use joust_tests::node::{FIXTURE_FEATURES, TestNode, eventually, predict_request};
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::{TestRegistry, TestRouter};

/// `n` native requests (a few rows each); every answer must come from the
/// champion (v1).
async fn champion_only(router: &TestRouter, n: usize) {
    let client = router.native();
    let results: Vec<pb::PredictResponse> = futures::stream::iter(0..n)
        .map(|i| {
            let mut c = client.clone();
            async move {
                let mut req = predict_request("m", FIXTURE_FEATURES, 1 + i % 4);
                req.request_id = format!("r-{i}");
                c.predict(req).await.unwrap().into_inner()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        assert_eq!((r.arm.as_str(), r.version), ("champion", 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_answers_from_the_champion_and_records_both_arms_in_postgres() {
    let registry = TestRegistry::postgres().await.unwrap();
    two_versions(&registry.url).await.unwrap();
    let trials = TrialOps::new(&registry.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();

    // A node serving both versions: every request is shadowed.
    let both = TestNode::start_ready(TestNode::config(&registry.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[both.addr]))
        .await
        .unwrap();
    champion_only(&router, 400).await;
    eventually(Duration::from_secs(20), || async {
        router.stats().await.unwrap().records_sent >= 400
    })
    .await
    .unwrap();
    let stats = router.stats().await.unwrap();
    assert_eq!((stats.records_sent, stats.records_dropped), (400, 0));
    let shadow = stats.arms.iter().find(|a| a.arm == "shadow").unwrap();
    assert_eq!((shadow.requests, shadow.errors), (400, 0));
    router.stop().await.unwrap();

    let report = trials.report(trial.id).await.unwrap();
    assert_eq!(report.records, 400);
    let (c, ch) = (report.champion.unwrap(), report.challenger.unwrap());
    assert_eq!((c.version, c.requests, c.errors), (1, 400, 0));
    assert_eq!((ch.version, ch.requests, ch.errors), (2, 400, 0));
    // 1..=4 rows per request, both arms answered every one.
    assert_eq!(report.paired_rows, 100 * (1 + 2 + 3 + 4));

    // A node without the challenger: the router sends a version only where
    // it is ready, so it makes no shadow copy (none would succeed) and
    // answers every request from the champion; nothing is recorded.
    let champion_only_node = TestNode::start_ready(TestNode::config(&registry.url, &["m:1"]))
        .await
        .unwrap();
    let router = TestRouter::start_ready(TestRouter::config(
        &registry.url,
        &[champion_only_node.addr],
    ))
    .await
    .unwrap();
    champion_only(&router, 200).await;
    let stats = router.stats().await.unwrap();
    let copies = stats
        .arms
        .iter()
        .find(|a| a.arm == "shadow")
        .map_or(0, |a| a.requests);
    assert_eq!(
        (copies, stats.records_sent, stats.records_dropped),
        (0, 0, 0)
    );
    router.stop().await.unwrap();
    let report = trials.report(trial.id).await.unwrap();
    assert_eq!(report.records, 400);

    // Sampling 0.25: about a quarter of requests are copied.
    trials
        .client
        .update(pb::UpdateTrialRequest {
            model: "m".into(),
            mode: pb::TrialMode::Shadow as i32,
            weight: None,
            sampling: Some(0.25),
            gates: None,
            reason: "test".into(),
        })
        .await
        .unwrap();
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[both.addr]))
        .await
        .unwrap();
    assert_eq!(router.route("m").await.unwrap().sampling, 0.25);
    champion_only(&router, 1000).await;
    let shadow = router
        .stats()
        .await
        .unwrap()
        .arms
        .into_iter()
        .find(|a| a.arm == "shadow")
        .map_or(0, |a| a.requests);
    // mean 250, sd √(1000·0.25·0.75) ≈ 13.7; 4.5 sd.
    assert!((shadow as f64 - 250.0).abs() < 62.0, "{shadow} copies");
    router.stop().await.unwrap();
}
