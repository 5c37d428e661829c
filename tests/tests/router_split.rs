//! Split mode through a real router, node and registry (SQLite): the
//! challenger share of 10,000 keyed requests, stickiness of keys, raising
//! the weight moving keys only toward the challenger, records reaching the
//! trial report, pins, NOT_FOUND for unknown models, bad input forwarded
//! unchanged, and the route following a promotion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use joust_proto::inference::InferParameter;
use joust_proto::inference::infer_parameter::ParameterChoice;
use joust_proto::v1 as pb;
use joust_tests::node::{FIXTURE_FEATURES, TestNode, eventually, infer_request, predict_request};
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::{TestRegistry, TestRouter};
use tonic::Code;

const KEYS: usize = 10_000;

/// Sends one keyed request per key of `keys`; returns key → (arm, version).
async fn arms(router: &TestRouter, keys: Vec<String>) -> HashMap<String, (String, u64)> {
    let client = router.native();
    futures::stream::iter(keys)
        .map(|key| {
            let mut c = client.clone();
            async move {
                let mut req = predict_request("m", FIXTURE_FEATURES, 1);
                req.routing_key = key.clone();
                let resp = c.predict(req).await.unwrap();
                let header = resp
                    .metadata()
                    .get("x-joust-arm")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let r = resp.into_inner();
                assert_eq!(header, r.arm);
                (key, (r.arm, r.version))
            }
        })
        .buffer_unordered(32)
        .collect()
        .await
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("customer-{i}")).collect()
}

fn challenger_share(a: &HashMap<String, (String, u64)>) -> usize {
    a.values().filter(|(arm, _)| arm == "challenger").count()
}

