//! Backfills: queueing and reading jobs, and what one attempt of a job
//! does: detection (trigger `backfill`) over the series' bars within the
//! job's period, ending at the newest bar, scored through the same code as
//! incremental detection and committed atomically with the job's
//! completion.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use joust_models::features::{Bar, WARMUP_BARS, compute_features_since};
use ndarray::Axis;
use tracing::instrument;

use crate::detector::{Detector, HISTORY_BARS, page_size};
use crate::domain::{Interval, Run, RunOutcome, SeriesMeta, Trigger, check_ticker, now_ms};
use crate::error::Result;
use crate::jobs::{Job, JobFilter, JobProgress, NewJob, Period, Priority};
use crate::store::jobs::BackfillCommit;

/// A backfill to queue, as the caller gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillRequest {
    pub ticker: String,
    /// `5y`, `6mo`, `2wk`, `30d`, `12h` or `max`.
    pub period: String,
    pub interval: String,
    /// Re-score bars already detected (their old anomalies are replaced).
    pub force: bool,
    pub priority: Priority,
}

/// Live progress of one attempt, read by the worker's heartbeat.
#[derive(Debug, Default)]
pub(crate) struct AttemptProgress {
    run_id: AtomicI64,
    rows_loaded: AtomicU64,
    rows_to_score: AtomicU64,
    rows_scored: AtomicU64,
}

impl AttemptProgress {
    pub(crate) fn snapshot(&self) -> JobProgress {
        let run_id = self.run_id.load(Ordering::Relaxed);
        JobProgress {
            run_id: (run_id > 0).then_some(run_id),
            rows_loaded: self.rows_loaded.load(Ordering::Relaxed),
            rows_to_score: self.rows_to_score.load(Ordering::Relaxed),
            rows_scored: self.rows_scored.load(Ordering::Relaxed),
        }
    }
}

impl Detector {
    /// Queues a backfill and returns the pending job. Bad fields are
    /// `InvalidArgument` naming the field; an unknown series `NotFound`; a
    /// series with a job in flight `FailedPrecondition` naming that job; a
    /// full queue `ResourceExhausted` naming the limit.
    #[instrument(skip_all, fields(ticker = %request.ticker, interval = %request.interval, period = %request.period))]
    pub async fn backfill(&self, request: BackfillRequest) -> Result<Job> {
        let BackfillRequest {
            ticker,
            period,
            interval,
            force,
            priority,
        } = request;
        check_ticker("ticker", &ticker)?;
        let interval = Interval::parse("interval", &interval)?;
        Period::parse("period", &period)?;
        self.store().series(&ticker, interval.as_str()).await?;
        self.admit_job().await?;
        let job = self
            .store()
            .enqueue_job(
                &NewJob {
                    ticker,
                    interval: interval.to_string(),
                    period,
                    force,
                    priority,
                    max_attempts: self.jobs().max_attempts,
                },
                now_ms(),
            )
            .await?;
        tracing::info!(
            job = job.id,
            force,
            priority = priority.as_str(),
            "backfill queued"
        );
        match self.queue_length().await {
            Ok(n) => self.observe_queue(n).await,
            Err(error) => tracing::warn!(%error, "reading the queue length after the enqueue"),
        }
        Ok(job)
    }

    pub async fn get_job(&self, id: i64) -> Result<Job> {
        self.store().get_job(id).await
    }

    pub async fn list_jobs(&self, mut filter: JobFilter) -> Result<Vec<Job>> {
        if let Some(t) = &filter.ticker {
            check_ticker("ticker", t)?;
        }
        if let Some(iv) = &filter.interval {
            Interval::parse("interval", iv)?;
        }
        filter.limit = page_size(filter.limit)?;
        self.store().list_jobs(&filter).await
    }

    /// One attempt of a claimed job: records a `backfill` run, detects, and
    /// commits anomalies, series range, run and job completion in one
    /// transaction. A failure marks the run failed and stores nothing.
    #[instrument(skip_all, fields(job = job.id, attempt = job.attempts))]
    pub(crate) async fn backfill_attempt(
        &self,
        job: &Job,
        progress: &AttemptProgress,
    ) -> Result<(Run, Job)> {
        let period = Period::parse("period", &job.period)?;
        let series = self.store().series(&job.ticker, &job.interval).await?;
        let run = self
            .store()
            .start_run(
                Trigger::Backfill,
                &job.ticker,
                &job.interval,
                self.scorer().model(),
                self.clock.now_ms(),
            )
            .await?;
        progress.run_id.store(run.id, Ordering::Relaxed);
        let result = self
            .backfill_in_run(job, run.id, &series, period, progress)
            .await;
        self.metrics().run(Trigger::Backfill, result.is_ok());
        match result {
            Ok(done) => Ok(done),
            Err(error) => {
                tracing::warn!(%error, run = run.id, "backfill attempt failed");
                if let Err(e) = self
                    .store()
                    .fail_run(run.id, &error.to_string(), self.clock.now_ms())
                    .await
                {
                    tracing::warn!(error = %e, run = run.id, "could not mark the run failed");
                }
                Err(error)
            }
        }
    }

