//! `joust detect backfill|job|jobs|workers`: queue backfills, follow them
//! (`--wait` draws a progress bar), and start or stop a service's workers;
//! plus the `joust detect serve` flags of the job queue.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use joust_proto::v1 as pb;

use super::target::{Target, client};

/// `joust detect serve` flags of the backfill queue and workers.
#[derive(Debug, Clone, clap::Args)]
pub struct JobsFlags {
    /// Do not start the backfill workers with the service (start them
    /// later with `joust detect workers start`).
    #[arg(long, env = "JOUST_DETECT_NO_WORKERS")]
    pub no_workers: bool,
    /// Backfill jobs processed at once by this service.
    #[arg(long, env = "JOUST_DETECT_BACKFILL_CONCURRENCY", default_value_t = 3)]
    pub backfill_concurrency: usize,
    /// Most backfill jobs claimed per queue poll.
    #[arg(long, env = "JOUST_DETECT_BACKFILL_BATCH_SIZE", default_value_t = 10)]
    pub backfill_batch_size: usize,
    /// Attempts before a backfill job is failed.
    #[arg(long, env = "JOUST_DETECT_BACKFILL_MAX_ATTEMPTS", default_value_t = 3)]
    pub backfill_max_attempts: u32,
    /// Delay before the second attempt, in ms (doubled for each further one).
    #[arg(long, env = "JOUST_DETECT_BACKFILL_BACKOFF_MS", default_value_t = 5000)]
    pub backfill_backoff_ms: u64,
    /// Longest delay between attempts, in ms.
    #[arg(
        long,
        env = "JOUST_DETECT_BACKFILL_BACKOFF_MAX_MS",
        default_value_t = 300_000
    )]
    pub backfill_backoff_max_ms: u64,
    /// Lease of a claimed job, in ms: renewed every third of it; a job whose
    /// worker stops renewing is taken by another worker once it expires.
    #[arg(long, env = "JOUST_DETECT_BACKFILL_LEASE_MS", default_value_t = 60_000)]
    pub backfill_lease_ms: u64,
    /// Queue poll period when idle, in ms (a new job wakes the workers).
    #[arg(long, env = "JOUST_DETECT_BACKFILL_POLL_MS", default_value_t = 1000)]
    pub backfill_poll_ms: u64,
    /// Lease owner name of this service's workers (default: generated).
    #[arg(long, env = "JOUST_DETECT_WORKER_ID", default_value = "")]
    pub worker_id: String,
    /// Most backfill jobs waiting (pending + retrying): a backfill beyond
    /// it is refused RESOURCE_EXHAUSTED; 0 = no limit.
    #[arg(long, env = "JOUST_DETECT_MAX_QUEUE_LENGTH", default_value_t = 1000)]
    pub max_queue_length: u64,
    /// Queue length at which the queue alert fires (a log line, a metric and
    /// a `detect.queue_alert` webhook event); 0 = no alert.
    #[arg(long, env = "JOUST_DETECT_QUEUE_ALERT_LENGTH", default_value_t = 800)]
    pub queue_alert_length: u64,
    /// How often the queue monitor reads the queue length, in ms.
    #[arg(long, env = "JOUST_DETECT_QUEUE_MONITOR_MS", default_value_t = 5000)]
    pub queue_monitor_ms: u64,
}

impl JobsFlags {
    pub fn config(&self) -> joust_detect::JobsConfig {
        joust_detect::JobsConfig {
            start_workers: !self.no_workers,
            concurrency: self.backfill_concurrency,
            batch_size: self.backfill_batch_size,
            max_attempts: self.backfill_max_attempts,
            backoff_base: Duration::from_millis(self.backfill_backoff_ms),
            backoff_max: Duration::from_millis(self.backfill_backoff_max_ms),
            lease: Duration::from_millis(self.backfill_lease_ms),
            poll_every: Duration::from_millis(self.backfill_poll_ms),
            worker_id: self.worker_id.clone(),
            max_queue_length: self.max_queue_length,
            queue_alert_length: self.queue_alert_length,
            monitor_every: Duration::from_millis(self.queue_monitor_ms),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PriorityArg {
    High,
    Normal,
    Low,
}

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub target: Target,
    /// Ticker of the series.
    pub ticker: String,
    /// How far back from the newest bar: N followed by h, d, wk, mo or y
    /// (5y, 6mo, 30d), or max.
    #[arg(long, env = "JOUST_DETECT_PERIOD", default_value = "5y")]
    pub period: String,
    /// Bar interval.
    #[arg(long, env = "JOUST_DETECT_INTERVAL", default_value = "1d")]
    pub interval: String,
    /// Re-score bars already detected (their anomalies are replaced).
    #[arg(long, env = "JOUST_DETECT_FORCE")]
    pub force: bool,
    /// Queue priority (high jobs are claimed first, then the oldest).
    #[arg(
        long,
        env = "JOUST_DETECT_PRIORITY",
        value_enum,
        default_value = "normal"
    )]
    pub priority: PriorityArg,
    /// Follow the job to its end with a progress bar; exit non-zero if it
    /// fails.
    #[arg(long, env = "JOUST_DETECT_WAIT")]
    pub wait: bool,
    /// Poll period of --wait, in ms.
    #[arg(long, env = "JOUST_DETECT_WAIT_POLL_MS", default_value_t = 250)]
    pub poll_ms: u64,
}

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub target: Target,
    /// Id of the backfill job.
    pub id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Pending,
    Processing,
    Retrying,
    Completed,
    Failed,
}

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Only jobs of this ticker.
    #[arg(long, env = "JOUST_DETECT_TICKER")]
    pub ticker: Option<String>,
    /// Only jobs in this state.
    #[arg(long, env = "JOUST_DETECT_JOB_STATUS", value_enum)]
    pub status: Option<StatusArg>,
    /// Page size (at most 1000), newest first.
    #[arg(long, env = "JOUST_DETECT_LIMIT", default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, clap::Args)]
