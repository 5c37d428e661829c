//! The job queue's store contract on an in-memory SQLite database (the
//! end-to-end tests in `tests/tests/detect_backfill.rs` run it on
//! PostgreSQL and SQLite files through the service).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::features::Bar;

use crate::domain::{RunOutcome, Trigger};
use crate::error::DetectError;
use crate::jobs::{JobProgress, JobStatus, NewJob, Priority};
use crate::store::jobs::{BackfillCommit, Claim, JobStore};
use crate::store::{DetectStore, SqliteDetectStore};

async fn store() -> SqliteDetectStore {
    SqliteDetectStore::connect("sqlite::memory:").await.unwrap()
}

fn job(ticker: &str, priority: Priority) -> NewJob {
    NewJob {
        ticker: ticker.to_owned(),
        interval: "1d".to_owned(),
        period: "5y".to_owned(),
        force: false,
        priority,
        max_attempts: 2,
    }
}

fn claim(owner: &str, limit: usize, now: i64) -> Claim {
    Claim {
        owner: owner.to_owned(),
        token: format!("{owner}/{now}"),
        limit,
        now_ms: now,
        lease_until_ms: now + 1000,
    }
}

#[tokio::test]
async fn one_active_job_per_series() {
    let s = store().await;
    let first = s.enqueue_job(&job("A", Priority::Normal), 1).await.unwrap();
    assert_eq!(first.status, JobStatus::Pending);
    assert_eq!((first.attempts, first.max_attempts), (0, 2));
    let e = s
        .enqueue_job(&job("A", Priority::High), 2)
        .await
        .unwrap_err();
    assert!(matches!(e, DetectError::FailedPrecondition(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with("ticker:"), "{text}");
    assert!(
        text.contains(&format!("already pending as job {}", first.id)),
        "{text}"
    );
    // Another interval is another series.
    let other = NewJob {
        interval: "1h".to_owned(),
        ..job("A", Priority::Normal)
    };
    s.enqueue_job(&other, 3).await.unwrap();
    // Once the job has ended, the series takes a new one.
    let c = claim("w", 10, 10);
    let claimed = s.claim_jobs(&c).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        s.fail_attempt(first.id, &c.token, "boom", None, &JobProgress::default())
            .await
            .unwrap()
    );
    assert_eq!(s.get_job(first.id).await.unwrap().status, JobStatus::Failed);
    s.enqueue_job(&job("A", Priority::Normal), 20)
        .await
        .unwrap();
}

#[tokio::test]
async fn claims_go_by_priority_then_age_and_respect_the_limit() {
    let s = store().await;
    let low = s.enqueue_job(&job("L", Priority::Low), 1).await.unwrap();
    let normal = s.enqueue_job(&job("N", Priority::Normal), 2).await.unwrap();
    let high_old = s.enqueue_job(&job("H1", Priority::High), 3).await.unwrap();
    let high_new = s.enqueue_job(&job("H2", Priority::High), 4).await.unwrap();
    let first = s.claim_jobs(&claim("w", 2, 10)).await.unwrap();
    let ids: Vec<i64> = first.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![high_old.id, high_new.id]);
    for j in &first {
        assert_eq!(j.status, JobStatus::Processing);
        assert_eq!(j.attempts, 1);
        assert_eq!(j.lease_owner, "w");
        assert_eq!(j.lease_expires_at_ms, Some(1010));
        assert_eq!(j.started_at_ms, Some(10));
    }
    let rest = s.claim_jobs(&claim("w", 10, 11)).await.unwrap();
    let ids: Vec<i64> = rest.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![normal.id, low.id]);
    assert!(s.claim_jobs(&claim("w", 10, 12)).await.unwrap().is_empty());
}

