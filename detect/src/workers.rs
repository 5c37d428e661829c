//! A service's backfill workers: one dispatcher task polls the queue every
//! `poll_every` (an enqueue or a finished job wakes it at once), requeues
//! jobs whose lease expired, claims at most min(batch size, free slots)
//! jobs and runs each on one of `concurrency` slots. A running job renews
//! its lease and writes its progress every heartbeat; a job whose lease was
//! lost is dropped, a job interrupted by a stop is put back in the queue.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::backfill::AttemptProgress;
use crate::detector::Detector;
use crate::domain::now_ms;
use crate::error::{DetectError, Result};
use crate::jobs::{Job, JobStatus, ms};
use crate::store::jobs::Claim;

/// What `WorkerStatus` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    pub running: bool,
    pub worker_id: String,
    pub concurrency: usize,
    pub batch_size: usize,
    pub active_jobs: Vec<i64>,
    pub peak_active_jobs: usize,
    pub attempts_completed: u64,
    pub attempts_failed: u64,
    /// Jobs in the queue per status (every service's).
    pub jobs_by_status: Vec<(String, u64)>,
    /// Jobs waiting (pending + retrying), the limit and the alert length.
    pub queue_length: u64,
    pub max_queue_length: u64,
    pub queue_alert_length: u64,
    /// The last queue alert this service fired.
    pub last_queue_alert: Option<crate::queue::QueueAlert>,
}

/// Handle on one service's workers, cheap to clone.
#[derive(Clone)]
pub struct Workers {
    ctx: Arc<Ctx>,
    state: Arc<tokio::sync::Mutex<Option<Running>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("worker_id", &self.ctx.worker_id)
            .finish_non_exhaustive()
    }
}

/// What the dispatcher and its job tasks share.
struct Ctx {
    detector: Detector,
    worker_id: String,
    wake: Notify,
    active: Mutex<BTreeSet<i64>>,
    peak: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    claims: AtomicU64,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    concurrency: usize,
    batch_size: usize,
}

impl Drop for Running {
    /// The last handle gone without `stop` (an aborted server): end the
    /// dispatcher and, through its `JoinSet`, its jobs. Their leases expire
    /// and another worker takes them.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Workers {
    /// Workers for `detector` (not started).
    pub fn new(detector: Detector) -> Self {
        let worker_id = match detector.jobs().worker_id.as_str() {
            "" => {
                let random = uuid::Uuid::new_v4().simple().to_string();
                format!("detect-{}-{}", std::process::id(), &random[..8])
            }
            id => id.to_owned(),
        };
        Self {
            ctx: Arc::new(Ctx {
                detector,
                worker_id,
                wake: Notify::new(),
                active: Mutex::default(),
                peak: AtomicUsize::new(0),
                completed: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                claims: AtomicU64::new(0),
            }),
            state: Arc::default(),
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.ctx.worker_id
    }

    /// Starts the dispatcher (a no-op when running). `concurrency` and
    /// `batch_size` override the configured ones.
    pub async fn start(
        &self,
        concurrency: Option<usize>,
        batch_size: Option<usize>,
    ) -> Result<WorkerStatus> {
        let config = self.ctx.detector.jobs();
        let concurrency = concurrency.unwrap_or(config.concurrency);
        let batch_size = batch_size.unwrap_or(config.batch_size);
        if concurrency == 0 || concurrency > 1024 {
            return Err(DetectError::InvalidArgument(format!(
                "concurrency: expected 1-1024, got {concurrency}"
            )));
        }
        if batch_size == 0 || batch_size > 1000 {
            return Err(DetectError::InvalidArgument(format!(
                "batch_size: expected 1-1000, got {batch_size}"
            )));
        }
        {
            let mut state = self.state.lock().await;
            if state.as_ref().is_some_and(|r| r.task.is_finished()) {
                tracing::warn!("backfill dispatcher had ended; starting it again");
                *state = None;
            }
            if state.is_none() {
                let (stop, stopped) = watch::channel(false);
                let task =
                    tokio::spawn(dispatch(self.ctx.clone(), concurrency, batch_size, stopped));
                *state = Some(Running {
                    stop,
                    task,
                    concurrency,
                    batch_size,
                });
                tracing::info!(
                    worker = %self.ctx.worker_id,
                    concurrency,
                    batch_size,
                    "backfill workers started"
                );
            }
        }
        self.status().await
    }

    /// Stops claiming, interrupts the jobs in flight and puts them back in
    /// the queue, then returns. A no-op when stopped.
    pub async fn stop(&self) -> Result<WorkerStatus> {
        let running = self.state.lock().await.take();
        if let Some(mut running) = running {
            let _ = running.stop.send(true);
            if let Err(error) = (&mut running.task).await {
                tracing::warn!(%error, "backfill dispatcher ended abnormally");
            }
            tracing::info!(worker = %self.ctx.worker_id, "backfill workers stopped");
        }
        self.status().await
    }

    pub async fn status(&self) -> Result<WorkerStatus> {
        let (running, concurrency, batch_size) = match &*self.state.lock().await {
            Some(r) => (!r.task.is_finished(), r.concurrency, r.batch_size),
            None => {
                let c = self.ctx.detector.jobs();
                (false, c.concurrency, c.batch_size)
            }
        };
        let jobs_by_status = self.ctx.detector.store().job_counts().await?;
        let queue_length = crate::queue::waiting(&jobs_by_status);
        let jobs = self.ctx.detector.jobs();
        Ok(WorkerStatus {
            queue_length,
            max_queue_length: jobs.max_queue_length,
            queue_alert_length: jobs.queue_alert_length,
            last_queue_alert: self.ctx.detector.last_queue_alert(),
            running,
            worker_id: self.ctx.worker_id.clone(),
            concurrency,
            batch_size,
            active_jobs: self.ctx.active_jobs(),
            peak_active_jobs: self.ctx.peak.load(Ordering::Relaxed),
            attempts_completed: self.ctx.completed.load(Ordering::Relaxed),
            attempts_failed: self.ctx.failed.load(Ordering::Relaxed),
            jobs_by_status,
        })
    }

    /// Tells the dispatcher a job was queued (it polls at once).
    pub fn wake(&self) {
        self.ctx.wake.notify_one();
    }
}

impl Ctx {
    fn active_jobs(&self) -> Vec<i64> {
        match self.active.lock() {
            Ok(a) => a.iter().copied().collect(),
            Err(poisoned) => poisoned.get_ref().iter().copied().collect(),
        }
    }

