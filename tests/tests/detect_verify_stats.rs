//! Verify (and the verification run it records), statistics (by ticker,
//! type, whitelist status, trigger and day) and the run purge of the
//! detection service, on SQLite and PostgreSQL, scoring through a real
//! serving node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::synthetic::{SyntheticConfig, generate};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, ScoringStack, TestDetect};

async fn setup(backend: Backend) -> (ScoringStack, TestDetect) {
    setup_with(backend, joust_detect::Clock::System).await
}

async fn setup_with(backend: Backend, clock: joust_detect::Clock) -> (ScoringStack, TestDetect) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start_with(backend, &stack.node.url, &stack.registry.url, |c| {
        c.clock = clock;
    })
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
        assert_eq!(v.still_anomaly, !v.current_types.is_empty());
        // Each check is a `verification` run in the audit trail.
        let run = v.run.as_ref().unwrap();
        assert_eq!(run.trigger, pb::Trigger::Verification as i32);
        assert_eq!(run.status, pb::RunStatus::Complete as i32);
        assert_eq!(run.verified_anomaly_id, a.id);
        assert_eq!((run.rows_scored, run.anomalies_found), (1, 0));
        assert_eq!(run.model_version, "1");
        assert_eq!(run.model_sha256, stack.sha256);
        assert_eq!(run.ticker, "SYN000");
        assert!(!run.evidence_uri.is_empty());
        assert_eq!(
            c.get_run(pb::GetRunRequest { id: run.id })
                .await
                .unwrap()
                .into_inner(),
            *run
        );
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
    let runs = c
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .runs;
    let verifications = runs
        .iter()
        .filter(|r| r.trigger == pb::Trigger::Verification as i32)
        .count();
    assert_eq!(verifications, found.anomalies.len());
    // Verifications leave the series' detection state alone.
    let again = detect(&d, "SYN000").await.run.unwrap();
    assert_eq!((again.rows_scored, again.anomalies_found), (0, 0));
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
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.total_anomalies, b.anomalies.len() as u64);

    // The default retention (30 days) keeps today's runs.
    let kept_runs = c
        .purge_runs(pb::PurgeRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept_runs.purged, 0);
    // A cutoff after every run: every finished run goes, whatever it
    // found (tests/tests/detect_retention.rs has the anomalies' side).
    let cutoff = noop.completed_at_ms + 1;
    let purged = c
        .purge_runs(pb::PurgeRunsRequest {
            completed_before_ms: cutoff,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(purged.purged, 3);
    assert_eq!(purged.anomalies_purged, 0, "anomalies are kept by default");
    let runs = c
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(runs.runs.is_empty(), "{:?}", runs.runs);
    let e = c
        .get_run(pb::GetRunRequest { id: noop.id })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let kept = c
        .list_anomalies(pb::ListAnomaliesRequest {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.anomalies.len() as u64, total);
}

/// Stats by type, whitelist status, trigger and day, over a time range,
/// with runs on a fixed clock (2024-06-01).
async fn stats_by_type_and_over_time(backend: Backend) {
    let clock = joust_detect::Clock::Fixed(1_717_243_200_000);
    let (_stack, d) = setup_with(backend, clock).await;
    let mut c = d.client();
    // Every scored bar fires price_spike; labelled ones fire model_label too.
    c.set_rule(pb::SetRuleRequest {
        anomaly_type: "price_spike".into(),
        operator: "gte".into(),
        threshold: 0.0,
        enabled: true,
        description: String::new(),
    })
    .await
    .unwrap();
    c.add_whitelist(pb::AddWhitelistRequest {
        ticker: "SYN001".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let a = detect(&d, "SYN000").await;
    let b = detect(&d, "SYN001").await;
    let scored = a.run.as_ref().unwrap().rows_scored + b.run.as_ref().unwrap().rows_scored;
    assert_eq!(scored, 2 * (250 - 33));
    let labelled = a
        .anomalies
        .iter()
        .chain(&b.anomalies)
        .filter(|x| x.label)
        .count() as u64;
    assert!(labelled > 0);
    c.verify(pb::VerifyRequest {
        anomaly_id: a.anomalies[0].id,
    })
    .await
    .unwrap();
    let s = c
        .stats(pb::StatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let map = |v: &[pb::StatCount]| -> Vec<(String, u64)> {
        v.iter().map(|c| (c.key.clone(), c.count)).collect()
    };
    assert_eq!(s.total_anomalies, scored);
    assert_eq!(
        map(&s.anomalies_by_type),
        [
            ("model_label".to_owned(), labelled),
            ("price_spike".to_owned(), scored)
        ]
    );
    let whitelisted = b.anomalies.len() as u64;
    assert_eq!(
        map(&s.anomalies_by_whitelist),
        [
            ("not_whitelisted".to_owned(), scored - whitelisted),
            ("whitelisted".to_owned(), whitelisted),
        ]
    );
    assert_eq!(
        map(&s.runs_by_trigger),
        [("api".to_owned(), 2), ("verification".to_owned(), 1)]
    );
    assert_eq!(map(&s.runs_by_day), [("2024-06-01".to_owned(), 3)]);
    // Daily bars: one anomaly per ticker and day, from the first scored bar.
    let start = SyntheticConfig::default().start;
    let first_day = day_key(start + 33 * 86_400);
    assert_eq!(s.anomalies_by_day.len(), 250 - 33);
    assert_eq!(s.anomalies_by_day[0].key, first_day);
    assert!(s.anomalies_by_day.iter().all(|c| c.count == 2));
    // A ten-day window of bars (inclusive bounds); runs started in it: none.
    let from = start + 40 * 86_400;
    let window = c
        .stats(pb::StatsRequest {
            ticker: String::new(),
            from,
            to: from + 9 * 86_400,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(window.total_anomalies, 20);
    assert_eq!(window.anomalies_by_day.len(), 10);
    assert!(window.runs_by_status.is_empty());
    let one = c
        .stats(pb::StatsRequest {
            ticker: "SYN001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        map(&one.anomalies_by_whitelist),
        [("whitelisted".to_owned(), whitelisted)]
    );
    let e = c
        .stats(pb::StatsRequest {
            ticker: String::new(),
            from: 10,
            to: 5,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("from:"), "{e:?}");
}

/// Unix seconds as the YYYY-MM-DD key of `Stats`.
fn day_key(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .date_naive()
        .to_string()
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

both_backends!(verify, stats_and_purge, stats_by_type_and_over_time);
