//! The backfill job queue in the detection store: one trait, one SQL
//! implementation for both backends (the claim differs only in its row
//! lock: PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers of
//! several services never wait for each other's rows; SQLite runs the same
//! `UPDATE … RETURNING` inside a `BEGIN IMMEDIATE` transaction, which holds
//! the database's single write lock).
//!
//! Every change to a claimed job is fenced by the claim's lease token: a
//! worker whose lease expired and whose job another worker took cannot
//! renew, fail or complete it any more.

use async_trait::async_trait;

use crate::domain::{NewAnomaly, Run, RunOutcome, SeriesMeta};
use crate::error::{DetectError, Result};
use crate::jobs::{Job, JobFilter, JobProgress, JobStatus, NewJob, Priority};

pub(crate) const JOB_COLUMNS: &str = "id, ticker, bar_interval, backfill_period, force_rescore, \
     priority, status, attempts, max_attempts, next_attempt_at_ms, lease_owner, lease_token, \
     lease_expires_at_ms, run_id, rows_loaded, rows_to_score, rows_scored, anomalies_found, error, \
     created_at_ms, started_at_ms, completed_at_ms, updated_at_ms";

/// A worker's claim of up to `limit` jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub owner: String,
    /// Fencing token of this claim (unique per claim).
    pub token: String,
    pub limit: usize,
    pub now_ms: i64,
    pub lease_until_ms: i64,
}

/// What a successful backfill attempt commits, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct BackfillCommit<'a> {
    pub job_id: i64,
    pub token: &'a str,
    pub run_id: i64,
    /// The series as read when the attempt started: the commit is refused
    /// (`Aborted`) if its detected range moved meanwhile.
    pub series: &'a SeriesMeta,
    /// The series' detected range after the commit.
    pub detected_from: Option<i64>,
    pub detected_to: Option<i64>,
    /// `force`: anomalies stored before for bars in this inclusive range
    /// are deleted first.
    pub replace: Option<(i64, i64)>,
    pub outcome: &'a RunOutcome,
    pub anomalies: &'a [NewAnomaly],
    pub progress: JobProgress,
}

