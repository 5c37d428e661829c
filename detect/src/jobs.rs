//! The backfill job queue's domain: job states, priorities, backfill
//! periods, the queue's settings and the retry backoff. No database, gRPC
//! or task types here (the store is `store::jobs`, the workers
//! `workers.rs`, what one attempt does `backfill.rs`).

use std::time::Duration;

use chrono::{DateTime, Months};

use crate::error::{DetectError, Result};

/// The state of a backfill job.
///
/// `pending → processing → completed`; a failed attempt goes to
/// `retrying` (claimable again after its backoff) or, after the last
/// attempt, `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Pending,
    Processing,
    Retrying,
    Completed,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Retrying,
        JobStatus::Completed,
        JobStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Retrying => "retrying",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                DetectError::Corrupt(format!("backfill_jobs.status: unknown value {text:?}"))
            })
    }

    /// Pending, processing or retrying: the series has a job in flight.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobStatus::Pending | JobStatus::Processing | JobStatus::Retrying
        )
    }
}

/// Claim order: high before normal before low, then oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    High,
    Normal,
    Low,
}

impl Priority {
    /// The stored rank (claims go by ascending rank).
    pub fn rank(self) -> i32 {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Low => 2,
        }
    }

    pub fn from_rank(rank: i32) -> Result<Self> {
        match rank {
            0 => Ok(Priority::High),
            1 => Ok(Priority::Normal),
            2 => Ok(Priority::Low),
            other => Err(DetectError::Corrupt(format!(
                "backfill_jobs.priority: unknown rank {other}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// How far back from the newest bar a backfill goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Every bar of the series.
    Max,
    Hours(u32),
    Days(u32),
    Weeks(u32),
    /// Calendar months (a year is 12).
    Months(u32),
}

/// Largest count of a period unit (100 years of hours fits).
const MAX_PERIOD_COUNT: u32 = 1_000_000;

impl Period {
    /// Parses `5y`, `6mo`, `2wk`, `30d`, `12h` or `max`; the error names
    /// `field` and the accepted forms.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        let bad = || {
            DetectError::InvalidArgument(format!(
                "{field}: expected N followed by h, d, wk, mo or y (e.g. 5y, 6mo, 30d), or max; got {text:?}"
            ))
        };
        if text == "max" {
            return Ok(Period::Max);
        }
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (count, unit) = text.split_at(digits);
        let n: u32 = count.parse().map_err(|_| bad())?;
        if n == 0 || n > MAX_PERIOD_COUNT {
            return Err(bad());
        }
        match unit {
            "h" => Ok(Period::Hours(n)),
            "d" => Ok(Period::Days(n)),
            "wk" => Ok(Period::Weeks(n)),
            "mo" => Ok(Period::Months(n)),
            "y" => n.checked_mul(12).map(Period::Months).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// The bars in the period are those with a timestamp after the
    /// returned cutoff (unix seconds); `None`: every bar.
    pub fn cutoff(self, newest: i64) -> Option<i64> {
        let seconds = |n: u32, unit: i64| Some(newest.saturating_sub(i64::from(n) * unit));
        match self {
            Period::Max => None,
            Period::Hours(n) => seconds(n, 3600),
            Period::Days(n) => seconds(n, 86_400),
            Period::Weeks(n) => seconds(n, 604_800),
            Period::Months(n) => {
                // Calendar months; before chrono's range: every bar.
                DateTime::from_timestamp(newest, 0)
                    .and_then(|t| t.checked_sub_months(Months::new(n)))
                    .map(|t| t.timestamp())
            }
        }
    }
}

/// A stored backfill job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub ticker: String,
    pub interval: String,
    pub period: String,
    pub force: bool,
    pub priority: Priority,
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_attempt_at_ms: i64,
    pub lease_owner: String,
    pub lease_token: String,
    pub lease_expires_at_ms: Option<i64>,
    pub run_id: Option<i64>,
    pub rows_loaded: u64,
    pub rows_to_score: u64,
    pub rows_scored: u64,
    pub anomalies_found: u64,
    pub error: String,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub completed_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

/// A job to enqueue (already validated).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub ticker: String,
    pub interval: String,
    pub period: String,
    pub force: bool,
    pub priority: Priority,
    pub max_attempts: u32,
}

/// Which jobs to list, newest first; `before_id` pages (0 = from newest).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub ticker: Option<String>,
    pub interval: Option<String>,
    pub status: Option<JobStatus>,
    pub before_id: i64,
    pub limit: u32,
}

/// Progress of an attempt, written with each lease renewal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub run_id: Option<i64>,
    pub rows_loaded: u64,
    pub rows_to_score: u64,
    pub rows_scored: u64,
}

/// Settings of the queue and of one service's workers.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsConfig {
    /// Start the workers with the service.
    pub start_workers: bool,
    /// Jobs processed at once by one service.
    pub concurrency: usize,
    /// Most jobs claimed per poll (a poll claims at most the free slots).
    pub batch_size: usize,
    /// Attempts before a job is `failed` (stored per job at enqueue).
    pub max_attempts: u32,
    /// Delay before the 2nd attempt; doubled for each further one.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// Queue poll period when idle (an enqueue wakes the workers at once).
    pub poll_every: Duration,
    /// Lease owner name ("" = generated: `detect-PID-RANDOM`).
    pub worker_id: String,
    /// Most jobs waiting (pending + retrying) in the queue: a `Backfill`
    /// beyond it is refused `RESOURCE_EXHAUSTED` (0 = no limit).
    pub max_queue_length: u64,
    /// Queue length at which the queue alert fires (once per crossing;
    /// 0 = no alert).
    pub queue_alert_length: u64,
    /// How often the queue monitor reads the queue length (metrics, alert).
    pub monitor_every: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            start_workers: true,
            concurrency: 3,
            batch_size: 10,
            max_attempts: 3,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            poll_every: Duration::from_secs(1),
            worker_id: String::new(),
            max_queue_length: 1000,
            queue_alert_length: 800,
            monitor_every: Duration::from_secs(5),
        }
    }
}

