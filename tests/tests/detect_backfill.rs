//! Backfill jobs end to end, on SQLite and PostgreSQL: the lifecycle with
//! progress (and the same results as a direct Detect), priorities, retries
//! with exponential backoff against a scoring endpoint that fails and comes
//! back, a job that fails after its last attempt and stores nothing, the
//! concurrency cap, a killed worker's job taken over once its lease
//! expires, duplicates and bad input refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use joust_detect::JobsConfig;
use joust_detect::store::jobs::Claim;
use joust_models::synthetic::{SyntheticConfig, generate};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, Gate, ScoringStack, TestDetect};
use joust_tests::detect_process::DetectProcess;
use joust_tests::node::Partition;

/// Settings that keep the tests in seconds; workers not started.
fn fast() -> JobsConfig {
    JobsConfig {
        start_workers: false,
        concurrency: 3,
        batch_size: 10,
        max_attempts: 3,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(5),
        lease: Duration::from_millis(1500),
        poll_every: Duration::from_millis(50),
        worker_id: String::new(),
        ..JobsConfig::default()
    }
}

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

async fn ingest(d: &TestDetect, rows: usize) {
    d.client()
        .ingest_csv(pb::IngestCsvRequest {
            interval: "1d".into(),
            csv: csv(rows),
        })
        .await
        .unwrap();
}

async fn ingest_synthetic(d: &TestDetect, tickers: u32, rows: u32) {
    d.client()
        .ingest_synthetic(pb::IngestSyntheticRequest {
            interval: "1d".into(),
            tickers,
            rows,
            seed: 5,
            ..Default::default()
        })
        .await
        .unwrap();
}

fn request(ticker: &str, period: &str) -> pb::BackfillRequest {
    pb::BackfillRequest {
        ticker: ticker.into(),
        period: period.into(),
        interval: "1d".into(),
        force: false,
        priority: pb::JobPriority::Normal as i32,
    }
}

async fn backfill(d: &TestDetect, r: pb::BackfillRequest) -> pb::BackfillJob {
    d.client().backfill(r).await.unwrap().into_inner()
}

async fn job(d: &TestDetect, id: u64) -> pb::BackfillJob {
    d.client()
        .get_job(pb::GetJobRequest { id })
        .await
        .unwrap()
        .into_inner()
}

