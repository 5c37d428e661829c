//! Backpressure on the backfill queue (issue 18, item 5), on SQLite and
//! PostgreSQL, scoring through a real serving node: a `Backfill` beyond
//! the queue-length limit is refused RESOURCE_EXHAUSTED naming the limit;
//! the queue alert fires once when the queue reaches the alert length
//! (shown by `WorkerStatus`, counted on `/metrics`) and again after the
//! queue drained below it; queue length, attempt outcomes and durations
//! are on `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_detect::JobsConfig;
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, ScoringStack, TestDetect};
use joust_tests::node::eventually;

fn jobs() -> JobsConfig {
    JobsConfig {
        start_workers: false,
        lease: Duration::from_millis(1500),
        poll_every: Duration::from_millis(50),
        max_queue_length: 3,
        queue_alert_length: 2,
        monitor_every: Duration::from_millis(50),
        ..JobsConfig::default()
    }
}

fn request(ticker: &str) -> pb::BackfillRequest {
    pb::BackfillRequest {
        ticker: ticker.into(),
        period: "max".into(),
        interval: "1d".into(),
        ..Default::default()
    }
}

async fn status(d: &TestDetect) -> pb::WorkerStatusResponse {
    d.client()
        .worker_status(pb::WorkerStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// The value of one sample line (`name{labels} value`) of `/metrics`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn backpressure(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start_with_jobs(backend, &stack.node.url, &stack.registry.url, jobs())
        .await
        .unwrap();
    let mut c = d.client();
    c.ingest_synthetic(pb::IngestSyntheticRequest {
        interval: "1d".into(),
        tickers: 6,
        rows: 120,
        seed: 9,
        ..Default::default()
    })
    .await
    .unwrap();

    let before = d.metrics_text().await.unwrap();
    assert_eq!(
        sample(&before, "joust_detect_queue_limit"),
        Some(3.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, "joust_detect_queue_alert_length"),
        Some(2.0)
    );
    assert_eq!(
        sample(&before, "joust_detect_queue_alerts_total"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &before,
            r#"joust_detect_job_attempts_total{outcome="completed"}"#
        ),
        Some(0.0)
    );

    // One job: below the alert length.
    c.backfill(request("SYN000")).await.unwrap();
    assert!(status(&d).await.last_queue_alert.is_none());
    // Two: the alert fires, once.
    c.backfill(request("SYN001")).await.unwrap();
    let s = status(&d).await;
    let alert = s.last_queue_alert.expect("the queue alert fired");
    assert_eq!(
        (alert.waiting, alert.alert_length, alert.max_queue_length),
        (2, 2, 3)
    );
    assert!(alert.at_ms > 0);
    assert_eq!(
        (s.queue_length, s.max_queue_length, s.queue_alert_length),
        (2, 3, 2)
    );
    // Three: at the limit, still accepted.
    c.backfill(request("SYN002")).await.unwrap();
    // A fourth is refused, naming the limit; nothing is queued.
    let e = c.backfill(request("SYN003")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("max_queue_length 3"), "{e:?}");
    assert!(e.message().contains("--max-queue-length"), "{e:?}");
    assert!(e.message().contains("3 jobs waiting"), "{e:?}");
    assert_eq!(status(&d).await.queue_length, 3);

    let full = d.metrics_text().await.unwrap();
    assert_eq!(
        sample(&full, "joust_detect_queue_length"),
        Some(3.0),
        "{full}"
    );
    assert_eq!(
        sample(&full, "joust_detect_queue_alerts_total"),
        Some(1.0),
        "{full}"
    );
    assert_eq!(
        sample(&full, "joust_detect_backfills_refused_total"),
        Some(1.0)
    );

    // The workers drain the queue: every attempt counted and timed.
    c.start_workers(pb::StartWorkersRequest {
        concurrency: 3,
        batch_size: 10,
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(60), || async {
        let s = status(&d).await;
        s.jobs_by_status
            .iter()
            .any(|c| c.key == "completed" && c.count == 3)
    })
    .await
    .expect("the three jobs complete");
    // A job commits before its evidence is written and its attempt is
    // counted: wait for the count.
    eventually(Duration::from_secs(30), || async {
        let m = d.metrics_text().await.unwrap();
        sample(
            &m,
            r#"joust_detect_job_attempts_total{outcome="completed"}"#,
        ) == Some(3.0)
    })
    .await
    .expect("three completed attempts counted");
    let drained = d.metrics_text().await.unwrap();
    assert_eq!(
        sample(&drained, "joust_detect_queue_length"),
        Some(0.0),
        "{drained}"
    );
    assert_eq!(
        sample(
            &drained,
            r#"joust_detect_job_attempts_total{outcome="completed"}"#
        ),
        Some(3.0),
        "{drained}"
    );
    assert_eq!(
        sample(
            &drained,
            r#"joust_detect_job_duration_seconds_count{outcome="completed"}"#
        ),
        Some(3.0),
        "{drained}"
    );
    let total = sample(
        &drained,
        r#"joust_detect_job_duration_seconds_sum{outcome="completed"}"#,
    )
    .unwrap();
    assert!(total > 0.0, "{drained}");

    // Below the alert length the alert re-arms; reaching it again fires a
    // second alert.
    c.stop_workers(pb::StopWorkersRequest {}).await.unwrap();
    c.backfill(request("SYN003")).await.unwrap();
    c.backfill(request("SYN004")).await.unwrap();
    let again = d.metrics_text().await.unwrap();
    assert_eq!(
        sample(&again, "joust_detect_queue_alerts_total"),
        Some(2.0),
        "{again}"
    );
    assert_eq!(status(&d).await.last_queue_alert.unwrap().waiting, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_limit_metrics_and_alert() {
    backpressure(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_limit_metrics_and_alert() {
    backpressure(Backend::Postgres).await;
}

#[test]
fn an_alert_above_the_limit_is_refused_at_start() {
    let bad = JobsConfig {
        max_queue_length: 3,
        queue_alert_length: 4,
        ..JobsConfig::default()
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(
        e.contains("queue alert length: expected at most the max queue length (3), got 4"),
        "{e}"
    );
}
