//! The record pipeline cannot be poisoned (issue 19): the registry stores
//! the valid records of a batch and names each refused one; the router
//! counts refused records and moves on; a registry that is away makes the
//! router drop after bounded retries (counted), and once it is back
//! records arrive again and the trial report shows what was dropped.
//! Real registries (PostgreSQL and SQLite), nodes and routers on port 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use joust_proto::v1 as pb;
use joust_proto::v1::trials_client::TrialsClient;
use joust_tests::node::{FIXTURE_FEATURES, TestNode, eventually, predict_request};
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::{TestRegistry, TestRouter};
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(30);

fn arm(version: u64, rows: usize) -> pb::TrialArmResult {
    pb::TrialArmResult {
        version,
        scores: vec![0.25; rows],
        labels: vec![false; rows],
        latency_us: 120,
        status_code: 0,
    }
}

fn record(trial_id: u64, id: &str) -> pb::ComparisonRecord {
    pb::ComparisonRecord {
        record_id: id.into(),
        trial_id,
        request_id: format!("req-{id}"),
        time: None,
        routing_key_hash: 0,
        served: pb::TrialArm::Champion as i32,
        champion: Some(arm(1, 2)),
        challenger: Some(arm(2, 2)),
    }
}

fn arm_of(r: &pb::TrialReport, a: pb::TrialArm) -> &pb::TrialArmReport {
    match a {
        pb::TrialArm::Challenger => r.challenger.as_ref().unwrap(),
        _ => r.champion.as_ref().unwrap(),
    }
}

