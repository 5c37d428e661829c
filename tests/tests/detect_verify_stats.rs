//! Verify, statistics and the retention purge of the detection service,
//! on SQLite and PostgreSQL, scoring through a real serving node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::synthetic::{SyntheticConfig, generate};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, ScoringStack, TestDetect};

async fn setup(backend: Backend) -> (ScoringStack, TestDetect) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start(backend, &stack.node.url, &stack.registry.url)
        .await
        .unwrap();
    let series = generate(&SyntheticConfig {
        tickers: 2,
        rows: 250,
        seed: 5,
        interval_secs: 86_400,
        ..SyntheticConfig::default()
    });
    d.client()
        .ingest_csv(pb::IngestCsvRequest {
            interval: "1d".into(),
            csv: joust_models::csv_io::write_csv(&series),
        })
        .await
        .unwrap();
    (stack, d)
}

async fn detect(d: &TestDetect, ticker: &str) -> pb::DetectResponse {
    d.client()
        .detect(pb::DetectRequest {
            ticker: ticker.into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn verify(backend: Backend) {
    let (stack, d) = setup(backend).await;
    let found = detect(&d, "SYN000").await;
    assert!(!found.anomalies.is_empty());
    let mut c = d.client();
    let start = SyntheticConfig::default().start;
    let mut exact = 0;
    for a in &found.anomalies {
        let v = c
            .verify(pb::VerifyRequest { anomaly_id: a.id })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.original.as_ref().unwrap(), a);
        assert_eq!(v.current_model_version, "1");
        assert_eq!(v.current_model_sha256, stack.sha256);
        assert_eq!(v.current_features.len(), 14);
        assert_eq!(v.still_anomaly, v.current_label);
        // A bar with at most HISTORY_BARS bars before it is re-scored from
        // the same bars the detection saw: same features, same score.
        let index = (a.timestamp - start) / 86_400;
        if index <= joust_detect::HISTORY_BARS as i64 {
            exact += 1;
            assert_eq!(v.current_features, a.features);
            assert_eq!(v.current_score, a.score);
            assert!(v.still_anomaly);
        }
    }
    assert!(exact > 0, "some anomalies fall in the first 200 bars");
    let e = c
        .verify(pb::VerifyRequest {
            anomaly_id: 999_999,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().starts_with("anomaly_id:"), "{e:?}");
    let e = c
        .verify(pb::VerifyRequest { anomaly_id: 0 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
}

async fn stats_and_purge(backend: Backend) {
    let (_stack, d) = setup(backend).await;
    let a = detect(&d, "SYN000").await;
    let b = detect(&d, "SYN001").await;
    let noop = detect(&d, "SYN000").await.run.unwrap();
    assert_eq!(noop.anomalies_found, 0);
    let mut c = d.client();
    let s = c
        .stats(pb::StatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let total = (a.anomalies.len() + b.anomalies.len()) as u64;
    assert_eq!(s.total_anomalies, total);
    let by_ticker: Vec<(String, u64)> = s
        .anomalies_by_ticker
        .iter()
        .map(|c| (c.key.clone(), c.count))
        .collect();
    assert_eq!(
        by_ticker,
        vec![
            ("SYN000".to_owned(), a.anomalies.len() as u64),
            ("SYN001".to_owned(), b.anomalies.len() as u64),
        ]
    );
    assert_eq!(
        s.anomalies_by_day.iter().map(|c| c.count).sum::<u64>(),
        total
    );
    assert!(
        s.anomalies_by_day
            .iter()
            .all(|c| c.key.len() == 10 && c.key.starts_with("202"))
    );
    assert_eq!(
        s.runs_by_status
            .iter()
            .map(|c| (c.key.as_str(), c.count))
            .collect::<Vec<_>>(),
        vec![("complete", 3)]
    );
    let one = c
        .stats(pb::StatsRequest {
            ticker: "SYN001".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.total_anomalies, b.anomalies.len() as u64);

    // The default retention (30 days) keeps today's runs.
    let kept = c
        .purge_runs(pb::PurgeRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.purged, 0);
    // A cutoff after every run: only the run without anomalies goes; runs
    // that stored anomalies stay as their provenance.
    let cutoff = noop.completed_at_ms + 1;
    let purged = c
        .purge_runs(pb::PurgeRunsRequest {
            completed_before_ms: cutoff,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(purged.purged, 1);
    let runs = c
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<u64> = runs.runs.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![b.run.unwrap().id, a.run.unwrap().id],
        "the no-op run is gone"
    );
    let e = c
        .get_run(pb::GetRunRequest { id: noop.id })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

both_backends!(verify, stats_and_purge);
