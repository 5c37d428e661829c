//! The transport-free core: ingest bars, run incremental detection, read
//! anomalies and runs. gRPC handlers convert and delegate here.

use std::sync::Arc;

use joust_models::features::{Bar, N_FEATURES, WARMUP_BARS, compute_features_since};
use joust_models::synthetic::{SyntheticConfig, generate};
use ndarray::ArrayView2;
use tracing::instrument;

use crate::domain::{
    Anomaly, AnomalyFilter, Clock, Interval, NewAnomaly, Run, RunFilter, RunOutcome, Stats,
    StatsFilter, Trigger, Verification, VerifiedResult, check_ticker,
};
use crate::error::{DetectError, Result};
use crate::evidence::EvidenceStore;
use crate::jobs::JobsConfig;
use crate::rules::RuleSet;
use crate::scorer::Scorer;
use crate::store::DetectStore;

/// Bars of history loaded before the first new bar. The features need
/// [`WARMUP_BARS`]; EMAs and Wilder averages have unbounded memory, so
/// more history brings the values of an incremental run close to those of
/// a full recomputation.
pub const HISTORY_BARS: usize = 200;

const _: () = assert!(HISTORY_BARS >= WARMUP_BARS);

/// Largest page of anomalies or runs.
pub const MAX_PAGE: u32 = 1000;
/// Page size when the request names none.
pub const DEFAULT_PAGE: u32 = 100;

/// What one ingest call stored for one series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub ticker: String,
    pub interval: String,
    pub rows: u64,
    pub inserted: u64,
}

/// How long runs and anomalies are kept, when a run still in progress
/// counts as stale, and how often the purge runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Finished runs, whatever they found, are deleted this long after
    /// they completed (default 30 days).
    pub keep: std::time::Duration,
    /// Anomalies are deleted this long after they were created (`None`,
    /// the default: kept).
    pub keep_anomalies: Option<std::time::Duration>,
    /// A run still `in_progress` this long after it started (outside a
    /// backfill job) is closed as failed (default 1 hour).
    pub stale_after: std::time::Duration,
    pub purge_every: std::time::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep: std::time::Duration::from_secs(30 * 86_400),
            keep_anomalies: None,
            stale_after: std::time::Duration::from_secs(3600),
            purge_every: std::time::Duration::from_secs(3600),
        }
    }
}

/// What one retention purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub runs: u64,
    pub anomalies: u64,
    pub stale_runs_failed: u64,
}

/// Result of one detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub run: Run,
    pub anomalies: Vec<Anomaly>,
}

/// The detection service's core, cheap to clone.
#[derive(Clone)]
pub struct Detector {
    store: Arc<dyn DetectStore>,
    scorer: Scorer,
    retention: Retention,
    jobs: JobsConfig,
    pub(crate) clock: Clock,
    pub(crate) evidence: Option<EvidenceStore>,
    health: crate::health::HealthConfig,
    /// The queue alert fires when this is set (armed) and the queue
    /// reaches the alert length.
    pub(crate) queue_alert_armed: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) notifier: Option<crate::notify::Notifier>,
    pub(crate) last_queue_alert: Arc<std::sync::Mutex<Option<crate::queue::QueueAlert>>>,
    metrics: Arc<crate::metrics::DetectMetrics>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("scorer", &self.scorer)
            .finish_non_exhaustive()
    }
}

impl Detector {
    pub fn new(store: Arc<dyn DetectStore>, scorer: Scorer) -> Self {
        Self {
            store,
            scorer,
            retention: Retention::default(),
            jobs: JobsConfig::default(),
            clock: Clock::System,
            evidence: None,
            health: crate::health::HealthConfig::default(),
            queue_alert_armed: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            last_queue_alert: Arc::default(),
            notifier: None,
            metrics: Arc::new(crate::metrics::DetectMetrics::new()),
        }
    }

    /// The service's own metrics (`joust_detect_*`).
    pub fn metrics(&self) -> &Arc<crate::metrics::DetectMetrics> {
        &self.metrics
    }

    /// Sets the job gauges from the store (before each `/metrics` answer).
    pub async fn refresh_metrics(&self) {
        match self.store.job_counts().await {
            Ok(counts) => {
                self.metrics.set_jobs(&counts);
                self.observe_queue(crate::queue::waiting(&counts)).await;
            }
            Err(error) => tracing::warn!(%error, "metrics: reading the job counts failed"),
        }
    }

