//! The detection service end to end, on SQLite and PostgreSQL: ingest,
//! incremental detection through a real serving node's OIP endpoint,
//! anomalies with filters and paging, the run audit trail, bad input, and
//! a scoring endpoint that goes away.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::synthetic::{SyntheticConfig, generate};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, MODEL, ScoringStack, TestDetect};
use joust_tests::node::Partition;

/// One ticker (SYN000) of `rows` daily bars, as CSV.
fn csv(rows: usize) -> Vec<u8> {
    let series = generate(&SyntheticConfig {
        tickers: 1,
        rows,
        seed: 11,
        interval_secs: 86_400,
        ..SyntheticConfig::default()
    });
    joust_models::csv_io::write_csv(&series)
}

async fn ingest(d: &TestDetect, rows: usize) -> pb::IngestedSeries {
    let r = d
        .client()
        .ingest_csv(pb::IngestCsvRequest {
            interval: "1d".into(),
            csv: csv(rows),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.series.len(), 1);
    r.series.into_iter().next().unwrap()
}

async fn detect(d: &TestDetect) -> Result<pb::DetectResponse, tonic::Status> {
    d.client()
        .detect(pb::DetectRequest {
            ticker: "SYN000".into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .map(|r| r.into_inner())
}

async fn incremental(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start(backend, &stack.node.url, &stack.registry.url)
        .await
        .unwrap();

    let first = ingest(&d, 300).await;
    assert_eq!((first.rows, first.inserted), (300, 300));
    // Idempotent on (ticker, interval, timestamp).
    assert_eq!(ingest(&d, 300).await.inserted, 0);

    let r1 = detect(&d).await.unwrap();
    let run = r1.run.clone().unwrap();
    assert_eq!(run.status, pb::RunStatus::Complete as i32);
    assert_eq!(run.rows_loaded, 300);
    assert_eq!(run.rows_preprocessed, 300 - 33);
    assert_eq!(run.rows_scored, 300 - 33);
    assert_eq!(run.model_name, MODEL);
    assert_eq!(run.model_version, "1");
    assert_eq!(run.model_sha256, stack.sha256);
    assert_eq!(run.anomalies_found as usize, r1.anomalies.len());
    assert!(!r1.anomalies.is_empty(), "the champion flags some bars");
    for a in &r1.anomalies {
        assert_eq!(a.features.len(), 14);
        assert!(a.label);
        assert_eq!(a.run_id, run.id);
        assert_eq!(a.model_version, "1");
        assert_eq!(a.model_sha256, stack.sha256);
        assert_eq!(a.ticker, "SYN000");
    }

    // Nothing new: nothing scored, nothing stored, a run still recorded.
    let r2 = detect(&d).await.unwrap();
    let run2 = r2.run.unwrap();
    assert_eq!(run2.status, pb::RunStatus::Complete as i32);
    assert_eq!((run2.rows_scored, run2.anomalies_found), (0, 0));
    assert!(r2.anomalies.is_empty());
    assert!(run2.id > run.id);

    // Appended bars: only they are scored.
    assert_eq!(ingest(&d, 340).await.inserted, 40);
    let r3 = detect(&d).await.unwrap();
    let run3 = r3.run.unwrap();
    assert_eq!(run3.rows_scored, 40);
    assert_eq!(run3.rows_loaded, 200 + 40, "history window plus new bars");
    let last_old = generate(&SyntheticConfig {
        tickers: 1,
        rows: 300,
        seed: 11,
        interval_secs: 86_400,
        ..SyntheticConfig::default()
    })[0]
        .bars
        .last()
        .unwrap()
        .timestamp;
    assert!(r3.anomalies.iter().all(|a| a.timestamp > last_old));

    // Listing: everything, then filtered and paged.
    let total = r1.anomalies.len() + r3.anomalies.len();
    let mut c = d.client();
    let all = c
        .list_anomalies(pb::ListAnomaliesRequest {
            ticker: "SYN000".into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.anomalies.len(), total);
    assert!(all.next_page_token.is_empty());
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_anomalies(pb::ListAnomaliesRequest {
                limit: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.anomalies.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        paged,
        all.anomalies.iter().map(|a| a.id).collect::<Vec<_>>()
    );
    let min = all
        .anomalies
        .iter()
        .map(|a| a.score)
        .fold(f32::MIN, f32::max);
    let top = c
        .list_anomalies(pb::ListAnomaliesRequest {
            min_score: Some(min),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!top.anomalies.is_empty());
    assert!(top.anomalies.iter().all(|a| a.score >= min));
    let recent = c
        .list_anomalies(pb::ListAnomaliesRequest {
            from: last_old + 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recent.anomalies.len(), r3.anomalies.len());
    let other_version = c
        .list_anomalies(pb::ListAnomaliesRequest {
            model_version: "2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(other_version.anomalies.is_empty());

    // The audit trail.
    let runs = c
        .list_runs(pb::ListRunsRequest {
            ticker: "SYN000".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<u64> = runs.runs.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![run3.id, run2.id, run.id]);
    let got = c
        .get_run(pb::GetRunRequest { id: run.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, run);
    d.stop().await.unwrap();
}

async fn bad_input(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start(backend, &stack.node.url, &stack.registry.url)
        .await
        .unwrap();
    ingest(&d, 100).await;
    let mut c = d.client();
    let e = c
        .detect(pb::DetectRequest {
            ticker: "NOPE".into(),
            interval: "1d".into(),
            trigger: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(e.message().contains("NOPE"), "{e:?}");
    let e = c
        .detect(pb::DetectRequest {
            ticker: "SYN000".into(),
            interval: "2d".into(),
            trigger: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("interval:"), "{e:?}");
    let e = c
        .detect(pb::DetectRequest {
            ticker: "bad ticker".into(),
            interval: "1d".into(),
            trigger: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("ticker:"), "{e:?}");
    let e = c
        .ingest_csv(pb::IngestCsvRequest {
            interval: "1d".into(),
            csv: b"ticker,timestamp,open,high,low,close,volume\nA,1,1,1,1,-1,1\n".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("close"), "{e:?}");
    let e = c.get_run(pb::GetRunRequest { id: 999 }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = c
        .list_anomalies(pb::ListAnomaliesRequest {
            page_token: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("page_token:"), "{e:?}");
    let e = c
        .list_anomalies(pb::ListAnomaliesRequest {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("limit:"), "{e:?}");
}

async fn scoring_down(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let proxy = Partition::start(stack.node.addr).await.unwrap();
    let d = TestDetect::start(backend, &proxy.url, &stack.registry.url)
        .await
        .unwrap();
    ingest(&d, 120).await;
    proxy.cut();
    let e = detect(&d).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let mut c = d.client();
    let runs = c
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(runs.runs.len(), 1);
    let failed = &runs.runs[0];
    assert_eq!(failed.status, pb::RunStatus::Failed as i32);
    assert!(failed.error.contains("ModelInfer"), "{failed:?}");
    assert!(failed.completed_at_ms > 0);
    let none = c
        .list_anomalies(pb::ListAnomaliesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(none.anomalies.is_empty());

    // Back up: the failed run moved nothing, so every bar is scored now.
    proxy.heal().await.unwrap();
    let ok = detect(&d).await.unwrap().run.unwrap();
    assert_eq!(ok.status, pb::RunStatus::Complete as i32);
    assert_eq!(ok.rows_scored, 120 - 33);
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

both_backends!(incremental, bad_input, scoring_down);