    fn set_active(&self, id: i64, active: bool) {
        let mut set = match self.active.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        if active {
            set.insert(id);
            self.peak.fetch_max(set.len(), Ordering::Relaxed);
        } else {
            set.remove(&id);
        }
    }

    /// Requeues expired leases, then claims up to `limit` jobs.
    async fn poll(&self, limit: usize) -> Result<Vec<Job>> {
        let store = self.detector.store();
        let now = now_ms();
        let expired = store.expire_leases(now).await?;
        if expired > 0 {
            tracing::warn!(
                expired,
                "requeued backfill jobs whose worker lost its lease"
            );
        }
        let seq = self.claims.fetch_add(1, Ordering::Relaxed);
        let claim = Claim {
            owner: self.worker_id.clone(),
            token: format!("{}/{seq}", self.worker_id),
            limit,
            now_ms: now,
            lease_until_ms: now.saturating_add(ms(self.detector.jobs().lease)),
        };
        store.claim_jobs(&claim).await
    }
}

/// Resolves once `stop` holds `true` (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn dispatch(
    ctx: Arc<Ctx>,
    concurrency: usize,
    batch_size: usize,
    mut stop: watch::Receiver<bool>,
) {
    let poll_every = ctx.detector.jobs().poll_every;
    let mut jobs = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let free = concurrency.saturating_sub(jobs.len());
        let mut more = false;
        if free > 0 {
            let limit = free.min(batch_size);
            match ctx.poll(limit).await {
                Ok(claimed) => {
                    more = claimed.len() == limit && claimed.len() < free;
                    for job in claimed {
                        ctx.set_active(job.id, true);
                        jobs.spawn(run_job(ctx.clone(), job, stop.clone()));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "polling the backfill queue failed; retrying at the next poll");
                }
            }
        }
        if more {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll_every) => {}
            _ = ctx.wake.notified() => {}
            _ = stopped(&mut stop) => {}
            Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
        }
    }
    // The jobs saw the stop too: wait until they are back in the queue.
    while jobs.join_next().await.is_some() {}
}

enum End {
    Finished(Result<Box<(crate::domain::Run, Job)>>),
    LeaseLost,
    Stopped,
}