#[tokio::test]
async fn leases_fence_and_expire() {
    let s = store().await;
    let queued = s.enqueue_job(&job("A", Priority::Normal), 1).await.unwrap();
    let first = claim("killed", 1, 10);
    assert_eq!(s.claim_jobs(&first).await.unwrap().len(), 1);
    // Not expired yet: nothing to sweep, nothing to claim.
    assert_eq!(s.expire_leases(1009).await.unwrap(), 0);
    assert!(
        s.claim_jobs(&claim("other", 1, 1009))
            .await
            .unwrap()
            .is_empty()
    );
    // Expired: back to retrying with the attempt counted.
    assert_eq!(s.expire_leases(1011).await.unwrap(), 1);
    let j = s.get_job(queued.id).await.unwrap();
    assert_eq!(j.status, JobStatus::Retrying);
    assert_eq!(j.attempts, 1);
    assert!(
        j.error.contains("lease of worker killed expired"),
        "{}",
        j.error
    );
    assert_eq!(j.lease_expires_at_ms, None);
    let second = claim("other", 1, 1012);
    let taken = s.claim_jobs(&second).await.unwrap();
    assert_eq!(taken[0].attempts, 2);
    assert_eq!(taken[0].started_at_ms, Some(10), "first start kept");
    // The old claim can no longer touch the job.
    let p = JobProgress::default();
    assert!(
        !s.renew_lease(queued.id, &first.token, 5000, &p)
            .await
            .unwrap()
    );
    assert!(
        !s.fail_attempt(queued.id, &first.token, "late", Some(1), &p)
            .await
            .unwrap()
    );
    assert!(!s.release_job(queued.id, &first.token).await.unwrap());
    assert!(
        s.renew_lease(queued.id, &second.token, 5000, &p)
            .await
            .unwrap()
    );
    // The last attempt's lease expires: failed.
    assert_eq!(s.expire_leases(5001).await.unwrap(), 1);
    let j = s.get_job(queued.id).await.unwrap();
    assert_eq!(j.status, JobStatus::Failed);
    assert_eq!(j.completed_at_ms, Some(5001));
}

#[tokio::test]
async fn a_failed_attempt_waits_for_its_backoff_and_a_release_is_not_counted() {
    let s = store().await;
    let queued = s.enqueue_job(&job("A", Priority::Normal), 1).await.unwrap();
    let c = claim("w", 1, 10);
    s.claim_jobs(&c).await.unwrap();
    let progress = JobProgress {
        run_id: Some(7),
        rows_loaded: 5,
        rows_to_score: 4,
        rows_scored: 3,
    };
    assert!(
        s.fail_attempt(
            queued.id,
            &c.token,
            "attempt 1 of 2: x",
            Some(60_000),
            &progress
        )
        .await
        .unwrap()
    );
    let j = s.get_job(queued.id).await.unwrap();
    assert_eq!(j.status, JobStatus::Retrying);
    assert_eq!(j.next_attempt_at_ms - j.updated_at_ms, 60_000);
    assert_eq!((j.rows_loaded, j.rows_scored, j.run_id), (5, 3, Some(7)));
    assert!(j.completed_at_ms.is_none());
    // Not due yet.
    assert!(
        s.claim_jobs(&claim("w", 1, j.updated_at_ms + 59_000))
            .await
            .unwrap()
            .is_empty()
    );
    let due = j.next_attempt_at_ms;
    let c2 = claim("w", 1, due);
    assert_eq!(s.claim_jobs(&c2).await.unwrap()[0].attempts, 2);
    // Interrupted: back in the queue at once, the attempt not counted.
    assert!(s.release_job(queued.id, &c2.token).await.unwrap());
    let j = s.get_job(queued.id).await.unwrap();
    assert_eq!((j.status, j.attempts), (JobStatus::Retrying, 1));
    assert_eq!(j.lease_owner, "");
}

#[tokio::test]
async fn a_backfill_commit_is_fenced_and_conditional() {
    let s = store().await;
    let bars: Vec<Bar> = (0..5)
        .map(|k| Bar {
            timestamp: 100 + k,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        })
        .collect();
    s.insert_bars("A", "1d", &bars).await.unwrap();
    let series = s.series("A", "1d").await.unwrap();
    let queued = s.enqueue_job(&job("A", Priority::Normal), 1).await.unwrap();
    let c = claim("w", 1, 10);
    s.claim_jobs(&c).await.unwrap();
    let run = s
        .start_run(Trigger::Backfill, "A", "1d", "m", 0)
        .await
        .unwrap();
    let outcome = RunOutcome::default();
    let commit = BackfillCommit {
        job_id: queued.id,
        token: "someone-else",
        run_id: run.id,
        series: &series,
        detected_from: Some(100),
        detected_to: Some(104),
        replace: None,
        outcome: &outcome,
        anomalies: &[],
        progress: JobProgress::default(),
    };
    let e = s.complete_backfill(&commit).await.unwrap_err();
    assert!(matches!(e, DetectError::Aborted(_)), "{e:?}");
    assert_eq!(s.series("A", "1d").await.unwrap().last_detected_ts, None);
    let (done_run, done, _) = s
        .complete_backfill(&BackfillCommit {
            token: &c.token,
            ..commit
        })
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.run_id, Some(run.id));
    assert_eq!(done_run.status, crate::domain::RunStatus::Complete);
    let moved = s.series("A", "1d").await.unwrap();
    assert_eq!(
        (moved.detected_from_ts, moved.last_detected_ts),
        (Some(100), Some(104))
    );
}