    /// Where run and anomaly times come from (default: the system clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Writes an evidence artifact for every finished run.
    pub fn with_evidence(mut self, evidence: EvidenceStore) -> Self {
        self.evidence = Some(evidence);
        self
    }

    /// Settings of the backfill job queue and workers.
    pub fn with_jobs(mut self, jobs: JobsConfig) -> Self {
        self.metrics
            .set_queue_limits(jobs.max_queue_length, jobs.queue_alert_length);
        self.jobs = jobs;
        self
    }

    /// Delivers new anomalies and queue alerts through `notifier`'s webhook.
    pub fn with_notifier(mut self, notifier: crate::notify::Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// How often and how patiently health probes the dependencies.
    pub fn with_health(mut self, health: crate::health::HealthConfig) -> Self {
        self.health = health;
        self
    }

    pub fn health(&self) -> crate::health::HealthConfig {
        self.health
    }

    pub fn jobs(&self) -> &JobsConfig {
        &self.jobs
    }

    pub(crate) fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    pub fn store(&self) -> &Arc<dyn DetectStore> {
        &self.store
    }

    /// Stores the bars of an OHLCV CSV under `interval`.
    pub async fn ingest_csv(&self, interval: &str, csv: &[u8]) -> Result<Vec<Ingested>> {
        let interval = Interval::parse("interval", interval)?;
        let series = joust_models::csv_io::read_csv(csv)
            .map_err(|e| DetectError::InvalidArgument(format!("csv: {e}")))?;
        if series.is_empty() {
            return Err(DetectError::InvalidArgument(
                "csv: expected at least one bar, got none".to_owned(),
            ));
        }
        for s in &series {
            check_ticker("csv ticker", &s.ticker)?;
        }
        self.store_series(interval, series).await
    }

    /// Stores bars of the seeded synthetic market; `config.interval_secs`
    /// is taken from `interval`.
    pub async fn ingest_synthetic(
        &self,
        interval: &str,
        mut config: SyntheticConfig,
    ) -> Result<Vec<Ingested>> {
        let interval = Interval::parse("interval", interval)?;
        if config.tickers == 0 || config.tickers > 1000 {
            return Err(DetectError::InvalidArgument(format!(
                "tickers: expected 1-1000, got {}",
                config.tickers
            )));
        }
        if config.rows == 0 || config.rows > 2_000_000 {
            return Err(DetectError::InvalidArgument(format!(
                "rows: expected 1-2000000, got {}",
                config.rows
            )));
        }
        if !(0.0..=0.2).contains(&config.anomaly_rate) {
            return Err(DetectError::InvalidArgument(format!(
                "anomaly_rate: expected 0-0.2, got {}",
                config.anomaly_rate
            )));
        }
        config.interval_secs = interval.seconds();
        self.store_series(interval, generate(&config)).await
    }

    async fn store_series(
        &self,
        interval: Interval,
        series: Vec<joust_models::synthetic::Series>,
    ) -> Result<Vec<Ingested>> {
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let inserted = self
                .store
                .insert_bars(&s.ticker, interval.as_str(), &s.bars)
                .await?;
            out.push(Ingested {
                ticker: s.ticker,
                interval: interval.to_string(),
                rows: s.bars.len() as u64,
                inserted,
            });
        }
        Ok(out)
    }

    /// Incremental detection: scores the bars newer than the series' last
    /// detected bar (features computed with [`HISTORY_BARS`] of history),
    /// stores the anomalies (bars for which an enabled rule fires, flagged
    /// when the series is whitelisted) and moves the last detected bar, in
    /// one transaction, then writes the run's evidence. Every call records
    /// a run; a failed one is marked `failed` with its error and stores
    /// nothing. A run that finds nothing new loads nothing, applies no rule
    /// and writes no evidence (the hot path of a scheduler's polling).
    #[instrument(skip_all, fields(ticker, interval, trigger = trigger.as_str()))]
    pub async fn detect(
        &self,
        ticker: &str,
        interval: &str,
        trigger: Trigger,
    ) -> Result<Detection> {
        check_ticker("ticker", ticker)?;
        let interval = Interval::parse("interval", interval)?;
        let series = self.store.series(ticker, interval.as_str()).await?;
        let run = self
            .store
            .start_run(
                trigger,
                ticker,
                interval.as_str(),
                self.scorer.model(),
                self.clock.now_ms(),
            )
            .await?;
        let result = self.detect_in_run(run.id, &series).await;
        self.metrics.run(trigger, result.is_ok());
        match result {
            Ok(mut d) if d.run.rows_loaded > 0 => {
                self.metrics.anomalies_found(d.anomalies.len());
                self.wake_notifier();
                d.run = self.write_evidence(d.run, &d.anomalies, None).await;
                for a in &mut d.anomalies {
                    a.evidence_uri.clone_from(&d.run.evidence_uri);
                }
                Ok(d)
            }
            Ok(nothing_new) => Ok(nothing_new),
            Err(error) => Err(self.fail(run.id, error).await),
        }
    }