#[tracing::instrument(skip_all, fields(job = job.id, attempt = job.attempts, ticker = %job.ticker))]
async fn run_job(ctx: Arc<Ctx>, job: Job, mut stop: watch::Receiver<bool>) {
    let config = ctx.detector.jobs().clone();
    let store = ctx.detector.store().clone();
    let progress = AttemptProgress::default();
    let claimed = std::time::Instant::now();
    let metrics = ctx.detector.metrics().clone();
    let every = config.heartbeat_every();
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = {
        let mut attempt = Box::pin(ctx.detector.backfill_attempt(&job, &progress));
        loop {
            tokio::select! {
                r = &mut attempt => break End::Finished(r.map(Box::new)),
                _ = beat.tick() => {
                    let until = now_ms().saturating_add(ms(config.lease));
                    match store.renew_lease(job.id, &job.lease_token, until, &progress.snapshot()).await {
                        Ok(true) => {}
                        Ok(false) => break End::LeaseLost,
                        Err(error) => tracing::warn!(%error, "could not renew the lease; trying again at the next heartbeat"),
                    }
                }
                _ = stopped(&mut stop) => break End::Stopped,
            }
        }
    };
    let snapshot = progress.snapshot();
    match end {
        End::Finished(Ok(done)) => {
            let (run, done) = *done;
            ctx.completed.fetch_add(1, Ordering::Relaxed);
            metrics.job_attempt("completed", claimed.elapsed());
            tracing::info!(
                run = run.id,
                rows_scored = done.rows_scored,
                anomalies = done.anomalies_found,
                "backfill job completed"
            );
        }
        End::Finished(Err(error)) => {
            ctx.failed.fetch_add(1, Ordering::Relaxed);
            let retry = error.retryable() && job.attempts < job.max_attempts;
            let message = if error.retryable() {
                format!("attempt {} of {}: {error}", job.attempts, job.max_attempts)
            } else {
                format!("attempt {}: {error} (not retried)", job.attempts)
            };
            let after = retry.then(|| ms(config.retry_delay(job.attempts)));
            metrics.job_attempt(if retry { "retrying" } else { "failed" }, claimed.elapsed());
            match store
                .fail_attempt(job.id, &job.lease_token, &message, after, &snapshot)
                .await
            {
                Ok(true) if retry => {
                    tracing::warn!(%error, retry_in_ms = after, "backfill attempt failed; retrying")
                }
                Ok(true) => tracing::warn!(%error, "backfill job failed"),
                Ok(false) => {
                    tracing::warn!(%error, "backfill attempt failed after its lease was lost")
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not record the failed attempt; the lease will expire and the job be retried"
                ),
            }
        }
        End::LeaseLost | End::Stopped => {
            let stopping = matches!(end, End::Stopped);
            let released = stopping
                && match store.release_job(job.id, &job.lease_token).await {
                    Ok(released) => released,
                    Err(error) => {
                        tracing::warn!(
                            %error,
                            "could not put the job back; it is retried once its lease expires"
                        );
                        false
                    }
                };
            if released {
                metrics.job_attempt("released", claimed.elapsed());
                tracing::info!("attempt interrupted: backfill job put back in the queue");
                fail_run(
                    &ctx,
                    snapshot.run_id,
                    "attempt interrupted: workers stopped",
                )
                .await;
            } else {
                // The lease was lost, or the attempt committed just before
                // it was dropped.
                match store.get_job(job.id).await {
                    Ok(j) if j.status == JobStatus::Completed && j.run_id == snapshot.run_id => {
                        ctx.completed.fetch_add(1, Ordering::Relaxed);
                        metrics.job_attempt("completed", claimed.elapsed());
                        tracing::info!("backfill job completed");
                    }
                    _ => {
                        metrics.job_attempt("lease_lost", claimed.elapsed());
                        tracing::warn!("lease lost (expired and taken over): attempt abandoned");
                        fail_run(
                            &ctx,
                            snapshot.run_id,
                            "attempt abandoned: the worker lost its lease",
                        )
                        .await;
                    }
                }
            }
        }
    }
    ctx.set_active(job.id, false);
    ctx.wake.notify_one();
}

async fn fail_run(ctx: &Ctx, run_id: Option<i64>, error: &str) {
    if let Some(run_id) = run_id
        && let Err(e) = ctx
            .detector
            .store()
            .fail_run(run_id, error, ctx.detector.clock.now_ms())
            .await
    {
        tracing::warn!(error = %e, run = run_id, "could not mark the run failed");
    }
}