/// |k − n·p| within 4.5 binomial standard deviations.
fn assert_binomial(k: usize, n: usize, p: f64) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (k as f64 - mean).abs() < 4.5 * sd,
        "{k} of {n} at p = {p} (expected {mean} ± {})",
        4.5 * sd
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_is_sticky_weighted_recorded_and_follows_promotion() {
    let registry = TestRegistry::sqlite().await.unwrap();
    let _ops = two_versions(&registry.url).await.unwrap();
    let trials = TrialOps::new(&registry.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Split, 0.2, 0.0)
        .await
        .unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();
    let route = router.route("m").await.unwrap();
    assert_eq!(
        (
            route.champion_version,
            route.trial_id,
            route.mode.as_str(),
            route.challenger_version
        ),
        (1, trial.id, "split", 2)
    );

    // 10k keys at w = 0.2; every answer's version matches its arm.
    let first = arms(&router, keys(KEYS)).await;
    assert_binomial(challenger_share(&first), KEYS, 0.2);
    for (arm, version) in first.values() {
        assert_eq!(*version, if arm == "challenger" { 2 } else { 1 });
    }
    // A key always gets the same arm (native field, metadata, OIP param).
    let again = arms(&router, keys(300)).await;
    for (k, v) in &again {
        assert_eq!(&first[k], v, "{k} changed arm");
    }
    let mut oip = router.oip();
    for i in 0..100 {
        let key = format!("customer-{i}");
        let mut req = infer_request(vec![1, 3], "FP32", vec![0.1, 0.2, 0.3]);
        req.parameters.insert(
            "routing_key".into(),
            InferParameter {
                parameter_choice: Some(ParameterChoice::StringParam(key.clone())),
            },
        );
        let resp = oip.model_infer(req).await.unwrap();
        let arm = resp
            .metadata()
            .get("x-joust-arm")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let version = resp
            .metadata()
            .get("x-joust-model-version")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(arm, first[&key].0);
        assert_eq!(version, first[&key].1.to_string());
        assert_eq!(resp.into_inner().model_version, version);
        let mut req = predict_request("m", FIXTURE_FEATURES, 1);
        let mut r = tonic::Request::new({
            req.request_id = format!("md-{i}");
            req
        });
        r.metadata_mut()
            .insert("x-joust-routing-key", key.parse().unwrap());
        let resp = router.native().predict(r).await.unwrap().into_inner();
        assert_eq!(resp.arm, first[&key].0);
    }

    // Raising w to 0.5 moves keys only from champion to challenger.
    trials.set_weight("m", 0.5).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        router.route("m").await.is_some_and(|r| r.weight == 0.5)
    })
    .await
    .unwrap();
    // Every challenger key stays; of 2000 champion keys, a share
    // (0.5 − 0.2)/(1 − 0.2) moves to the challenger.
    let challenger_keys: Vec<String> = first
        .iter()
        .filter(|(_, (arm, _))| arm == "challenger")
        .map(|(k, _)| k.clone())
        .collect();
    let champion_keys: Vec<String> = keys(KEYS)
        .into_iter()
        .filter(|k| first[k].0 == "champion")
        .take(2000)
        .collect();
    let stayed = arms(&router, challenger_keys.clone()).await;
    let back = stayed.values().filter(|(arm, _)| arm == "champion").count();
    assert_eq!(back, 0, "keys moved from challenger back to champion");
    let moved = challenger_share(&arms(&router, champion_keys).await);
    assert_binomial(moved, 2000, 0.3 / 0.8);

    // Debug pins, unknown models, bad input forwarded unchanged.
    let mut pinned = tonic::Request::new(predict_request("m", FIXTURE_FEATURES, 1));
    pinned
        .metadata_mut()
        .insert("x-joust-arm", "challenger".parse().unwrap());
    let r = router.native().predict(pinned).await.unwrap().into_inner();
    assert_eq!((r.arm.as_str(), r.version), ("challenger", 2));
    let mut bad_pin = tonic::Request::new(predict_request("m", FIXTURE_FEATURES, 1));
    bad_pin
        .metadata_mut()
        .insert("x-joust-arm", "both".parse().unwrap());
    let e = router.native().predict(bad_pin).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("x-joust-arm"), "{}", e.message());
    let mut version_pinned = predict_request("m", FIXTURE_FEATURES, 1);
    version_pinned.version = 2;
    let r = router
        .native()
        .predict(version_pinned)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.arm.as_str(), r.version), ("", 2));
    let e = router
        .native()
        .predict(predict_request("ghost", FIXTURE_FEATURES, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("\"ghost\""), "{}", e.message());
    let direct = node
        .native()
        .await
        .predict({
            let mut r = predict_request("m", 2, 1);
            r.version = 1;
            r
        })
        .await
        .unwrap_err();
    let via_router = router
        .native()
        .predict(predict_request("m", 2, 1))
        .await
        .unwrap_err();
    assert_eq!(via_router.code(), Code::InvalidArgument);
    assert_eq!(via_router.message(), direct.message());
    let e = router
        .oip()
        .model_infer(infer_request(vec![1, 3], "FP64", vec![0.1, 0.2, 0.3]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("inputs[0].datatype"),
        "{}",
        e.message()
    );

    // Records: one per split request (keyed, unpinned), all in the report.
    let stats = router.stats().await.unwrap();
    assert_eq!(stats.records_dropped, 0);
    let recorded = (KEYS + 300 + 200 + challenger_keys.len() + 2000) as u64;
    eventually(Duration::from_secs(20), || async {
        router.stats().await.unwrap().records_sent >= recorded
    })
    .await
    .unwrap();
    let report = trials.report(trial.id).await.unwrap();
    // + the bad-input request at w = 0.5 (recorded with its error code).
    assert!(
        report.records >= recorded,
        "{} < {recorded}",
        report.records
    );
    let c = report.champion.unwrap();
    let ch = report.challenger.unwrap();
    assert_eq!(c.requests + ch.requests, report.records);
    assert_eq!((c.version, ch.version), (1, 2));

    // Promotion: the router follows StopTrial(promote).
    trials.stop("m", pb::TrialOutcome::Promote).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        router
            .route("m")
            .await
            .is_some_and(|r| r.champion_version == 2 && r.trial_id == 0)
    })
    .await
    .unwrap();
    let r = router
        .native()
        .predict(predict_request("m", FIXTURE_FEATURES, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.arm.as_str(), r.version), ("champion", 2));
    let metrics = router.metrics_text().await.unwrap();
    assert!(
        metrics.contains("joust_router_requests_total{model=\"m\",arm=\"challenger\"}"),
        "{metrics}"
    );
    router.stop().await.unwrap();
}
