//! Trials across frameworks (issue 20): a scikit-learn IsolationForest
//! exported to ONNX is the champion, joust's own isolation forest trained
//! on the same rows is the challenger. Through a real router and node
//! (registry on PostgreSQL): in shadow mode every client answer comes from
//! the ONNX champion and the report pairs both arms row by row; in split
//! mode both arms answer clients and both reach the report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_models::{Model, ModelKind, TrainConfig};
use joust_proto::v1 as pb;
use joust_tests::node::{RegistryOps, TestNode, eventually};
use joust_tests::onnx::{FEATURES, generate, read_f32};
use joust_tests::router::TrialOps;
use joust_tests::{TestRegistry, TestRouter};
use ndarray::Array2;

/// `n` native requests of `1 + i % 4` rows each from `rows`; returns the
/// arms that answered.
async fn send(router: &TestRouter, rows: &[f32], n: usize) -> Vec<(String, u64)> {
    let mut c = router.native();
    let mut arms = Vec::new();
    for i in 0..n {
        let k = 1 + i % 4;
        let start = (i * 4 * FEATURES) % (rows.len() - 4 * FEATURES);
        let values = &rows[start..start + k * FEATURES];
        let mut req = joust_client::inference::native_request("m", FEATURES, values);
        req.request_id = format!("r-{i}");
        req.routing_key = format!("user-{i}");
        let r = c.predict(req).await.unwrap().into_inner();
        assert_eq!(r.scores.len(), k);
        arms.push((r.arm, r.version));
    }
    arms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onnx_champion_and_a_joust_challenger_pair_in_shadow_and_split() {
    let Some(g) = generate() else { return };
    let registry = TestRegistry::postgres().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    // v1: scikit-learn's IsolationForest, as ONNX.
    let onnx = std::fs::read(g.path.join("iforest.onnx")).unwrap();
    ops.register("m", "onnx", onnx).await.unwrap();
    // v2: joust's isolation forest on the same training rows and names.
    let train = read_f32(&g.path.join("iforest_train.f32"));
    let x = Array2::from_shape_vec((train.len() / FEATURES, FEATURES), train).unwrap();
    let native = Model::train(
        &TrainConfig::new(ModelKind::IsolationForest).with_param("n_trees", 100),
        (0..FEATURES).map(|i| format!("x{i}")).collect(),
        x.view(),
    )
    .unwrap();
    ops.register("m", "isolation_forest", native.to_bytes().unwrap())
        .await
        .unwrap();
    ops.promote("m:1").await.unwrap();
    ops.force_evaluated("m:2").await.unwrap();

    let trials = TrialOps::new(&registry.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    for arm in send(&router, &g.rows, 200).await {
        assert_eq!(
            arm,
            ("champion".to_owned(), 1),
            "shadow answers from the ONNX champion"
        );
    }
    eventually(Duration::from_secs(20), || async {
        router.stats().await.unwrap().records_sent >= 200
    })
    .await
    .unwrap();
    let report = trials.report(trial.id).await.unwrap();
    let (c, ch) = (report.champion.unwrap(), report.challenger.unwrap());
    assert_eq!((c.version, c.requests, c.errors), (1, 200, 0));
    assert_eq!((ch.version, ch.requests, ch.errors), (2, 200, 0));
    assert_eq!(report.paired_rows, 50 * (1 + 2 + 3 + 4));
    let agreement = report.agreement.as_ref().map(|a| a.estimate);
    println!(
        "shadow: {} records, {} paired rows, agreement {agreement:?}, mean |score diff| {:?}, anomaly rates {:.4} (onnx) vs {:.4} (joust)",
        report.records,
        report.paired_rows,
        report.mean_abs_score_diff,
        c.anomaly_rate.as_ref().map_or(f64::NAN, |a| a.estimate),
        ch.anomaly_rate.as_ref().map_or(f64::NAN, |a| a.estimate)
    );

    // Split: half the routing keys go to the joust challenger.
    trials.set_weight("m", 0.5).await.unwrap();
    // Routers pick the new weight up from the registry's Watch.
    let mut split = Vec::new();
    for _ in 0..50 {
        split = send(&router, &g.rows, 100).await;
        if split.iter().any(|(a, _)| a == "challenger") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(split.iter().any(|(_, v)| *v == 1) && split.iter().any(|(_, v)| *v == 2));
    router.stop().await.unwrap();
    let report = trials.report(trial.id).await.unwrap();
    let (c, ch) = (report.champion.unwrap(), report.challenger.unwrap());
    assert!(report.records > 200, "split records reach the report");
    assert_eq!((c.errors, ch.errors), (0, 0));
    println!(
        "split: {} records, champion (onnx) {} requests, challenger (joust) {} requests",
        report.records, c.requests, ch.requests
    );
    node.stop().await.unwrap();
}