pub struct WorkersArgs {
    #[command(subcommand)]
    pub command: WorkersCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WorkersCommand {
    /// Start the service's backfill workers.
    Start(WorkersStartArgs),
    /// Stop them: jobs in flight go back to the queue.
    Stop(WorkersTarget),
    /// Whether they run, the jobs in flight, and the queue per status.
    Status(WorkersTarget),
}

#[derive(Debug, clap::Args)]
pub struct WorkersTarget {
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, clap::Args)]
pub struct WorkersStartArgs {
    #[command(flatten)]
    pub target: Target,
    /// Jobs processed at once (default: the service's setting).
    #[arg(long, env = "JOUST_DETECT_BACKFILL_CONCURRENCY")]
    pub concurrency: Option<u32>,
    /// Most jobs claimed per poll (default: the service's setting).
    #[arg(long, env = "JOUST_DETECT_BACKFILL_BATCH_SIZE")]
    pub batch_size: Option<u32>,
}

pub async fn backfill(a: BackfillArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let priority = match a.priority {
        PriorityArg::High => pb::JobPriority::High,
        PriorityArg::Normal => pb::JobPriority::Normal,
        PriorityArg::Low => pb::JobPriority::Low,
    };
    let job = c
        .backfill(pb::BackfillRequest {
            ticker: a.ticker,
            period: a.period,
            interval: a.interval,
            force: a.force,
            priority: priority as i32,
        })
        .await?
        .into_inner();
    if !a.wait {
        print_job(&job, a.target.any_json());
        return Ok(());
    }
    let bar = WaitBar::new(a.target.any_json());
    let mut job = job;
    loop {
        bar.show(&job);
        if let Ok(pb::JobStatus::Completed | pb::JobStatus::Failed) =
            pb::JobStatus::try_from(job.status)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(a.poll_ms.max(10))).await;
        job = c
            .get_job(pb::GetJobRequest { id: job.id })
            .await?
            .into_inner();
    }
    bar.finish();
    print_job(&job, a.target.any_json());
    if job.status == pb::JobStatus::Failed as i32 {
        anyhow::bail!("backfill job {} failed: {}", job.id, job.error);
    }
    Ok(())
}

/// The progress of `--wait`: a bar on a terminal, otherwise one line on
/// stderr per change of state (none with --json).
struct WaitBar {
    bar: Option<ProgressBar>,
    lines: bool,
    last: std::cell::Cell<(i32, u32)>,
}

