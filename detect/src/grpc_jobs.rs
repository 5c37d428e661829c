//! The backfill RPCs of `joust.v1.Detection`: request conversion and
//! message building for jobs and workers. `grpc.rs` delegates here.

use joust_proto::v1 as pb;
use tonic::{Response, Status};

use crate::backfill::BackfillRequest;
use crate::detector::{DEFAULT_PAGE, Detector};
use crate::jobs::{Job, JobFilter, JobStatus, Priority};
use crate::workers::{WorkerStatus, Workers};

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn priority_from_pb(v: i32) -> Result<Priority, Status> {
    match pb::JobPriority::try_from(v) {
        Ok(pb::JobPriority::Unspecified | pb::JobPriority::Normal) => Ok(Priority::Normal),
        Ok(pb::JobPriority::High) => Ok(Priority::High),
        Ok(pb::JobPriority::Low) => Ok(Priority::Low),
        Err(_) => Err(Status::invalid_argument(format!(
            "priority: expected one of high, normal, low, got enum value {v}"
        ))),
    }
}

fn priority_to_pb(p: Priority) -> pb::JobPriority {
    match p {
        Priority::High => pb::JobPriority::High,
        Priority::Normal => pb::JobPriority::Normal,
        Priority::Low => pb::JobPriority::Low,
    }
}

fn status_from_pb(v: i32) -> Result<Option<JobStatus>, Status> {
    match pb::JobStatus::try_from(v) {
        Ok(pb::JobStatus::Unspecified) => Ok(None),
        Ok(pb::JobStatus::Pending) => Ok(Some(JobStatus::Pending)),
        Ok(pb::JobStatus::Processing) => Ok(Some(JobStatus::Processing)),
        Ok(pb::JobStatus::Retrying) => Ok(Some(JobStatus::Retrying)),
        Ok(pb::JobStatus::Completed) => Ok(Some(JobStatus::Completed)),
        Ok(pb::JobStatus::Failed) => Ok(Some(JobStatus::Failed)),
        Err(_) => Err(Status::invalid_argument(format!(
            "status: expected one of pending, processing, retrying, completed, failed, got enum value {v}"
        ))),
    }
}

fn status_to_pb(s: JobStatus) -> pb::JobStatus {
    match s {
        JobStatus::Pending => pb::JobStatus::Pending,
        JobStatus::Processing => pb::JobStatus::Processing,
        JobStatus::Retrying => pb::JobStatus::Retrying,
        JobStatus::Completed => pb::JobStatus::Completed,
        JobStatus::Failed => pb::JobStatus::Failed,
    }
}

fn id(field: &str, v: u64) -> Result<i64, Status> {
    i64::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Status::invalid_argument(format!("{field}: expected an id ≥ 1, got {v}")))
}

pub fn job_to_pb(j: Job) -> pb::BackfillJob {
    let Job {
        id,
        ticker,
        interval,
        period,
        force,
        priority,
        status,
        attempts,
        max_attempts,
        next_attempt_at_ms,
        lease_owner,
        lease_token: _,
        lease_expires_at_ms,
        run_id,
        rows_loaded,
        rows_to_score,
        rows_scored,
        anomalies_found,
        error,
        created_at_ms,
        started_at_ms,
        completed_at_ms,
        updated_at_ms,
    } = j;
    pb::BackfillJob {
        id: id.max(0) as u64,
        ticker,
        interval,
        period,
        force,
        priority: priority_to_pb(priority) as i32,
        status: status_to_pb(status) as i32,
        attempts,
        max_attempts,
        rows_loaded,
        rows_to_score,
        rows_scored,
        anomalies_found,
        error,
        next_attempt_at_ms: if status.is_active() {
            next_attempt_at_ms
        } else {
            0
        },
        run_id: run_id.unwrap_or(0).max(0) as u64,
        worker: lease_owner,
        lease_expires_at_ms: lease_expires_at_ms.unwrap_or(0),
        created_at_ms,
        started_at_ms: started_at_ms.unwrap_or(0),
        completed_at_ms: completed_at_ms.unwrap_or(0),
        updated_at_ms,
    }
}