    /// Marks run `run_id` failed with `error` and writes its evidence
    /// (best effort), and returns the error.
    async fn fail(&self, run_id: i64, error: DetectError) -> DetectError {
        tracing::warn!(%error, run = run_id, "detection failed");
        let at = self.clock.now_ms();
        match self.store.fail_run(run_id, &error.to_string(), at).await {
            Ok(run) => {
                self.write_evidence(run, &[], None).await;
            }
            Err(e) => tracing::warn!(error = %e, run = run_id, "could not mark the run failed"),
        }
        error
    }

    /// The enabled rules and the number of whitelist entries covering the
    /// series (`ticker`, `interval`) now.
    pub(crate) async fn noise_controls(
        &self,
        ticker: &str,
        interval: &str,
    ) -> Result<(RuleSet, u64)> {
        let rules = RuleSet::new(self.store.list_rules().await?);
        let covering = self
            .store
            .list_whitelist(Some(ticker))
            .await?
            .iter()
            .filter(|e| e.covers(ticker, interval))
            .count() as u64;
        Ok((rules, covering))
    }

    async fn detect_in_run(
        &self,
        run_id: i64,
        series: &crate::domain::SeriesMeta,
    ) -> Result<Detection> {
        let last = series.last_detected_ts;
        let newest = self.store.newest_bar(series.id).await?;
        let nothing_new = match (newest, last) {
            (None, _) => true,
            (Some(n), Some(l)) => n <= l,
            (Some(_), None) => false,
        };
        if nothing_new {
            let outcome = RunOutcome {
                model_version: series.model_version.clone(),
                ..RunOutcome::default()
            };
            let (run, anomalies) = self
                .store
                .complete_run(run_id, series, last, &outcome, &[], self.clock.now_ms())
                .await?;
            return Ok(Detection { run, anomalies });
        }
        // Read once, before scoring: a rule edit applies to the next run.
        let (rules, whitelist_entries) = self
            .noise_controls(&series.ticker, &series.interval)
            .await?;
        let bars = self
            .store
            .load_window(series.id, last, HISTORY_BARS)
            .await?;
        let since = last.map_or(i64::MIN, |l| l.saturating_add(1));
        let frame = compute_features_since(&bars, since);
        let mut outcome = RunOutcome {
            model_version: series.model_version.clone(),
            rows_loaded: bars.len() as u64,
            rows_preprocessed: frame.len() as u64,
            rules_applied: rules.rules().to_vec(),
            whitelist_entries,
            ..RunOutcome::default()
        };
        let first_new = bars.partition_point(|b| b.timestamp < since);
        let skipped = frame.first_bar.saturating_sub(first_new);
        if skipped > 0 {
            outcome.warnings.push(format!(
                "{skipped} new bar(s) fall in the {WARMUP_BARS}-bar feature warm-up and were not scored"
            ));
        }
        let detected_to = bars.last().map(|b| b.timestamp).or(last);
        let mut anomalies = Vec::new();
        if !frame.is_empty() {
            let rows = &bars[frame.first_bar..frame.first_bar + frame.len()];
            anomalies = self
                .score_rows(
                    rows,
                    frame.values.view(),
                    &mut outcome,
                    &rules,
                    whitelist_entries > 0,
                    &|_| {},
                )
                .await?;
        }
        let at = self.clock.now_ms();
        let (run, anomalies) = self
            .store
            .complete_run(run_id, series, detected_to, &outcome, &anomalies, at)
            .await?;
        tracing::info!(
            run = run.id,
            scored = run.rows_scored,
            anomalies = run.anomalies_found,
            "detection complete"
        );
        Ok(Detection { run, anomalies })
    }