async fn start_workers(d: &TestDetect, concurrency: u32) -> pb::WorkerStatusResponse {
    d.client()
        .start_workers(pb::StartWorkersRequest {
            concurrency,
            batch_size: 0,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn worker_status(d: &TestDetect) -> pb::WorkerStatusResponse {
    d.client()
        .worker_status(pb::WorkerStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

async fn list_jobs(d: &TestDetect) -> Vec<pb::BackfillJob> {
    d.client()
        .list_jobs(pb::ListJobsRequest {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .jobs
}

async fn anomalies(d: &TestDetect, ticker: &str) -> Vec<pb::Anomaly> {
    d.client()
        .list_anomalies(pb::ListAnomaliesRequest {
            ticker: ticker.into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .anomalies
}

/// Polls `f` every 20 ms until it returns `Some`, for at most 60 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn until_status(d: &TestDetect, id: u64, status: pb::JobStatus) -> pb::BackfillJob {
    eventually(&format!("job {id} {status:?}"), || async {
        let j = job(d, id).await;
        (j.status == status as i32).then_some(j)
    })
    .await
}

fn is(j: &pb::BackfillJob, status: pb::JobStatus) -> bool {
    j.status == status as i32
}

async fn lifecycle(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start_with_jobs(backend, &stack.node.url, &stack.registry.url, fast())
        .await
        .unwrap();
    ingest(&d, 300).await;

    // Queued at once; nothing runs while the workers are stopped.
    let queued = backfill(&d, request("SYN000", "5y")).await;
    assert!(queued.id > 0);
    assert!(is(&queued, pb::JobStatus::Pending), "{queued:?}");
    assert_eq!((queued.attempts, queued.max_attempts), (0, 3));
    assert_eq!(queued.priority, pb::JobPriority::Normal as i32);
    assert_eq!((queued.period.as_str(), queued.force), ("5y", false));
    assert!(queued.next_attempt_at_ms > 0 && queued.started_at_ms == 0);
    assert!(!worker_status(&d).await.running);
    assert_eq!(job(&d, queued.id).await, queued);
    assert_eq!(list_jobs(&d).await, vec![queued.clone()]);

    // A second backfill of the series is refused, naming the job.
    let e = d
        .client()
        .backfill(request("SYN000", "1y"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message()
            .contains(&format!("already pending as job {}", queued.id)),
        "{e:?}"
    );

    // Workers started by RPC run it to completion.
    let started = start_workers(&d, 0).await;
    assert!(started.running);
    assert_eq!(started.concurrency, 3);
    let done = until_status(&d, queued.id, pb::JobStatus::Completed).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(done.rows_loaded, 300);
    assert_eq!((done.rows_to_score, done.rows_scored), (267, 267));
    assert!(done.error.is_empty() && done.worker.is_empty());
    assert!(done.started_at_ms >= queued.created_at_ms);
    assert!(done.completed_at_ms >= done.started_at_ms);
    assert_eq!(done.next_attempt_at_ms, 0);
    let stored = anomalies(&d, "SYN000").await;
    assert_eq!(done.anomalies_found as usize, stored.len());
    assert!(!stored.is_empty(), "the champion flags some bars");
    let run = d
        .client()
        .get_run(pb::GetRunRequest { id: done.run_id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.trigger, pb::Trigger::Backfill as i32);
    assert_eq!(run.status, pb::RunStatus::Complete as i32);
    assert_eq!(
        (run.rows_loaded, run.rows_scored, run.anomalies_found),
        (300, 267, done.anomalies_found)
    );
    assert!(stored.iter().all(|a| a.run_id == run.id));

    // The same bars through a direct Detect on a fresh service: the same
    // counts and the same anomalies.
    let direct = TestDetect::start(backend, &stack.node.url, &stack.registry.url)
        .await
        .unwrap();
    ingest(&direct, 300).await;
    let r = direct
        .client()
        .detect(pb::DetectRequest {
            ticker: "SYN000".into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let direct_run = r.run.unwrap();
    assert_eq!(
        (direct_run.rows_loaded, direct_run.rows_scored),
        (run.rows_loaded, run.rows_scored)
    );
    let key = |a: &pb::Anomaly| (a.timestamp, a.score.to_bits(), a.features.clone());
    assert_eq!(
        r.anomalies.iter().map(key).collect::<Vec<_>>(),
        stored.iter().map(key).collect::<Vec<_>>()
    );

    // The backfill moved the detected range: Detect has nothing new.
    let after = d
        .client()
        .detect(pb::DetectRequest {
            ticker: "SYN000".into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.run.unwrap().rows_scored, 0);

    // 40 new bars, a 30-day backfill without force: the 40 bars after the
    // detected range are scored (the range stays one interval), no others.
    ingest(&d, 340).await;
    let short = backfill(&d, request("SYN000", "30d")).await;
    let short = until_status(&d, short.id, pb::JobStatus::Completed).await;
    assert_eq!(short.rows_scored, 40);
    assert_eq!(short.rows_loaded, 200 + 40, "history window plus new bars");
    let mut ts: Vec<i64> = anomalies(&d, "SYN000")
        .await
        .iter()
        .map(|a| a.timestamp)
        .collect();
    let before_force = ts.len();
    ts.dedup();
    assert_eq!(ts.len(), before_force, "no bar stored twice");

    // `force` re-scores every bar of the period and replaces its anomalies.
    let forced = backfill(
        &d,
        pb::BackfillRequest {
            force: true,
            priority: pb::JobPriority::High as i32,
            ..request("SYN000", "max")
        },
    )
    .await;
    assert_eq!(forced.priority, pb::JobPriority::High as i32);
    let forced = until_status(&d, forced.id, pb::JobStatus::Completed).await;
    assert_eq!(forced.rows_scored, 340 - 33);
    let replaced = anomalies(&d, "SYN000").await;
    assert_eq!(replaced.len() as u64, forced.anomalies_found);
    assert!(replaced.iter().all(|a| a.run_id == forced.run_id));
    let mut ts: Vec<i64> = replaced.iter().map(|a| a.timestamp).collect();
    ts.dedup();
    assert_eq!(ts.len(), replaced.len(), "no duplicate after force");

    // Newest first, filterable by status; the worker counted 3 attempts.
    let ids: Vec<u64> = list_jobs(&d).await.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![forced.id, short.id, done.id]);
    // A job is committed before its evidence is written and the attempt
    // counted: wait for the count.
    let status = eventually("three completed attempts counted", || async {
        let s = worker_status(&d).await;
        (s.attempts_completed == 3).then_some(s)
    })
    .await;
    assert_eq!(status.attempts_failed, 0);
    assert!(status.active_job_ids.is_empty());
    let completed = status
        .jobs_by_status
        .iter()
        .find(|c| c.key == "completed")
        .unwrap();
    assert_eq!(completed.count, 3);
    d.stop().await.unwrap();
}

async fn bad_input(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start_with_jobs(backend, &stack.node.url, &stack.registry.url, fast())
        .await
        .unwrap();
    ingest(&d, 60).await;
    let mut c = d.client();
    let cases = [
        (
            request("SYN000", "5years"),
            tonic::Code::InvalidArgument,
            "period:",
        ),
        (
            request("SYN000", ""),
            tonic::Code::InvalidArgument,
            "period:",
        ),
        (
            request("SYN000", "0d"),
            tonic::Code::InvalidArgument,
            "period:",
        ),
        (
            pb::BackfillRequest {
                interval: "2d".into(),
                ..request("SYN000", "5y")
            },
            tonic::Code::InvalidArgument,
            "interval:",
        ),
        (
            request("bad ticker", "5y"),
            tonic::Code::InvalidArgument,
            "ticker:",
        ),
        (
            pb::BackfillRequest {
                priority: 9,
                ..request("SYN000", "5y")
            },
            tonic::Code::InvalidArgument,
            "priority:",
        ),
        (request("NOPE", "5y"), tonic::Code::NotFound, "ticker:"),
    ];
    for (r, code, prefix) in cases {
        let e = c.backfill(r.clone()).await.unwrap_err();
        assert_eq!(e.code(), code, "{r:?}: {e:?}");
        assert!(e.message().starts_with(prefix), "{r:?}: {e:?}");
    }
    let e = c.backfill(request("NOPE", "5y")).await.unwrap_err();
    assert!(e.message().contains("NOPE"), "{e:?}");
    assert!(list_jobs(&d).await.is_empty(), "nothing queued");
    let e = c.get_job(pb::GetJobRequest { id: 999 }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = c.get_job(pb::GetJobRequest { id: 0 }).await.unwrap_err();
    assert!(e.message().starts_with("id:"), "{e:?}");
    let e = c
        .list_jobs(pb::ListJobsRequest {
            status: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("status:"), "{e:?}");
    let e = c
        .start_workers(pb::StartWorkersRequest {
            concurrency: 5000,
            batch_size: 0,
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("concurrency:"), "{e:?}");
    assert!(!worker_status(&d).await.running);
}

async fn priority_order(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start_with_jobs(backend, &stack.node.url, &stack.registry.url, fast())
        .await
        .unwrap();
    ingest_synthetic(&d, 3, 120).await;
    let with = |ticker: &str, p: pb::JobPriority| pb::BackfillRequest {
        priority: p as i32,
        ..request(ticker, "max")
    };
    let low = backfill(&d, with("SYN000", pb::JobPriority::Low)).await;
    let normal = backfill(&d, with("SYN001", pb::JobPriority::Unspecified)).await;
    let high = backfill(&d, with("SYN002", pb::JobPriority::High)).await;
    assert_eq!(normal.priority, pb::JobPriority::Normal as i32);
    // One slot: the jobs run one after the other, high first, low last.
    start_workers(&d, 1).await;
    let mut done = Vec::new();
    for j in [&low, &normal, &high] {
        done.push(until_status(&d, j.id, pb::JobStatus::Completed).await);
    }
    let (low, normal, high) = (&done[0], &done[1], &done[2]);
    assert!(
        high.completed_at_ms <= normal.started_at_ms,
        "{high:?} {normal:?}"
    );
    assert!(
        normal.completed_at_ms <= low.started_at_ms,
        "{normal:?} {low:?}"
    );
    assert_eq!(worker_status(&d).await.peak_active_jobs, 1);
}

async fn retries_with_backoff(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let proxy = Partition::start(stack.node.addr).await.unwrap();
    let jobs = JobsConfig {
        max_attempts: 5,
        backoff_base: Duration::from_millis(300),
        start_workers: true,
        ..fast()
    };
    let d = TestDetect::start_with_jobs(backend, &proxy.url, &stack.registry.url, jobs)
        .await
        .unwrap();
    ingest(&d, 300).await;
    proxy.cut();
    let queued = backfill(&d, request("SYN000", "5y")).await;
    // Each failed attempt waits base × 2^(attempt − 1) before the next.
    let second = eventually("a second failed attempt", || async {
        let j = job(&d, queued.id).await;
        if is(&j, pb::JobStatus::Retrying) {
            let backoff = 300 * (1_i64 << (j.attempts - 1));
            assert_eq!(j.next_attempt_at_ms - j.updated_at_ms, backoff, "{j:?}");
            assert!(j.error.contains("ModelInfer"), "{j:?}");
            assert!(
                j.error
                    .starts_with(&format!("attempt {} of 5: scoring:", j.attempts)),
                "{j:?}"
            );
        }
        (is(&j, pb::JobStatus::Retrying) && j.attempts >= 2).then_some(j)
    })
    .await;
    assert!(second.attempts < 5);
    assert!(
        anomalies(&d, "SYN000").await.is_empty(),
        "nothing stored yet"
    );
    // The endpoint comes back: the next attempt completes.
    proxy.heal().await.unwrap();
    let done = until_status(&d, queued.id, pb::JobStatus::Completed).await;
    assert!(done.attempts > second.attempts, "{done:?}");
    assert!(done.error.is_empty());
    assert_eq!(done.rows_scored, 267);
    assert_eq!(
        anomalies(&d, "SYN000").await.len() as u64,
        done.anomalies_found
    );
    // Every attempt left a backfill run: the failed ones failed, the last
    // one complete.
    let runs = d
        .client()
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .runs;
    assert_eq!(runs.len() as u32, done.attempts);
    assert!(
        runs.iter()
            .all(|r| r.trigger == pb::Trigger::Backfill as i32)
    );
    assert_eq!(runs[0].id, done.run_id);
    assert_eq!(runs[0].status, pb::RunStatus::Complete as i32);
    assert!(
        runs[1..]
            .iter()
            .all(|r| r.status == pb::RunStatus::Failed as i32 && r.anomalies_found == 0)
    );
    // The job is committed before its evidence is written and the attempt
    // counted: wait for the count.
    let status = eventually("the completed attempt counted", || async {
        let s = worker_status(&d).await;
        (s.attempts_completed == 1).then_some(s)
    })
    .await;
    assert_eq!(status.attempts_failed as u32, done.attempts - 1);
}

async fn fails_after_max_attempts(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let proxy = Partition::start(stack.node.addr).await.unwrap();
    let jobs = JobsConfig {
        max_attempts: 2,
        backoff_base: Duration::from_millis(100),
        start_workers: true,
        ..fast()
    };
    let d = TestDetect::start_with_jobs(backend, &proxy.url, &stack.registry.url, jobs)
        .await
        .unwrap();
    ingest(&d, 300).await;
    proxy.cut();
    let queued = backfill(&d, request("SYN000", "max")).await;
    let failed = until_status(&d, queued.id, pb::JobStatus::Failed).await;
    assert_eq!((failed.attempts, failed.max_attempts), (2, 2));
    assert!(
        failed.error.starts_with("attempt 2 of 2: scoring:"),
        "{failed:?}"
    );
    assert!(failed.error.contains("ModelInfer"), "{failed:?}");
    assert!(failed.completed_at_ms > 0);
    assert_eq!((failed.next_attempt_at_ms, failed.anomalies_found), (0, 0));
    assert!(anomalies(&d, "SYN000").await.is_empty());
    let runs = d
        .client()
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .runs;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.status == pb::RunStatus::Failed as i32
        && r.trigger == pb::Trigger::Backfill as i32
        && r.error.contains("ModelInfer")));
    // The series' detected range did not move: a later job scores it all.
    proxy.heal().await.unwrap();
    let again = backfill(&d, request("SYN000", "max")).await;
    let again = until_status(&d, again.id, pb::JobStatus::Completed).await;
    assert_eq!(again.rows_scored, 267);
}

/// Scoring succeeds but the registry (the model's SHA-256) is down: the
/// attempt fails after every row was scored, and nothing is stored.
async fn registry_down_stores_nothing(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let registry = Partition::start(stack.registry.addr).await.unwrap();
    let jobs = JobsConfig {
        max_attempts: 1,
        start_workers: true,
        ..fast()
    };
    let d = TestDetect::start_with_jobs(backend, &stack.node.url, &registry.url, jobs)
        .await
        .unwrap();
    ingest(&d, 300).await;
    registry.cut();
    let queued = backfill(&d, request("SYN000", "max")).await;
    let failed = until_status(&d, queued.id, pb::JobStatus::Failed).await;
    assert!(failed.error.contains("registry:"), "{failed:?}");
    assert_eq!(failed.rows_scored, 267, "every row was scored");
    assert_eq!(failed.anomalies_found, 0);
    assert!(anomalies(&d, "SYN000").await.is_empty());
}

async fn concurrency_cap(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    // Scoring hangs until the gate opens, so claimed jobs stay processing.
    let gate = Gate::closed(stack.node.addr).await.unwrap();
    let jobs = JobsConfig {
        concurrency: 2,
        start_workers: true,
        ..fast()
    };
    let d = TestDetect::start_with_jobs(backend, &gate.url, &stack.registry.url, jobs)
        .await
        .unwrap();
    ingest_synthetic(&d, 6, 150).await;
    let mut ids = Vec::new();
    for t in 0..6 {
        ids.push(backfill(&d, request(&format!("SYN{t:03}"), "max")).await.id);
    }
    let count = |jobs: &[pb::BackfillJob], s: pb::JobStatus| {
        jobs.iter().filter(|j| j.status == s as i32).count()
    };
    // Two claimed, progress written (rows loaded, nothing scored yet).
    eventually("two jobs processing with their bars loaded", || async {
        let jobs = list_jobs(&d).await;
        let busy: Vec<_> = jobs
            .iter()
            .filter(|j| is(j, pb::JobStatus::Processing))
            .collect();
        (busy.len() == 2
            && busy
                .iter()
                .all(|j| j.rows_loaded == 150 && j.rows_scored == 0))
        .then_some(())
    })
    .await;
    // Held for several lease periods and many polls: still two, leases
    // renewed (nobody re-claimed), four waiting.
    let mut peak_processing = 0;
    let hold = Instant::now() + Duration::from_millis(3000);
    while Instant::now() < hold {
        let jobs = list_jobs(&d).await;
        peak_processing = peak_processing.max(count(&jobs, pb::JobStatus::Processing));
        assert_eq!(count(&jobs, pb::JobStatus::Pending), 4);
        assert!(jobs.iter().all(|j| j.attempts <= 1), "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(peak_processing, 2);
    let status = worker_status(&d).await;
    assert_eq!(status.active_job_ids.len(), 2);
    assert_eq!(status.concurrency, 2);
    // Open: all six complete, never more than two at once.
    gate.open();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = list_jobs(&d).await;
        peak_processing = peak_processing.max(count(&jobs, pb::JobStatus::Processing));
        if count(&jobs, pb::JobStatus::Completed) == 6 {
            break;
        }
        assert!(Instant::now() < deadline, "timed out: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(peak_processing, 2);
    // The worker counts an attempt after its job is marked completed, so
    // the last count may trail the last row by a moment.
    let status = eventually("the worker counts six completed attempts", || async {
        let status = worker_status(&d).await;
        (status.attempts_completed == 6).then_some(status)
    })
    .await;
    assert_eq!(status.peak_active_jobs, 2);
    for id in ids {
        let j = job(&d, id).await;
        assert_eq!((j.attempts, j.rows_scored), (1, 150 - 33), "{j:?}");
    }
}

async fn expired_lease_is_taken_over(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start_with_jobs(backend, &stack.node.url, &stack.registry.url, fast())
        .await
        .unwrap();
    ingest(&d, 300).await;
    let queued = backfill(&d, request("SYN000", "max")).await;
    // Another worker (its own store handle) claims the job with a short
    // lease and dies without finishing it.
    let other = joust_detect::store::open(&d.config.database_url)
        .await
        .unwrap();
    let now = joust_detect::domain::now_ms();
    let lease_until = now + 1500;
    let killed = Claim {
        owner: "killed-worker".into(),
        token: "killed-worker/1".into(),
        limit: 10,
        now_ms: now,
        lease_until_ms: lease_until,
    };
    let claimed = other.claim_jobs(&killed).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(other);
    let held = job(&d, queued.id).await;
    assert!(is(&held, pb::JobStatus::Processing));
    assert_eq!((held.worker.as_str(), held.attempts), ("killed-worker", 1));
    assert_eq!(held.lease_expires_at_ms, lease_until);

    // This service's workers wait for the lease to expire, then take the
    // job as its second attempt.
    let status = start_workers(&d, 0).await;
    let done = until_status(&d, queued.id, pb::JobStatus::Completed).await;
    assert_eq!(done.attempts, 2);
    assert!(done.completed_at_ms >= lease_until, "{done:?}");
    assert_eq!(done.started_at_ms, held.started_at_ms);
    assert_eq!(done.rows_scored, 267);
    assert_eq!(
        anomalies(&d, "SYN000").await.len() as u64,
        done.anomalies_found
    );
    eventually("the completed attempt counted", || async {
        (worker_status(&d).await.attempts_completed == 1).then_some(())
    })
    .await;
    // The dead worker's claim cannot touch the job any more.
    let other = joust_detect::store::open(&d.config.database_url)
        .await
        .unwrap();
    let progress = joust_detect::jobs::JobProgress::default();
    assert!(
        !other
            .renew_lease(held.id as i64, &killed.token, i64::MAX, &progress)
            .await
            .unwrap()
    );
    assert!(!status.worker_id.is_empty() && status.worker_id != "killed-worker");
}

async fn stop_puts_jobs_back(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let gate = Gate::closed(stack.node.addr).await.unwrap();
    let jobs = JobsConfig {
        start_workers: true,
        ..fast()
    };
    let d = TestDetect::start_with_jobs(backend, &gate.url, &stack.registry.url, jobs)
        .await
        .unwrap();
    ingest(&d, 120).await;
    let queued = backfill(&d, request("SYN000", "max")).await;
    eventually("the attempt's run started and its bars loaded", || async {
        let j = job(&d, queued.id).await;
        (is(&j, pb::JobStatus::Processing) && j.run_id > 0 && j.rows_loaded == 120).then_some(())
    })
    .await;
    // Stopping interrupts the hung attempt and puts the job back, its
    // attempt not counted; its run is marked failed.
    let stopped = d
        .client()
        .stop_workers(pb::StopWorkersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!stopped.running);
    assert!(stopped.active_job_ids.is_empty());
    let back = job(&d, queued.id).await;
    assert!(is(&back, pb::JobStatus::Pending), "{back:?}");
    assert_eq!(back.attempts, 0);
    let runs = d
        .client()
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .runs;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, pb::RunStatus::Failed as i32);
    assert!(runs[0].error.contains("workers stopped"), "{:?}", runs[0]);
    gate.open();
    start_workers(&d, 0).await;
    let done = until_status(&d, queued.id, pb::JobStatus::Completed).await;
    assert_eq!(done.attempts, 1);
}

/// `joust detect backfill --wait`, `job`, `jobs` and `workers` through the
/// binary, against `joust detect serve` scoring through a proxy that is cut
/// at the end to make a `--wait` fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_end_to_end() {
    let stack = ScoringStack::start().await.unwrap();
    let proxy = Partition::start(stack.node.addr).await.unwrap();
    let fast_flags = [
        "--backfill-poll-ms",
        "50",
        "--backfill-backoff-ms",
        "100",
        "--backfill-max-attempts",
        "2",
    ];
    let p = DetectProcess::start(&proxy.url, &stack.registry.url, &fast_flags)
        .await
        .unwrap();
    p.ok(&[
        "ingest",
        "--synthetic",
        "2",
        "--rows",
        "300",
        "--interval",
        "1d",
    ])
    .await;

    let out = p
        .ok(&[
            "backfill",
            "SYN000",
            "--period",
            "1y",
            "--interval",
            "1d",
            "--wait",
        ])
        .await;
    assert_eq!(out.len(), 1, "--json prints the final job only: {out:?}");
    let done = &out[0];
    assert_eq!(done["status"], "completed");
    assert_eq!(
        (done["attempts"].as_u64(), done["rows_scored"].as_u64()),
        (Some(1), Some(267))
    );
    assert_eq!(done["period"], "1y");
    let id = done["id"].as_u64().unwrap().to_string();
    assert_eq!(p.ok(&["job", &id]).await[0], *done);
    assert_eq!(p.ok(&["jobs"]).await.len(), 1);
    let text = p.run(&["jobs"], false).await;
    assert!(
        text.success && text.stdout.contains("completed (attempt 1/2)"),
        "{text:?}"
    );

    let status = p.ok(&["workers", "status"]).await;
    assert_eq!(status[0]["running"], true);
    assert_eq!(status[0]["concurrency"], 3);
    assert_eq!(status[0]["attempts_completed"], 1);
    assert_eq!(status[0]["jobs_by_status"]["completed"], 1);

    // Workers stopped: a job waits; a second one for the series is refused,
    // a malformed period too.
    assert_eq!(p.ok(&["workers", "stop"]).await[0]["running"], false);
    let queued = p
        .ok(&[
            "backfill",
            "SYN001",
            "--period",
            "max",
            "--priority",
            "high",
        ])
        .await;
    assert_eq!(queued[0]["status"], "pending");
    assert_eq!(queued[0]["priority"], "high");
    let queued_id = queued[0]["id"].as_u64().unwrap().to_string();
    let dup = p.run(&["backfill", "SYN001", "--period", "5y"], true).await;
    assert!(!dup.success);
    assert!(
        dup.stderr
            .contains(&format!("already pending as job {queued_id}")),
        "{dup:?}"
    );
    let bad = p
        .run(&["backfill", "SYN001", "--period", "5years"], true)
        .await;
    assert!(!bad.success);
    assert!(
        bad.stderr.contains("period: expected N followed by"),
        "{bad:?}"
    );
    assert_eq!(p.ok(&["jobs", "--status", "pending"]).await.len(), 1);
    let started = p.ok(&["workers", "start", "--concurrency", "2"]).await;
    assert_eq!(
        (
            started[0]["running"].as_bool(),
            started[0]["concurrency"].as_u64()
        ),
        (Some(true), Some(2))
    );
    eventually("the queued job completed", || async {
        let j = p.ok(&["job", &queued_id]).await;
        (j[0]["status"] == "completed").then_some(())
    })
    .await;

    // Scoring down: --wait follows the retries and exits non-zero.
    proxy.cut();
    let failed = p
        .run(
            &["backfill", "SYN000", "--period", "max", "--force", "--wait"],
            false,
        )
        .await;
    assert!(!failed.success, "{failed:?}");
    assert!(
        failed.stderr.contains("failed: attempt 2 of 2: scoring:"),
        "{failed:?}"
    );
    assert!(
        failed.stderr.contains(" pending (attempt 0/2)"),
        "{failed:?}"
    );
    assert!(
        failed.stdout.contains(" failed (attempt 2/2)"),
        "{failed:?}"
    );
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

both_backends!(
    lifecycle,
    bad_input,
    priority_order,
    retries_with_backoff,
    fails_after_max_attempts,
    registry_down_stores_nothing,
    concurrency_cap,
    expired_lease_is_taken_over,
    stop_puts_jobs_back,
);