fn worker_status_to_pb(s: WorkerStatus) -> pb::WorkerStatusResponse {
    let WorkerStatus {
        running,
        worker_id,
        concurrency,
        batch_size,
        active_jobs,
        peak_active_jobs,
        attempts_completed,
        attempts_failed,
        jobs_by_status,
        queue_length,
        max_queue_length,
        queue_alert_length,
        last_queue_alert,
    } = s;
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    pb::WorkerStatusResponse {
        running,
        worker_id,
        concurrency: n(concurrency),
        batch_size: n(batch_size),
        active_job_ids: active_jobs.into_iter().map(|j| j.max(0) as u64).collect(),
        peak_active_jobs: n(peak_active_jobs),
        attempts_completed,
        attempts_failed,
        jobs_by_status: jobs_by_status
            .into_iter()
            .map(|(key, count)| pb::StatCount { key, count })
            .collect(),
        queue_length,
        max_queue_length,
        queue_alert_length,
        last_queue_alert: last_queue_alert.map(|a| pb::QueueAlert {
            waiting: a.waiting,
            alert_length: a.alert_length,
            max_queue_length: a.max_queue_length,
            at_ms: a.at_ms,
        }),
    }
}

pub(crate) async fn backfill(
    detector: &Detector,
    workers: &Workers,
    request: pb::BackfillRequest,
) -> Result<Response<pb::BackfillJob>, Status> {
    let pb::BackfillRequest {
        ticker,
        period,
        interval,
        force,
        priority,
    } = request;
    let priority = priority_from_pb(priority)?;
    let job = detector
        .backfill(BackfillRequest {
            ticker,
            period,
            interval,
            force,
            priority,
        })
        .await?;
    workers.wake();
    Ok(Response::new(job_to_pb(job)))
}

pub(crate) async fn get_job(
    detector: &Detector,
    request: pb::GetJobRequest,
) -> Result<Response<pb::BackfillJob>, Status> {
    let pb::GetJobRequest { id: job_id } = request;
    let job = detector.get_job(id("id", job_id)?).await?;
    Ok(Response::new(job_to_pb(job)))
}

pub(crate) async fn list_jobs(
    detector: &Detector,
    request: pb::ListJobsRequest,
) -> Result<Response<pb::ListJobsResponse>, Status> {
    let pb::ListJobsRequest {
        ticker,
        interval,
        status,
        limit,
        page_token,
    } = request;
    let before_id = if page_token.is_empty() {
        0
    } else {
        page_token
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "page_token: expected a next_page_token from a previous page, got {page_token:?}"
                ))
            })?
    };
    let filter = JobFilter {
        ticker: non_empty(ticker),
        interval: non_empty(interval),
        status: status_from_pb(status)?,
        before_id,
        limit,
    };
    let jobs = detector.list_jobs(filter).await?;
    let page = if limit == 0 { DEFAULT_PAGE } else { limit };
    let next = match jobs.last() {
        Some(j) if jobs.len() == page as usize => j.id.to_string(),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListJobsResponse {
        jobs: jobs.into_iter().map(job_to_pb).collect(),
        next_page_token: next,
    }))
}

pub(crate) async fn start_workers(
    workers: &Workers,
    request: pb::StartWorkersRequest,
) -> Result<Response<pb::WorkerStatusResponse>, Status> {
    let pb::StartWorkersRequest {
        concurrency,
        batch_size,
    } = request;
    let opt = |v: u32| (v > 0).then_some(v as usize);
    let status = workers.start(opt(concurrency), opt(batch_size)).await?;
    Ok(Response::new(worker_status_to_pb(status)))
}

pub(crate) async fn stop_workers(
    workers: &Workers,
    request: pb::StopWorkersRequest,
) -> Result<Response<pb::WorkerStatusResponse>, Status> {
    let pb::StopWorkersRequest {} = request;
    Ok(Response::new(worker_status_to_pb(workers.stop().await?)))
}

pub(crate) async fn worker_status(
    workers: &Workers,
    request: pb::WorkerStatusRequest,
) -> Result<Response<pb::WorkerStatusResponse>, Status> {
    let pb::WorkerStatusRequest {} = request;
    Ok(Response::new(worker_status_to_pb(workers.status().await?)))
}