    async fn backfill_in_run(
        &self,
        job: &Job,
        run_id: i64,
        series: &SeriesMeta,
        period: Period,
        progress: &AttemptProgress,
    ) -> Result<(Run, Job)> {
        let store = self.store();
        // Read once, before scoring: a rule edit applies to the next run.
        let (rules, whitelist_entries) = self
            .noise_controls(&series.ticker, &series.interval)
            .await?;
        let whitelisted = whitelist_entries > 0;
        let mut outcome = RunOutcome {
            model_version: series.model_version.clone(),
            rules_applied: rules.rules().to_vec(),
            whitelist_entries,
            ..RunOutcome::default()
        };
        let newest = store.newest_bar(series.id).await?;
        let (bars, frame, since) = match newest {
            Some(newest) => {
                // Bars newer than the detected range are always included, so
                // the range stays one interval (no undetected gap in it).
                let cutoff = match (period.cutoff(newest), series.last_detected_ts) {
                    (Some(c), Some(last)) => Some(c.min(last)),
                    (cutoff, _) => cutoff,
                };
                let bars = store.load_window(series.id, cutoff, HISTORY_BARS).await?;
                let since = cutoff.map_or(i64::MIN, |c| c.saturating_add(1));
                let frame = compute_features_since(&bars, since);
                (bars, frame, since)
            }
            None => (Vec::new(), compute_features_since(&[], 0), 0),
        };
        let first_in_range = bars.partition_point(|b| b.timestamp < since);
        let skipped = frame.first_bar.saturating_sub(first_in_range);
        if skipped > 0 {
            outcome.warnings.push(format!(
                "{skipped} bar(s) of the period fall in the series' {WARMUP_BARS}-bar feature warm-up and were not scored"
            ));
        }
        // Without `force`, bars inside the detected range are left alone.
        let covered = |ts: i64| {
            !job.force
                && series.last_detected_ts.is_some_and(|last| {
                    ts <= last && ts >= series.detected_from_ts.unwrap_or(i64::MIN)
                })
        };
        let keep: Vec<usize> = (0..frame.len())
            .filter(|r| !covered(frame.timestamps[*r]))
            .collect();
        outcome.rows_loaded = bars.len() as u64;
        outcome.rows_preprocessed = frame.len() as u64;
        progress
            .rows_loaded
            .store(bars.len() as u64, Ordering::Relaxed);
        progress
            .rows_to_score
            .store(keep.len() as u64, Ordering::Relaxed);
        let report = |n: u64| progress.rows_scored.store(n, Ordering::Relaxed);
        let anomalies = if keep.is_empty() {
            Vec::new()
        } else if keep.len() == frame.len() {
            let rows = &bars[frame.first_bar..frame.first_bar + frame.len()];
            self.score_rows(
                rows,
                frame.values.view(),
                &mut outcome,
                &rules,
                whitelisted,
                &report,
            )
            .await?
        } else {
            let rows: Vec<Bar> = keep.iter().map(|r| bars[frame.first_bar + r]).collect();
            let values = frame.values.select(Axis(0), &keep);
            self.score_rows(
                &rows,
                values.view(),
                &mut outcome,
                &rules,
                whitelisted,
                &report,
            )
            .await?
        };
        // The detected range grows to cover the period (it stays one
        // interval: the period always reaches the newest bar).
        let (detected_from, detected_to) = match (newest, bars.get(first_in_range)) {
            (Some(newest), Some(first)) => {
                let from = match (series.last_detected_ts, series.detected_from_ts) {
                    (Some(_), None) => None,
                    (Some(_), Some(f)) => Some(f.min(first.timestamp)),
                    (None, _) => Some(first.timestamp),
                };
                let to = series.last_detected_ts.map_or(newest, |l| l.max(newest));
                (from, Some(to))
            }
            _ => (series.detected_from_ts, series.last_detected_ts),
        };
        let replace = match (job.force, bars.get(first_in_range), newest) {
            (true, Some(first), Some(newest)) => Some((first.timestamp, newest)),
            _ => None,
        };
        let (run, job, stored) = store
            .complete_backfill(&BackfillCommit {
                job_id: job.id,
                token: &job.lease_token,
                run_id,
                series,
                detected_from,
                detected_to,
                replace,
                outcome: &outcome,
                anomalies: &anomalies,
                progress: progress.snapshot(),
            })
            .await?;
        tracing::info!(
            run = run.id,
            scored = run.rows_scored,
            anomalies = run.anomalies_found,
            "backfill complete"
        );
        self.metrics().anomalies_found(stored.len());
        self.wake_notifier();
        let run = self.write_evidence(run, &stored, None).await;
        Ok((run, job))
    }
}