impl JobsConfig {
    /// Checks the settings (before any port is bound).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(DetectError::Config(format!("backfill jobs: {what}")));
        if self.concurrency == 0 || self.concurrency > 1024 {
            return bad(&format!(
                "concurrency: expected 1-1024, got {}",
                self.concurrency
            ));
        }
        if self.batch_size == 0 || self.batch_size > 1000 {
            return bad(&format!(
                "batch size: expected 1-1000, got {}",
                self.batch_size
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return bad(&format!(
                "max attempts: expected 1-100, got {}",
                self.max_attempts
            ));
        }
        if self.lease < Duration::from_millis(300) {
            return bad(&format!(
                "lease: expected at least 300 ms, got {:?}",
                self.lease
            ));
        }
        if self.poll_every.is_zero() {
            return bad("poll period: expected more than 0");
        }
        if self.monitor_every.is_zero() {
            return bad("queue monitor period: expected more than 0");
        }
        if self.max_queue_length > 0 && self.queue_alert_length > self.max_queue_length {
            return bad(&format!(
                "queue alert length: expected at most the max queue length ({}), got {}",
                self.max_queue_length, self.queue_alert_length
            ));
        }
        Ok(())
    }

    /// Delay before the attempt after attempt number `attempts` (1-based)
    /// failed: `base × 2^(attempts − 1)`, at most `backoff_max`.
    /// Exact (no jitter): the schedule is stored and shown.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        joust_runtime::backoff(self.backoff_base, self.backoff_max, attempts, 0.0)
    }

    /// How often a worker renews its lease and writes progress.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease / 3).min(Duration::from_secs(1))
    }
}

/// A duration in milliseconds as the stores keep it.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn periods_parse() {
        assert_eq!(Period::parse("period", "5y").unwrap(), Period::Months(60));
        assert_eq!(Period::parse("period", "6mo").unwrap(), Period::Months(6));
        assert_eq!(Period::parse("period", "30d").unwrap(), Period::Days(30));
        assert_eq!(Period::parse("period", "2wk").unwrap(), Period::Weeks(2));
        assert_eq!(Period::parse("period", "12h").unwrap(), Period::Hours(12));
        assert_eq!(Period::parse("period", "max").unwrap(), Period::Max);
        for bad in [
            "", "y", "0d", "5", "5 y", "-1d", "5years", "1.5y", "d5", "5Y",
        ] {
            let e = Period::parse("period", bad).unwrap_err().to_string();
            assert!(
                e.starts_with("period: expected N followed by"),
                "{bad}: {e}"
            );
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn cutoffs_follow_the_calendar() {
        // 2024-03-31T00:00:00Z
        let newest = 1_711_843_200;
        assert_eq!(Period::Max.cutoff(newest), None);
        assert_eq!(Period::Days(30).cutoff(newest), Some(newest - 30 * 86_400));
        assert_eq!(Period::Hours(2).cutoff(newest), Some(newest - 7200));
        // One month before March 31 is February 29 (2024 is a leap year).
        assert_eq!(Period::Months(1).cutoff(newest), Some(1_709_164_800));
        // A year before is 2023-03-31.
        assert_eq!(Period::Months(12).cutoff(newest), Some(1_680_220_800));
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let c = JobsConfig {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..JobsConfig::default()
        };
        let got: Vec<u128> = (1..=5).map(|a| c.retry_delay(a).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 350, 350, 350]);
        assert_eq!(c.retry_delay(0).as_millis(), 100);
        assert_eq!(JobsConfig::default().retry_delay(200).as_secs(), 300);
    }

    #[test]
    fn enums_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(JobStatus::parse("done").is_err());
        for p in [Priority::High, Priority::Normal, Priority::Low] {
            assert_eq!(Priority::from_rank(p.rank()).unwrap(), p);
        }
        assert!(Priority::High.rank() < Priority::Low.rank());
    }

    #[test]
    fn config_is_validated() {
        JobsConfig::default().validate().unwrap();
        let zero = JobsConfig {
            concurrency: 0,
            ..JobsConfig::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("concurrency")
        );
    }
}