    /// Scores feature rows through the router (row `r` of `values` holds
    /// the features of `bars[r]`) and returns the anomalies (the rows some
    /// enabled rule of `rules` matches, flagged `whitelisted` when the
    /// series is whitelisted), recording the rows scored and the model in `outcome`. Shared by
    /// incremental detection and backfill jobs; `progress` is told the rows
    /// scored so far after each OIP request.
    pub(crate) async fn score_rows(
        &self,
        bars: &[Bar],
        values: ArrayView2<'_, f32>,
        outcome: &mut RunOutcome,
        rules: &RuleSet,
        whitelisted: bool,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Vec<NewAnomaly>> {
        debug_assert_eq!(bars.len(), values.nrows());
        let started = std::time::Instant::now();
        let scored = self.scorer.score_reporting(values, progress).await?;
        self.metrics.scored(started.elapsed());
        let sha = self.scorer.sha256(&scored.model_version).await?;
        outcome.rows_scored = scored.scores.len() as u64;
        outcome.notify = self.notifier.is_some();
        outcome.model_version = scored.model_version.clone();
        outcome.model_sha256 = sha.clone();
        let mut anomalies = Vec::new();
        for (r, (score, label)) in scored.scores.iter().zip(&scored.labels).enumerate() {
            let view = values.row(r);
            let row: std::borrow::Cow<'_, [f32]> = match view.as_slice() {
                Some(s) => s.into(),
                None => view.to_vec().into(),
            };
            let matches = rules.evaluate(*score, *label, &row);
            if matches.is_empty() {
                continue;
            }
            let bar: &Bar = &bars[r];
            let features = row.into_owned();
            debug_assert_eq!(features.len(), N_FEATURES);
            anomalies.push(NewAnomaly {
                timestamp: bar.timestamp,
                close: bar.close,
                volume: bar.volume,
                features,
                score: *score,
                label: *label,
                model_name: self.scorer.model().to_owned(),
                model_version: scored.model_version.clone(),
                model_sha256: sha.clone(),
                matches,
                whitelisted,
            });
        }
        Ok(anomalies)
    }

    pub async fn list_anomalies(&self, mut filter: AnomalyFilter) -> Result<Vec<Anomaly>> {
        if let Some(t) = &filter.ticker {
            check_ticker("ticker", t)?;
        }
        if let Some(iv) = &filter.interval {
            Interval::parse("interval", iv)?;
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(DetectError::InvalidArgument(format!(
                "from: expected at most `to` ({to}), got {from}"
            )));
        }
        filter.limit = page_size(filter.limit)?;
        self.store.list_anomalies(&filter).await
    }

    pub async fn get_run(&self, id: i64) -> Result<Run> {
        self.store.get_run(id).await
    }

    pub async fn list_runs(&self, mut filter: RunFilter) -> Result<Vec<Run>> {
        if let Some(t) = &filter.ticker {
            check_ticker("ticker", t)?;
        }
        if let Some(iv) = &filter.interval {
            Interval::parse("interval", iv)?;
        }
        filter.limit = page_size(filter.limit)?;
        self.store.list_runs(&filter).await
    }
}

impl Detector {
    /// Re-scores the bar of stored anomaly `id` with the current model:
    /// features are recomputed from the stored bars ([`HISTORY_BARS`] of
    /// history), scored through the same OIP endpoint and checked against
    /// the current rules. Records a `verification` run (with its evidence)
    /// that stores no anomaly and leaves the series' detection state alone.
    #[instrument(skip_all, fields(anomaly = id))]
    pub async fn verify(&self, id: i64) -> Result<Verification> {
        let original = self.store.get_anomaly(id).await?;
        let series = self
            .store
            .series(&original.ticker, &original.interval)
            .await?;
        let run = self
            .store
            .start_run(
                Trigger::Verification,
                &original.ticker,
                &original.interval,
                self.scorer.model(),
                self.clock.now_ms(),
            )
            .await?;
        let result = self.verify_in_run(run.id, series.id, original).await;
        self.metrics.run(Trigger::Verification, result.is_ok());
        match result {
            Ok(mut v) => {
                v.run = self.write_evidence(v.run, &[], Some(&v.original)).await;
                Ok(v)
            }
            Err(error) => Err(self.fail(run.id, error).await),
        }
    }

