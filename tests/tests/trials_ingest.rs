//! Comparison records land in PostgreSQL through `RecordComparisons` at
//! the ingest target (W10: ≥ 50k records/s in release builds; the debug
//! test checks correctness and prints the rate).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use joust_client::pb;
use joust_models::ModelKind;
use joust_proto::v1::trials_client::TrialsClient;
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, artifact};
use sqlx::Connection;
use tonic::transport::Channel;

const RECORDS: usize = 50_000;
const BATCH: usize = 5_000;

fn record(trial: u64, i: usize) -> pb::ComparisonRecord {
    let arm = |version, score: f64| pb::TrialArmResult {
        version,
        scores: vec![score],
        labels: vec![score > 0.9],
        latency_us: 150 + (i % 100) as u64,
        status_code: 0,
    };
    let s = (i % 1000) as f64 / 1000.0;
    pb::ComparisonRecord {
        record_id: format!("rec-{i}"),
        trial_id: trial,
        request_id: format!("req-{i}"),
        time: None,
        routing_key_hash: i as u64,
        served: pb::TrialArm::Champion as i32,
        champion: Some(arm(1, s)),
        challenger: Some(arm(2, (s + 0.01).min(1.0))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_records_land_in_postgres() {
    let reg = TestRegistry::postgres().await.unwrap();
    let ops = RegistryOps::new(&reg.url);
    for seed in 1..=2 {
        ops.register("m", "noop", artifact(ModelKind::Noop, 3, seed))
            .await
            .unwrap();
    }
    ops.promote("m:1").await.unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    let channel = Channel::from_shared(reg.url.clone())
        .unwrap()
        .connect_lazy();
    let mut t = TrialsClient::new(channel).max_encoding_message_size(64 << 20);
    let trial = t
        .start_trial(pb::StartTrialRequest {
            model: "m".into(),
            challenger_version: 2,
            mode: pb::TrialMode::Shadow as i32,
            sampling: 1.0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let batches: Vec<pb::RecordComparisonsRequest> = (0..RECORDS / BATCH)
        .map(|b| pb::RecordComparisonsRequest {
            records: (b * BATCH..(b + 1) * BATCH)
                .map(|i| record(trial.id, i))
                .collect(),
            dropped: vec![],
        })
        .collect();
    let started = Instant::now();
    let resp = t
        .record_comparisons(futures::stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let elapsed = started.elapsed();
    assert_eq!(resp.accepted, RECORDS as u64);
    println!(
        "ingested {RECORDS} records in {elapsed:?}: {:.0} records/s",
        RECORDS as f64 / elapsed.as_secs_f64()
    );

    let db = reg.db.as_ref().unwrap();
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trial_records WHERE trial_id = $1")
        .bind(i64::try_from(trial.id).unwrap())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, RECORDS as i64);

    let rep = t
        .get_trial_report(pb::GetTrialReportRequest {
            id: trial.id,
            model: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rep.records, RECORDS as u64);
    assert_eq!(rep.paired_rows, RECORDS as u64);
}