/// The job queue's persistence.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Enqueues a pending job. A series with an active (pending,
    /// processing or retrying) job is refused with `FailedPrecondition`
    /// naming that job (a unique index holds this under concurrency).
    async fn enqueue_job(&self, job: &NewJob, now_ms: i64) -> Result<Job>;
    async fn get_job(&self, id: i64) -> Result<Job>;
    /// Newest first.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Jobs per status, by status name.
    async fn job_counts(&self) -> Result<Vec<(String, u64)>>;
    /// Processing jobs whose lease expired before `now_ms` go back to
    /// `retrying` (due at once), or to `failed` after their last attempt;
    /// their attempt's run is marked failed. Returns how many.
    async fn expire_leases(&self, now_ms: i64) -> Result<u64>;
    /// Claims up to `claim.limit` pending or retrying jobs due by
    /// `claim.now_ms`, high priority first then oldest: they become
    /// `processing`, attempts + 1, leased to the claim.
    async fn claim_jobs(&self, claim: &Claim) -> Result<Vec<Job>>;
    /// Extends the lease and writes the attempt's progress; `false` if the
    /// lease was lost.
    async fn renew_lease(
        &self,
        id: i64,
        token: &str,
        lease_until_ms: i64,
        progress: &JobProgress,
    ) -> Result<bool>;
    /// Ends a failed attempt: `retrying`, due `retry_after_ms` from now, or
    /// `failed` when `None`. `false` if the lease was lost.
    async fn fail_attempt(
        &self,
        id: i64,
        token: &str,
        error: &str,
        retry_after_ms: Option<i64>,
        progress: &JobProgress,
    ) -> Result<bool>;
    /// Puts an interrupted job back in the queue, due at once, without
    /// counting the attempt. `false` if the lease was lost.
    async fn release_job(&self, id: i64, token: &str) -> Result<bool>;
    /// In one transaction: completes the job (fenced by the lease token),
    /// moves the series' detected range (conditional on it being unchanged),
    /// replaces the anomalies of the range when forced, stores the new
    /// anomalies and completes the run. `Aborted` if the lease was lost or
    /// the series moved: nothing is written. Returns the run, the job and
    /// the anomalies as stored.
    async fn complete_backfill(
        &self,
        commit: &BackfillCommit<'_>,
    ) -> Result<(Run, Job, Vec<crate::domain::Anomaly>)>;
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    ticker: String,
    bar_interval: String,
    backfill_period: String,
    force_rescore: bool,
    priority: i32,
    status: String,
    attempts: i32,
    max_attempts: i32,
    next_attempt_at_ms: i64,
    lease_owner: String,
    lease_token: String,
    lease_expires_at_ms: Option<i64>,
    run_id: Option<i64>,
    rows_loaded: i64,
    rows_to_score: i64,
    rows_scored: i64,
    anomalies_found: i64,
    error: String,
    created_at_ms: i64,
    started_at_ms: Option<i64>,
    completed_at_ms: Option<i64>,
    updated_at_ms: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = DetectError;

    fn try_from(r: JobRow) -> Result<Self> {
        use crate::store::rows::u;
        Ok(Job {
            id: r.id,
            ticker: r.ticker,
            interval: r.bar_interval,
            period: r.backfill_period,
            force: r.force_rescore,
            priority: Priority::from_rank(r.priority)?,
            status: JobStatus::parse(&r.status)?,
            attempts: r.attempts.max(0) as u32,
            max_attempts: r.max_attempts.max(0) as u32,
            next_attempt_at_ms: r.next_attempt_at_ms,
            lease_owner: r.lease_owner,
            lease_token: r.lease_token,
            lease_expires_at_ms: r.lease_expires_at_ms,
            run_id: r.run_id,
            rows_loaded: u(r.rows_loaded),
            rows_to_score: u(r.rows_to_score),
            rows_scored: u(r.rows_scored),
            anomalies_found: u(r.anomalies_found),
            error: r.error,
            created_at_ms: r.created_at_ms,
            started_at_ms: r.started_at_ms,
            completed_at_ms: r.completed_at_ms,
            updated_at_ms: r.updated_at_ms,
        })
    }
}

/// The active statuses as a SQL list.
pub(crate) const ACTIVE: &str = "('pending', 'processing', 'retrying')";