async fn one_bad_record_among_good_ones(reg: TestRegistry) {
    two_versions(&reg.url).await.unwrap();
    let trials = TrialOps::new(&reg.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    let t = trial.id;
    // Message 1: five records, the third with 10,001 challenger rows.
    let mut first: Vec<_> = (0..5).map(|i| record(t, &format!("a{i}"))).collect();
    first[2].challenger = Some(arm(2, 10_001));
    // Message 2: a good record, one naming no serving arm, one of a trial
    // that does not exist; and three records the sender dropped.
    let mut no_arm = record(t, "b1");
    no_arm.served = 0;
    let second = vec![record(t, "b0"), no_arm, record(999, "b2")];
    let messages = vec![
        pb::RecordComparisonsRequest {
            records: first,
            dropped: vec![],
        },
        pb::RecordComparisonsRequest {
            records: second,
            dropped: vec![pb::RecordDrops {
                trial_id: t,
                arm: pb::TrialArm::Champion as i32,
                reason: "buffer_full".into(),
                count: 3,
            }],
        },
    ];
    let channel = Channel::from_shared(reg.url.clone())
        .unwrap()
        .connect_lazy();
    let mut client = TrialsClient::new(channel).max_encoding_message_size(64 << 20);
    let resp = client
        .record_comparisons(futures::stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((resp.accepted, resp.duplicates), (5, 0), "{resp:?}");
    let refused: Vec<_> = resp
        .refusals
        .iter()
        .map(|r| (r.index, r.record_id.as_str(), r.arm, r.reason.as_str()))
        .collect();
    assert_eq!(
        refused,
        vec![
            (2, "a2", pb::TrialArm::Challenger as i32, "too_many_rows"),
            (
                6,
                "b1",
                pb::TrialArm::Unspecified as i32,
                "invalid_served_arm"
            ),
            (7, "b2", pb::TrialArm::Champion as i32, "unknown_trial"),
        ]
    );
    assert_eq!(
        resp.refusals[0].message,
        "records[2].challenger: expected at most 10000 rows, got 10001"
    );
    assert!(
        resp.refusals[1]
            .message
            .starts_with("records[6].served: expected"),
        "{:?}",
        resp.refusals[1]
    );

    // The good records are stored, the bad one not even in part; the
    // report counts the refusals and the drops per arm.
    let report = trials.report(t).await.unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.paired_rows, 10, "2 rows each, nothing of a2");
    let (c, ch) = (
        arm_of(&report, pb::TrialArm::Champion),
        arm_of(&report, pb::TrialArm::Challenger),
    );
    assert_eq!((c.refused, c.dropped), (0, 3));
    assert_eq!((ch.refused, ch.dropped), (1, 0));
    // The record without an arm counts for the trial, on no arm; the one
    // of an unknown trial has no trial to count against.
    assert_eq!((report.refused, report.dropped), (2, 3));
    let losses: Vec<_> = report
        .losses
        .iter()
        .map(|l| (l.arm, l.kind.as_str(), l.reason.as_str(), l.count))
        .collect();
    assert_eq!(
        losses,
        vec![
            (0, "refused", "invalid_served_arm", 1),
            (
                pb::TrialArm::Challenger as i32,
                "refused",
                "too_many_rows",
                1
            ),
            (pb::TrialArm::Champion as i32, "dropped", "buffer_full", 3),
        ]
    );

    // A drop report with a bad reason is refused as a whole, naming it.
    let bad = pb::RecordComparisonsRequest {
        records: vec![record(t, "c0")],
        dropped: vec![pb::RecordDrops {
            trial_id: t,
            arm: 0,
            reason: "Not Snake".into(),
            count: 1,
        }],
    };
    let err = client
        .record_comparisons(futures::stream::iter(vec![bad]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().starts_with("dropped[0].reason: expected"),
        "{}",
        err.message()
    );
    assert_eq!(trials.report(t).await.unwrap().records, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_bad_record_is_refused_and_named_and_the_others_stored() {
    one_bad_record_among_good_ones(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_bad_record_is_refused_and_named_and_the_others_stored() {
    one_bad_record_among_good_ones(TestRegistry::postgres().await.unwrap()).await;
}

/// `n` native requests of `rows` rows through `router`; all must succeed.
async fn drive(router: &TestRouter, n: usize, rows: usize) {
    let client = router.native();
    let failed = futures::stream::iter(0..n)
        .map(|i| {
            let mut c = client.clone();
            async move {
                let mut req = predict_request("m", FIXTURE_FEATURES, rows);
                req.request_id = format!("r-{i}");
                c.predict(req).await.is_err()
            }
        })
        .buffer_unordered(8)
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
    assert_eq!(failed, 0, "predictions failed");
}

/// The value of a metric line `name{labels} value` (0 when absent).
fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_is_counted_by_the_router_and_the_flow_continues() {
    let reg = TestRegistry::postgres().await.unwrap();
    two_versions(&reg.url).await.unwrap();
    let trials = TrialOps::new(&reg.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    // A node configured above the registry's 10,000 rows per arm: its
    // answer to 12,000 rows yields a record the registry refuses.
    let mut config = TestNode::config(&reg.url, &["m:1", "m:2"]);
    config.max_rows = 12_000;
    let node = TestNode::start_ready(config).await.unwrap();
    let router = TestRouter::start_ready(TestRouter::config(&reg.url, &[node.addr]))
        .await
        .unwrap();
    drive(&router, 20, 3).await;
    drive(&router, 1, 12_000).await;
    eventually(WAIT, || async {
        router.stats().await.unwrap().records_refused == 1
    })
    .await
    .unwrap();
    // Not retried; later records keep arriving.
    drive(&router, 30, 2).await;
    eventually(WAIT, || async {
        trials.report(trial.id).await.unwrap().records == 50
    })
    .await
    .unwrap();
    let stats = router.stats().await.unwrap();
    assert_eq!(
        (
            stats.records_sent,
            stats.records_refused,
            stats.records_dropped
        ),
        (50, 1, 0)
    );
    let text = router.metrics_text().await.unwrap();
    assert_eq!(
        metric(
            &text,
            "joust_router_records_refused_total{reason=\"too_many_rows\"}"
        ),
        1.0,
        "{text}"
    );
    let report = trials.report(trial.id).await.unwrap();
    assert_eq!(report.refused, stats.records_refused);
    // The champion's result is checked first: the refusal is its arm's.
    assert_eq!(arm_of(&report, pb::TrialArm::Champion).refused, 1);
    router.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_registry_makes_the_router_drop_after_bounded_retries_then_recover() {
    let mut reg = TestRegistry::postgres().await.unwrap();
    two_versions(&reg.url).await.unwrap();
    let trials = TrialOps::new(&reg.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    let node = TestNode::start_ready(TestNode::config(&reg.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let mut config = TestRouter::config(&reg.url, &[node.addr]);
    config.record_retries = 2;
    let router = TestRouter::start_ready(config).await.unwrap();
    drive(&router, 20, 2).await;
    eventually(WAIT, || async {
        router.stats().await.unwrap().records_sent == 20
    })
    .await
    .unwrap();

    // The registry goes away: predictions go on; after two retries each
    // batch is dropped and counted, nothing waits in the buffer.
    reg.stop().await;
    const DURING: u64 = 30;
    drive(&router, DURING as usize, 2).await;
    eventually(WAIT, || async {
        let s = router.stats().await.unwrap();
        s.records_dropped == DURING && s.records_buffered == 0
    })
    .await
    .unwrap();
    let text = router.metrics_text().await.unwrap();
    assert_eq!(
        metric(
            &text,
            "joust_router_records_dropped_total{reason=\"registry_unreachable\"}"
        ),
        DURING as f64,
        "{text}"
    );

    // Back: new records arrive, and with them the dropped counts.
    reg.restart().await.unwrap();
    drive(&router, 10, 2).await;
    eventually(WAIT, || async {
        trials
            .report(trial.id)
            .await
            .is_ok_and(|r| r.records == 30 && r.dropped == DURING)
    })
    .await
    .unwrap();
    let report = trials.report(trial.id).await.unwrap();
    // Shadow: the champion served every dropped request.
    assert_eq!(arm_of(&report, pb::TrialArm::Champion).dropped, DURING);
    assert_eq!(arm_of(&report, pb::TrialArm::Challenger).dropped, 0);
    let stats = router.stats().await.unwrap();
    assert_eq!(
        (
            stats.records_sent,
            stats.records_dropped,
            stats.records_refused
        ),
        (30, DURING, 0)
    );
    router.stop().await.unwrap();
}