    async fn verify_in_run(
        &self,
        run_id: i64,
        series_id: i64,
        original: Anomaly,
    ) -> Result<Verification> {
        let (rules, whitelist_entries) = self
            .noise_controls(&original.ticker, &original.interval)
            .await?;
        let bars = self
            .store
            .bars_until(series_id, original.timestamp, HISTORY_BARS + 1)
            .await?;
        let frame = compute_features_since(&bars, original.timestamp);
        if frame.len() != 1 {
            return Err(DetectError::Corrupt(format!(
                "anomaly {}: expected its bar at {} with {WARMUP_BARS} bars of history, found {} bars",
                original.id,
                original.timestamp,
                bars.len()
            )));
        }
        let started = std::time::Instant::now();
        let scored = self.scorer.score(frame.values.view()).await?;
        self.metrics.scored(started.elapsed());
        let sha = self.scorer.sha256(&scored.model_version).await?;
        let (Some(score), Some(label)) = (scored.scores.first(), scored.labels.first()) else {
            return Err(DetectError::Scoring(
                "ModelInfer response: expected one score".to_owned(),
            ));
        };
        let features: Vec<f32> = frame.values.row(0).iter().copied().collect();
        let matches = rules.evaluate(*score, *label, &features);
        let outcome = RunOutcome {
            model_version: scored.model_version.clone(),
            model_sha256: sha.clone(),
            rows_loaded: bars.len() as u64,
            rows_preprocessed: 1,
            rows_scored: 1,
            warnings: Vec::new(),
            rules_applied: rules.rules().to_vec(),
            whitelist_entries,
            verification: Some(VerifiedResult {
                anomaly_id: original.id,
                score: *score,
                label: *label,
                features: features.clone(),
                matches: matches.clone(),
            }),
            notify: false,
        };
        let run = self
            .store
            .finish_run(run_id, &outcome, self.clock.now_ms())
            .await?;
        Ok(Verification {
            current_score: *score,
            current_label: *label,
            current_features: features,
            current_model_version: scored.model_version,
            current_model_sha256: sha,
            current_matches: matches,
            run,
            original,
        })
    }

    /// Counts of anomalies (by ticker, type, whitelist status, bar day) and
    /// runs (by status, trigger, start day).
    pub async fn stats(&self, filter: StatsFilter) -> Result<Stats> {
        if let Some(t) = &filter.ticker {
            check_ticker("ticker", t)?;
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(DetectError::InvalidArgument(format!(
                "from: expected at most `to` ({to}), got {from}"
            )));
        }
        self.store.stats(&filter).await
    }

    /// One retention pass: closes stale `in_progress` runs as failed,
    /// deletes finished runs completed before `runs_before_ms` (`None`:
    /// now minus the run retention) whatever they found, and anomalies
    /// created before `anomalies_before_ms` (`None`: now minus the anomaly
    /// retention; none when anomalies are kept).
    pub async fn purge(
        &self,
        runs_before_ms: Option<i64>,
        anomalies_before_ms: Option<i64>,
    ) -> Result<Purged> {
        let now = self.clock.now_ms();
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let stale = self.retention.stale_after;
        let stale_runs_failed = self
            .store
            .fail_stale_runs(
                now.saturating_sub(ms(stale)),
                &format!(
                    "stale: still in progress {} s after it started (the process running it stopped); closed by the retention purge",
                    stale.as_secs()
                ),
                now,
            )
            .await?;
        let cutoff = runs_before_ms.unwrap_or_else(|| now.saturating_sub(ms(self.retention.keep)));
        let runs = self.store.purge_runs(cutoff).await?;
        let anomaly_cutoff = anomalies_before_ms.or_else(|| {
            self.retention
                .keep_anomalies
                .map(|keep| now.saturating_sub(ms(keep)))
        });
        let anomalies = match anomaly_cutoff {
            Some(c) => self.store.purge_anomalies(c).await?,
            None => 0,
        };
        tracing::info!(
            runs,
            anomalies,
            stale_runs_failed,
            cutoff,
            "retention purge"
        );
        Ok(Purged {
            runs,
            anomalies,
            stale_runs_failed,
        })
    }
}

pub(crate) fn page_size(limit: u32) -> Result<u32> {
    match limit {
        0 => Ok(DEFAULT_PAGE),
        l if l <= MAX_PAGE => Ok(l),
        l => Err(DetectError::InvalidArgument(format!(
            "limit: expected at most {MAX_PAGE}, got {l}"
        ))),
    }
}
