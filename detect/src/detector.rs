//! The transport-free core: ingest bars, run incremental detection, read
//! anomalies and runs. gRPC handlers convert and delegate here.

use std::sync::Arc;

use joust_models::features::{Bar, N_FEATURES, WARMUP_BARS, compute_features_since};
use joust_models::synthetic::{SyntheticConfig, generate};
use ndarray::ArrayView2;
use tracing::instrument;

use crate::domain::{
    Anomaly, AnomalyFilter, Interval, NewAnomaly, Run, RunFilter, RunOutcome, Stats, Trigger,
    Verification, check_ticker, now_ms,
};
use crate::error::{DetectError, Result};
use crate::jobs::JobsConfig;
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

/// How long finished runs without anomalies are kept, and how often the
/// purge runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub keep: std::time::Duration,
    pub purge_every: std::time::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep: std::time::Duration::from_secs(30 * 86_400),
            purge_every: std::time::Duration::from_secs(3600),
        }
    }
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
        }
    }

    /// Settings of the backfill job queue and workers.
    pub fn with_jobs(mut self, jobs: JobsConfig) -> Self {
        self.jobs = jobs;
        self
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
    /// stores the anomalies (label = true) and moves the last detected bar,
    /// in one transaction. Every call records a run; a failed one is marked
    /// `failed` with its error and stores nothing.
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
            .start_run(trigger, ticker, interval.as_str(), self.scorer.model())
            .await?;
        match self.detect_in_run(run.id, &series).await {
            Ok(d) => Ok(d),
            Err(error) => {
                tracing::warn!(%error, run = run.id, "detection failed");
                if let Err(e) = self.store.fail_run(run.id, &error.to_string()).await {
                    tracing::warn!(error = %e, run = run.id, "could not mark the run failed");
                }
                Err(error)
            }
        }
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
                .complete_run(run_id, series, last, &outcome, &[])
                .await?;
            return Ok(Detection { run, anomalies });
        }
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
                .score_rows(rows, frame.values.view(), &mut outcome, &|_| {})
                .await?;
        }
        let (run, anomalies) = self
            .store
            .complete_run(run_id, series, detected_to, &outcome, &anomalies)
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
    /// the features of `bars[r]`) and returns the anomalies (label = true),
    /// recording the rows scored and the model in `outcome`. Shared by
    /// incremental detection and backfill jobs; `progress` is told the rows
    /// scored so far after each OIP request.
    pub(crate) async fn score_rows(
        &self,
        bars: &[Bar],
        values: ArrayView2<'_, f32>,
        outcome: &mut RunOutcome,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Vec<NewAnomaly>> {
        debug_assert_eq!(bars.len(), values.nrows());
        let scored = self.scorer.score_reporting(values, progress).await?;
        let sha = self.scorer.sha256(&scored.model_version).await?;
        outcome.rows_scored = scored.scores.len() as u64;
        outcome.model_version = scored.model_version.clone();
        outcome.model_sha256 = sha.clone();
        let mut anomalies = Vec::new();
        for (r, (score, label)) in scored.scores.iter().zip(&scored.labels).enumerate() {
            if !label {
                continue;
            }
            let bar: &Bar = &bars[r];
            let features: Vec<f32> = values.row(r).iter().copied().collect();
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
    /// history) and scored through the same OIP endpoint.
    #[instrument(skip_all, fields(anomaly = id))]
    pub async fn verify(&self, id: i64) -> Result<Verification> {
        let original = self.store.get_anomaly(id).await?;
        let series = self
            .store
            .series(&original.ticker, &original.interval)
            .await?;
        let bars = self
            .store
            .bars_until(series.id, original.timestamp, HISTORY_BARS + 1)
            .await?;
        let frame = compute_features_since(&bars, original.timestamp);
        if frame.len() != 1 {
            return Err(DetectError::Corrupt(format!(
                "anomaly {id}: expected its bar at {} with {WARMUP_BARS} bars of history, found {} bars",
                original.timestamp,
                bars.len()
            )));
        }
        let scored = self.scorer.score(frame.values.view()).await?;
        let sha = self.scorer.sha256(&scored.model_version).await?;
        let (Some(score), Some(label)) = (scored.scores.first(), scored.labels.first()) else {
            return Err(DetectError::Scoring(
                "ModelInfer response: expected one score".to_owned(),
            ));
        };
        Ok(Verification {
            current_score: *score,
            current_label: *label,
            current_features: frame.values.row(0).iter().copied().collect(),
            current_model_version: scored.model_version,
            current_model_sha256: sha,
            original,
        })
    }

    pub async fn stats(&self, ticker: Option<&str>) -> Result<Stats> {
        if let Some(t) = ticker {
            check_ticker("ticker", t)?;
        }
        self.store.stats(ticker).await
    }

    /// Purges finished runs without anomalies completed before
    /// `before_ms` (`None`: now minus the retention).
    pub async fn purge_runs(&self, before_ms: Option<i64>) -> Result<u64> {
        let keep = i64::try_from(self.retention.keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff = before_ms.unwrap_or_else(|| now_ms().saturating_sub(keep));
        let purged = self.store.purge_runs(cutoff).await?;
        tracing::info!(purged, cutoff, "purged detection runs");
        Ok(purged)
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