/// Implements `JobStore` for `$store` over database `$db`; `$lock` is the
/// row-lock clause of the claim's and the lease sweep's SELECT.
macro_rules! impl_job_store {
    ($store:ty, $db:ty, $lock:expr) => {
        impl $store {
            async fn job_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
            ) -> $crate::error::Result<$crate::jobs::Job> {
                let sql = format!(
                    "SELECT {} FROM backfill_jobs WHERE id = $1",
                    $crate::store::jobs::JOB_COLUMNS
                );
                sqlx::query_as::<_, $crate::store::jobs::JobRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| {
                        $crate::error::DetectError::NotFound(format!("id: backfill job {id} not found"))
                    })?
                    .try_into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::jobs::JobStore for $store {
            async fn enqueue_job(
                &self,
                job: &$crate::jobs::NewJob,
                now_ms: i64,
            ) -> $crate::error::Result<$crate::jobs::Job> {
                let mut conn = self.pool.acquire().await?;
                // The active job may finish between the refused insert and
                // the look-up: then insert again.
                for _ in 0..3 {
                    let id: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO backfill_jobs (ticker, bar_interval, backfill_period, force_rescore,
                         priority, status, max_attempts, next_attempt_at_ms, created_at_ms, updated_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)
                         ON CONFLICT DO NOTHING RETURNING id",
                    )
                    .bind(&job.ticker)
                    .bind(&job.interval)
                    .bind(&job.period)
                    .bind(job.force)
                    .bind(job.priority.rank())
                    .bind($crate::jobs::JobStatus::Pending.as_str())
                    .bind(i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
                    .bind(now_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(id) = id {
                        return Self::job_row(&mut conn, id).await;
                    }
                    let sql = format!(
                        "SELECT id, status FROM backfill_jobs
                         WHERE ticker = $1 AND bar_interval = $2 AND status IN {}",
                        $crate::store::jobs::ACTIVE
                    );
                    let active: Option<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(&job.ticker)
                        .bind(&job.interval)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if let Some((id, status)) = active {
                        return Err($crate::error::DetectError::FailedPrecondition(format!(
                            "ticker: a backfill of {} {} is already {status} as job {id}; \
                             follow it with GetJob({id}) (`joust detect job {id}`) or wait until it ends",
                            job.ticker, job.interval
                        )));
                    }
                }
                Err($crate::error::DetectError::Aborted(format!(
                    "ticker: backfills of {} {} are being queued concurrently; retry",
                    job.ticker, job.interval
                )))
            }

            async fn get_job(&self, id: i64) -> $crate::error::Result<$crate::jobs::Job> {
                let mut conn = self.pool.acquire().await?;
                Self::job_row(&mut conn, id).await
            }

            async fn list_jobs(
                &self,
                filter: &$crate::jobs::JobFilter,
            ) -> $crate::error::Result<Vec<$crate::jobs::Job>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM backfill_jobs WHERE 1 = 1",
                    $crate::store::jobs::JOB_COLUMNS
                ));
                if let Some(t) = &filter.ticker {
                    qb.push(" AND ticker = ").push_bind(t.clone());
                }
                if let Some(iv) = &filter.interval {
                    qb.push(" AND bar_interval = ").push_bind(iv.clone());
                }
                if let Some(s) = filter.status {
                    qb.push(" AND status = ").push_bind(s.as_str());
                }
                if filter.before_id > 0 {
                    qb.push(" AND id < ").push_bind(filter.before_id);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
                qb.build_query_as::<$crate::store::jobs::JobRow>()
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn job_counts(&self) -> $crate::error::Result<Vec<(String, u64)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, COUNT(*) FROM backfill_jobs GROUP BY status ORDER BY status",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(s, n)| (s, $crate::store::rows::u(n)))
                    .collect())
            }

            async fn expire_leases(&self, now_ms: i64) -> $crate::error::Result<u64> {
                use $crate::jobs::JobStatus;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "SELECT id, run_id, attempts, max_attempts, lease_owner FROM backfill_jobs
                     WHERE status = 'processing' AND lease_expires_at_ms < $1{}",
                    $lock
                );
                let expired: Vec<(i64, Option<i64>, i32, i32, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(now_ms)
                        .fetch_all(&mut *tx)
                        .await?;
                for (id, run_id, attempts, max_attempts, owner) in &expired {
                    let error = format!(
                        "attempt {attempts}: the lease of worker {owner} expired \
                         (worker stopped, stuck or cut off from the database)"
                    );
                    if let Some(run_id) = run_id {
                        sqlx::query(
                            "UPDATE detection_runs SET status = $1, error = $2, completed_at_ms = $3
                             WHERE id = $4 AND status = $5",
                        )
                        .bind($crate::domain::RunStatus::Failed.as_str())
                        .bind(&error)
                        .bind(now_ms)
                        .bind(run_id)
                        .bind($crate::domain::RunStatus::InProgress.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    let last = attempts >= max_attempts;
                    let status = if last { JobStatus::Failed } else { JobStatus::Retrying };
                    sqlx::query(
                        "UPDATE backfill_jobs SET status = $1, error = $2, next_attempt_at_ms = $3,
                         completed_at_ms = $4, lease_owner = '', lease_token = '',
                         lease_expires_at_ms = NULL, updated_at_ms = $3 WHERE id = $5",
                    )
                    .bind(status.as_str())
                    .bind(&error)
                    .bind(now_ms)
                    .bind(last.then_some(now_ms))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(expired.len() as u64)
            }

            async fn claim_jobs(
                &self,
                claim: &$crate::store::jobs::Claim,
            ) -> $crate::error::Result<Vec<$crate::jobs::Job>> {
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "UPDATE backfill_jobs SET status = 'processing', attempts = attempts + 1,
                     lease_owner = $1, lease_token = $2, lease_expires_at_ms = $3,
                     started_at_ms = COALESCE(started_at_ms, $4), updated_at_ms = $4, run_id = NULL,
                     rows_loaded = 0, rows_to_score = 0, rows_scored = 0, anomalies_found = 0
                     WHERE id IN (SELECT id FROM backfill_jobs
                         WHERE status IN ('pending', 'retrying') AND next_attempt_at_ms <= $4
                         ORDER BY priority, id LIMIT $5{})
                     RETURNING {}",
                    $lock,
                    $crate::store::jobs::JOB_COLUMNS
                );
                let mut jobs = sqlx::query_as::<_, $crate::store::jobs::JobRow>(sqlx::AssertSqlSafe(sql))
                    .bind(&claim.owner)
                    .bind(&claim.token)
                    .bind(claim.lease_until_ms)
                    .bind(claim.now_ms)
                    .bind(i64::try_from(claim.limit).unwrap_or(i64::MAX))
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::error::Result<Vec<$crate::jobs::Job>>>()?;
                tx.commit().await?;
                // RETURNING does not keep the subquery's order.
                jobs.sort_by_key(|j| (j.priority, j.id));
                Ok(jobs)
            }

            async fn renew_lease(
                &self,
                id: i64,
                token: &str,
                lease_until_ms: i64,
                progress: &$crate::jobs::JobProgress,
            ) -> $crate::error::Result<bool> {
                use $crate::store::rows::i;
                let n = sqlx::query(
                    "UPDATE backfill_jobs SET lease_expires_at_ms = $1, run_id = $2, rows_loaded = $3,
                     rows_to_score = $4, rows_scored = $5, updated_at_ms = $6
                     WHERE id = $7 AND lease_token = $8 AND status = 'processing'",
                )
                .bind(lease_until_ms)
                .bind(progress.run_id)
                .bind(i(progress.rows_loaded))
                .bind(i(progress.rows_to_score))
                .bind(i(progress.rows_scored))
                .bind($crate::domain::now_ms())
                .bind(id)
                .bind(token)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn fail_attempt(
                &self,
                id: i64,
                token: &str,
                error: &str,
                retry_after_ms: Option<i64>,
                progress: &$crate::jobs::JobProgress,
            ) -> $crate::error::Result<bool> {
                use $crate::jobs::JobStatus;
                use $crate::store::rows::i;
                let now = $crate::domain::now_ms();
                let status = match retry_after_ms {
                    Some(_) => JobStatus::Retrying,
                    None => JobStatus::Failed,
                };
                let n = sqlx::query(
                    "UPDATE backfill_jobs SET status = $1, error = $2, next_attempt_at_ms = $3,
                     completed_at_ms = $4, updated_at_ms = $5, run_id = $6, rows_loaded = $7,
                     rows_to_score = $8, rows_scored = $9, anomalies_found = 0,
                     lease_owner = '', lease_token = '', lease_expires_at_ms = NULL
                     WHERE id = $10 AND lease_token = $11 AND status = 'processing'",
                )
                .bind(status.as_str())
                .bind(error)
                .bind(now.saturating_add(retry_after_ms.unwrap_or(0)))
                .bind(retry_after_ms.is_none().then_some(now))
                .bind(now)
                .bind(progress.run_id)
                .bind(i(progress.rows_loaded))
                .bind(i(progress.rows_to_score))
                .bind(i(progress.rows_scored))
                .bind(id)
                .bind(token)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn release_job(&self, id: i64, token: &str) -> $crate::error::Result<bool> {
                let now = $crate::domain::now_ms();
                let n = sqlx::query(
                    "UPDATE backfill_jobs SET attempts = attempts - 1,
                     status = CASE WHEN attempts <= 1 THEN 'pending' ELSE 'retrying' END,
                     next_attempt_at_ms = $1, updated_at_ms = $1,
                     lease_owner = '', lease_token = '', lease_expires_at_ms = NULL
                     WHERE id = $2 AND lease_token = $3 AND status = 'processing'",
                )
                .bind(now)
                .bind(id)
                .bind(token)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn complete_backfill(
                &self,
                c: &$crate::store::jobs::BackfillCommit<'_>,
            ) -> $crate::error::Result<(
                $crate::domain::Run,
                $crate::jobs::Job,
                Vec<$crate::domain::Anomaly>,
            )> {
                use $crate::store::rows::i;
                let now = $crate::domain::now_ms();
                let series = c.series;
                let mut tx = self.begin_write().await?;
                let fenced = sqlx::query(
                    "UPDATE backfill_jobs SET status = 'completed', completed_at_ms = $1,
                     updated_at_ms = $1, run_id = $2, rows_loaded = $3, rows_to_score = $4,
                     rows_scored = $5, anomalies_found = $6, error = '',
                     lease_owner = '', lease_token = '', lease_expires_at_ms = NULL
                     WHERE id = $7 AND lease_token = $8 AND status = 'processing'",
                )
                .bind(now)
                .bind(c.run_id)
                .bind(i(c.progress.rows_loaded))
                .bind(i(c.progress.rows_to_score))
                .bind(i(c.progress.rows_scored))
                .bind(i(c.anomalies.len() as u64))
                .bind(c.job_id)
                .bind(c.token)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if fenced != 1 {
                    return Err($crate::error::DetectError::Aborted(format!(
                        "job {}: this worker's lease was lost (another worker took the job over); \
                         the attempt's results are discarded",
                        c.job_id
                    )));
                }
                let moved = sqlx::query(
                    "UPDATE series SET last_detected_ts = $1, detected_from_ts = $2, model_version = $3
                     WHERE id = $4 AND COALESCE(last_detected_ts, $5) = $6
                     AND COALESCE(detected_from_ts, $5) = $7",
                )
                .bind(c.detected_to)
                .bind(c.detected_from)
                .bind(&c.outcome.model_version)
                .bind(series.id)
                .bind(i64::MIN)
                .bind(series.last_detected_ts.unwrap_or(i64::MIN))
                .bind(series.detected_from_ts.unwrap_or(i64::MIN))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Err($crate::error::DetectError::Aborted(format!(
                        "ticker: another detection of {} {} committed first; retry",
                        series.ticker, series.interval
                    )));
                }
                if let Some((from, to)) = c.replace {
                    // Their rule matches first (foreign key to anomalies).
                    sqlx::query(
                        "DELETE FROM anomaly_matches WHERE anomaly_id IN
                         (SELECT id FROM anomalies WHERE ticker = $1 AND bar_interval = $2
                          AND ts >= $3 AND ts <= $4)",
                    )
                    .bind(&series.ticker)
                    .bind(&series.interval)
                    .bind(from)
                    .bind(to)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "DELETE FROM anomalies WHERE ticker = $1 AND bar_interval = $2
                         AND ts >= $3 AND ts <= $4",
                    )
                    .bind(&series.ticker)
                    .bind(&series.interval)
                    .bind(from)
                    .bind(to)
                    .execute(&mut *tx)
                    .await?;
                }
                let (run, stored) =
                    Self::store_results(&mut tx, c.run_id, series, c.outcome, c.anomalies, now)
                        .await?;
                let job = Self::job_row(&mut tx, c.job_id).await?;
                tx.commit().await?;
                Ok((run, job, stored))
            }
        }
    };
}