impl WaitBar {
    fn new(json: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner:.cyan} [{elapsed}] {bar:30.cyan/blue} {pos}/{len} rows {msg}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            lines: !terminal && !json,
            last: std::cell::Cell::new((-1, 0)),
        }
    }

    fn show(&self, job: &pb::BackfillJob) {
        let message = format!(
            "job {} {} (attempt {}/{}){}",
            job.id,
            job_status(job.status),
            job.attempts,
            job.max_attempts,
            if job.error.is_empty() || job.status == pb::JobStatus::Completed as i32 {
                String::new()
            } else {
                format!(": {}", job.error)
            }
        );
        if let Some(bar) = &self.bar {
            bar.set_length(job.rows_to_score);
            bar.set_position(job.rows_scored);
            bar.set_message(message);
        } else if self.lines {
            let key = (job.status, job.attempts);
            if self.last.get() != key {
                eprintln!("{message}");
                self.last.set(key);
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub async fn job(a: JobArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let job = c
        .get_job(pb::GetJobRequest { id: a.id })
        .await?
        .into_inner();
    print_job(&job, a.target.any_json());
    Ok(())
}

pub async fn jobs(a: JobsArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let status = match a.status {
        None => pb::JobStatus::Unspecified,
        Some(StatusArg::Pending) => pb::JobStatus::Pending,
        Some(StatusArg::Processing) => pb::JobStatus::Processing,
        Some(StatusArg::Retrying) => pb::JobStatus::Retrying,
        Some(StatusArg::Completed) => pb::JobStatus::Completed,
        Some(StatusArg::Failed) => pb::JobStatus::Failed,
    };
    let r = c
        .list_jobs(pb::ListJobsRequest {
            ticker: a.ticker.unwrap_or_default(),
            interval: String::new(),
            status: status as i32,
            limit: a.limit,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    if a.target.json {
        let jobs: Vec<_> = r.jobs.iter().map(job_json).collect();
        outln!("{}", serde_json::json!({ "jobs": jobs }));
        return Ok(());
    }
    for job in &r.jobs {
        print_job(job, a.target.json_lines);
    }
    Ok(())
}

pub async fn workers(a: WorkersArgs) -> anyhow::Result<()> {
    let (target, status) = match a.command {
        WorkersCommand::Start(s) => {
            let mut c = client(&s.target).await?;
            let r = c
                .start_workers(pb::StartWorkersRequest {
                    concurrency: s.concurrency.unwrap_or(0),
                    batch_size: s.batch_size.unwrap_or(0),
                })
                .await?;
            (s.target, r.into_inner())
        }
        WorkersCommand::Stop(s) => {
            let mut c = client(&s.target).await?;
            let r = c.stop_workers(pb::StopWorkersRequest {}).await?;
            (s.target, r.into_inner())
        }
        WorkersCommand::Status(s) => {
            let mut c = client(&s.target).await?;
            let r = c.worker_status(pb::WorkerStatusRequest {}).await?;
            (s.target, r.into_inner())
        }
    };
    let queue: std::collections::BTreeMap<String, u64> = status
        .jobs_by_status
        .iter()
        .map(|c| (c.key.clone(), c.count))
        .collect();
    if target.any_json() {
        outln!(
            "{}",
            serde_json::json!({
                "running": status.running, "worker_id": status.worker_id,
                "concurrency": status.concurrency, "batch_size": status.batch_size,
                "active_job_ids": status.active_job_ids,
                "peak_active_jobs": status.peak_active_jobs,
                "attempts_completed": status.attempts_completed,
                "attempts_failed": status.attempts_failed,
                "jobs_by_status": queue,
            })
        );
    } else {
        outln!(
            "workers {} ({}): {} of {} slots busy {:?}, batch {}, {} attempts completed, {} failed",
            if status.running { "running" } else { "stopped" },
            status.worker_id,
            status.active_job_ids.len(),
            status.concurrency,
            status.active_job_ids,
            status.batch_size,
            status.attempts_completed,
            status.attempts_failed,
        );
        for (k, n) in &queue {
            outln!("  {k}: {n}");
        }
    }
    Ok(())
}

fn job_status(raw: i32) -> &'static str {
    match pb::JobStatus::try_from(raw) {
        Ok(pb::JobStatus::Pending) => "pending",
        Ok(pb::JobStatus::Processing) => "processing",
        Ok(pb::JobStatus::Retrying) => "retrying",
        Ok(pb::JobStatus::Completed) => "completed",
        Ok(pb::JobStatus::Failed) => "failed",
        _ => "unspecified",
    }
}

fn job_priority(raw: i32) -> &'static str {
    match pb::JobPriority::try_from(raw) {
        Ok(pb::JobPriority::High) => "high",
        Ok(pb::JobPriority::Low) => "low",
        _ => "normal",
    }
}

/// A job as one JSON object.
fn job_json(j: &pb::BackfillJob) -> serde_json::Value {
    serde_json::json!({
                "id": j.id, "ticker": j.ticker, "interval": j.interval, "period": j.period,
                "force": j.force, "priority": job_priority(j.priority),
                "status": job_status(j.status), "attempts": j.attempts,
                "max_attempts": j.max_attempts, "rows_loaded": j.rows_loaded,
                "rows_to_score": j.rows_to_score, "rows_scored": j.rows_scored,
                "anomalies_found": j.anomalies_found, "error": j.error,
                "next_attempt_at_ms": j.next_attempt_at_ms, "run_id": j.run_id,
                "worker": j.worker, "lease_expires_at_ms": j.lease_expires_at_ms,
                "created_at_ms": j.created_at_ms, "started_at_ms": j.started_at_ms,
                "completed_at_ms": j.completed_at_ms, "updated_at_ms": j.updated_at_ms,
    })
}

fn print_job(j: &pb::BackfillJob, json: bool) {
    if json {
        outln!("{}", job_json(j));
    } else {
        outln!(
            "job {} {} {} {}{} [{}]: {} (attempt {}/{}), scored {} of {} rows, {} anomalies{}{}",
            j.id,
            j.ticker,
            j.interval,
            j.period,
            if j.force { " force" } else { "" },
            job_priority(j.priority),
            job_status(j.status),
            j.attempts,
            j.max_attempts,
            j.rows_scored,
            j.rows_to_score,
            j.anomalies_found,
            if j.run_id > 0 {
                format!(", run {}", j.run_id)
            } else {
                String::new()
            },
            if j.error.is_empty() {
                String::new()
            } else {
                format!(": {}", j.error)
            }
        );
    }
}
