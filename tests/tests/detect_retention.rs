//! Retention (issue 18, item 3), on SQLite and PostgreSQL, scoring through
//! a real serving node: a run 31 days old that stored anomalies is removed
//! by the periodic purge of a service restarted on the same database (run
//! retention 30 days, whatever the run found) while its anomalies stay
//! readable, listed by their run, with the copy of the run's trigger, start
//! and evidence; a run stuck `in_progress` past the stale timeout is closed
//! as failed while a recent one is left; runs list their anomaly ids; the
//! anomaly retention deletes anomalies on its own cutoff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_detect::domain::Trigger;
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, MODEL, ScoringStack, TestDetect};
use joust_tests::node::eventually;

const DAY_MS: i64 = 86_400_000;

async fn anomalies_of_run(d: &TestDetect, run_id: u64) -> Vec<pb::Anomaly> {
    d.client()
        .list_anomalies(pb::ListAnomaliesRequest {
            run_id,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .anomalies
}

async fn retention(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let now = joust_detect::domain::now_ms();
    let old = now - 31 * DAY_MS;
    // A service whose clock reads 31 days ago: its run completes then.
    let mut d1 = TestDetect::start_with(backend, &stack.node.url, &stack.registry.url, |c| {
        c.clock = joust_detect::Clock::Fixed(old);
    })
    .await
    .unwrap();
    let mut c = d1.client();
    c.ingest_synthetic(pb::IngestSyntheticRequest {
        interval: "1d".into(),
        tickers: 2,
        rows: 300,
        seed: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let found = c
        .detect(pb::DetectRequest {
            ticker: "SYN000".into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let run = found.run.unwrap();
    assert_eq!(run.completed_at_ms, old);
    assert!(!found.anomalies.is_empty(), "the run stored anomalies");
    assert!(!run.evidence_uri.is_empty());
    let ids: Vec<u64> = found.anomalies.iter().map(|a| a.id).collect();
    // Runs list their anomaly ids (Detect, GetRun, ListRuns).
    assert_eq!(run.anomaly_ids, ids);
    let got = c
        .get_run(pb::GetRunRequest { id: run.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.anomaly_ids, ids);
    let listed = c
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.runs[0].anomaly_ids, ids);
    // A second run (of the other ticker) has its own anomalies: the run
    // filter separates them.
    let other = c
        .detect(pb::DetectRequest {
            ticker: "SYN001".into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let by_run = anomalies_of_run(&d1, run.id).await;
    assert_eq!(by_run.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    assert!(by_run.iter().all(|a| a.ticker == "SYN000"));
    let other_ids: Vec<u64> = other.anomalies.iter().map(|a| a.id).collect();
    assert_eq!(
        anomalies_of_run(&d1, other.run.as_ref().unwrap().id)
            .await
            .iter()
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        other_ids
    );

    // Runs left in progress by a process that went away: one 2 hours old
    // (stale after the default hour), one a minute old.
    let url = d1.config.database_url.clone();
    let store = joust_detect::store::open(&url).await.unwrap();
    let stale = store
        .start_run(Trigger::Api, "SYN001", "1d", MODEL, now - 2 * 3_600_000)
        .await
        .unwrap();
    let recent = store
        .start_run(Trigger::Api, "SYN001", "1d", MODEL, now - 60_000)
        .await
        .unwrap();
    drop(store);

    // The service restarts on the same database with the system clock: its
    // first retention purge (at start-up) removes the 31-day-old runs.
    let db = d1.db.take();
    let dir = std::mem::replace(&mut d1.dir, tempfile::tempdir().unwrap());
    d1.stop().await.unwrap();
    let mut d2 = TestDetect::start_with(backend, &stack.node.url, &stack.registry.url, |c| {
        c.database_url = url.clone();
    })
    .await
    .unwrap();
    let mut c = d2.client();
    eventually(Duration::from_secs(20), || {
        let mut c = c.clone();
        async move {
            c.get_run(pb::GetRunRequest { id: run.id })
                .await
                .is_err_and(|e| e.code() == tonic::Code::NotFound)
        }
    })
    .await
    .expect("the 31-day-old run that had anomalies is purged");
    let e = c
        .get_run(pb::GetRunRequest { id: run.id })
        .await
        .unwrap_err();
    assert!(e.message().contains("run_id"), "{e:?}");
    let e = c
        .get_run(pb::GetRunRequest {
            id: other.run.as_ref().unwrap().id,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);

    // Its anomalies remain readable, by run, with the run's copy.
    let kept = anomalies_of_run(&d2, run.id).await;
    assert_eq!(kept.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    for (k, a) in kept.iter().zip(&found.anomalies) {
        assert_eq!(k.run_id, run.id);
        assert_eq!(k.run_trigger, pb::Trigger::Api as i32);
        assert_eq!(k.run_started_at_ms, old);
        assert_eq!(k.evidence_uri, run.evidence_uri);
        assert_eq!(
            (k.timestamp, k.score, k.label),
            (a.timestamp, a.score, a.label)
        );
        assert_eq!(k.model_version, a.model_version);
        assert_eq!(k.model_sha256, stack.sha256);
        assert_eq!(k.features, a.features);
        assert_eq!(k.types, a.types);
    }
    // The stale run is closed as failed; the recent one is left.
    let s = c
        .get_run(pb::GetRunRequest {
            id: stale.id as u64,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status, pb::RunStatus::Failed as i32);
    assert!(s.error.starts_with("stale:"), "{}", s.error);
    let r = c
        .get_run(pb::GetRunRequest {
            id: recent.id as u64,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, pb::RunStatus::InProgress as i32);

    // Nothing more to purge; anomalies are kept by default.
    let again = c
        .purge_runs(pb::PurgeRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            again.purged,
            again.anomalies_purged,
            again.stale_runs_failed
        ),
        (0, 0, 0)
    );
    // The anomaly retention has its own cutoff.
    let gone = c
        .purge_runs(pb::PurgeRunsRequest {
            anomalies_created_before_ms: old + 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gone.anomalies_purged as usize, ids.len() + other_ids.len());
    assert!(anomalies_of_run(&d2, run.id).await.is_empty());
    let e = c
        .purge_runs(pb::PurgeRunsRequest {
            anomalies_created_before_ms: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().starts_with("anomalies_created_before_ms:"),
        "{e:?}"
    );
    d2.db = db;
    drop(d2);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_run_retention_keeps_anomalies() {
    retention(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_run_retention_keeps_anomalies() {
    retention(Backend::Postgres).await;
}
