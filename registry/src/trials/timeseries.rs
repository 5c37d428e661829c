//! A trial's figures over time (pure): the store groups comparison records
//! into fixed time buckets (seconds since the Unix epoch divided by the
//! bucket width, rounded down) and feeds them here in bucket order — or,
//! for buckets of whole minutes, the trial's minute rollups (so the series
//! stays complete after raw-record retention); each
//! bucket is summarised by the same [`ReportBuilder`] as the whole-trial
//! report, so a bucket's anomaly rate, Wilson interval, latency quantiles
//! and agreement are defined exactly as in the report (docs/trials.md).

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{RegistryError, Result};
use crate::trials::domain::{ComparisonRecord, Gates, Mode, Trial};
use crate::trials::report::{ArmReport, ReportBuilder};
use crate::trials::rollup::Rollup;
use crate::trials::stats::Proportion;

/// Most buckets returned; later ones are dropped and the series is marked
/// truncated.
pub const MAX_POINTS: usize = 2000;
/// Widest bucket accepted: one week.
pub const MAX_BUCKET_SECONDS: u32 = 7 * 86_400;
/// About this many buckets when the caller does not choose a width.
pub const AUTO_POINTS: i64 = 60;
/// Bucket widths chosen automatically, in seconds.
const NICE_BUCKETS: [u32; 17] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400,
];

/// One time bucket's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Start of the bucket (inclusive); it ends `bucket_seconds` later.
    pub start: DateTime<Utc>,
    pub records: u64,
    pub champion: ArmReport,
    pub challenger: ArmReport,
    /// Label agreement over paired rows (shadow mode).
    pub agreement: Option<Proportion>,
}

/// A trial's figures per time bucket, oldest first; empty buckets are
/// left out.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    pub bucket_seconds: u32,
    pub points: Vec<Point>,
    /// More than [`MAX_POINTS`] buckets had records; the first ones are kept.
    pub truncated: bool,
}

/// Checks a requested bucket width.
pub fn check_bucket(seconds: u32) -> Result<u32> {
    if (1..=MAX_BUCKET_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(RegistryError::InvalidArgument(format!(
            "bucket: expected 1 to {MAX_BUCKET_SECONDS} seconds, got {seconds}"
        )))
    }
}

/// The smallest nice bucket width giving at most about [`AUTO_POINTS`]
/// buckets over the trial's life so far (start to stop, or to `now`).
pub fn auto_bucket(trial: &Trial, now: DateTime<Utc>) -> u32 {
    let end = trial.stopped_at.unwrap_or(now);
    let span = (end - trial.started_at).num_seconds().max(1);
    let want = (span + AUTO_POINTS - 1) / AUTO_POINTS;
    NICE_BUCKETS
        .iter()
        .copied()
        .find(|&b| i64::from(b) >= want)
        .unwrap_or(MAX_BUCKET_SECONDS)
}

/// Accumulates bucketed records (in ascending bucket order) into a series.
#[derive(Debug)]
pub struct TimeSeriesBuilder {
    bucket_seconds: u32,
    mode: Mode,
    weight: f64,
    gates: Gates,
    current: Option<(i64, ReportBuilder)>,
    points: Vec<Point>,
    truncated: bool,
}

impl TimeSeriesBuilder {
    /// A builder for a trial in `mode` with challenger share `weight`.
    pub fn new(bucket_seconds: u32, mode: Mode, weight: f64) -> Self {
        Self {
            bucket_seconds: bucket_seconds.max(1),
            mode,
            weight,
            gates: Gates::default(),
            current: None,
            points: Vec::new(),
            truncated: false,
        }
    }

    pub fn bucket_seconds(&self) -> u32 {
        self.bucket_seconds
    }

    /// Adds a record that falls in bucket `bucket`.
    pub fn add(&mut self, bucket: i64, record: &ComparisonRecord) {
        if let Some(builder) = self.bucket(bucket) {
            builder.add(record);
        }
    }

    /// Whether this series can be read from minute rollups: buckets of
    /// whole minutes.
    pub fn from_minutes(&self) -> bool {
        self.bucket_seconds.is_multiple_of(60)
    }

    /// Adds the rollup of minute `minute` (Unix time / 60), period
    /// `period` (buckets of whole minutes, minutes in ascending order).
    pub fn add_rollup(&mut self, minute: i64, period: u32, rollup: &Rollup) -> Result<()> {
        let bucket = minute
            .saturating_mul(60)
            .div_euclid(i64::from(self.bucket_seconds));
        match self.bucket(bucket) {
            Some(builder) => builder.add_rollup(period, rollup),
            None => Ok(()),
        }
    }

    /// The builder of bucket `bucket` (closing the previous one), or
    /// `None` once the series is truncated.
    fn bucket(&mut self, bucket: i64) -> Option<&mut ReportBuilder> {
        if self.truncated {
            return None;
        }
        if self.current.as_ref().is_none_or(|(b, _)| *b != bucket) {
            self.close();
            if self.points.len() >= MAX_POINTS {
                self.truncated = true;
                return None;
            }
            self.current = Some((bucket, ReportBuilder::new()));
        }
        self.current.as_mut().map(|(_, builder)| builder)
    }

    fn close(&mut self) {
        let Some((bucket, builder)) = self.current.take() else {
            return;
        };
        let report = builder.finish(self.mode, self.weight, &self.gates);
        let start = DateTime::UNIX_EPOCH
            + TimeDelta::seconds(bucket.saturating_mul(i64::from(self.bucket_seconds)));
        self.points.push(Point {
            start,
            records: report.records,
            champion: report.champion,
            challenger: report.challenger,
            agreement: report.comparison.agreement,
        });
    }

    pub fn finish(mut self) -> TimeSeries {
        self.close();
        TimeSeries {
            bucket_seconds: self.bucket_seconds,
            points: self.points,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::trials::domain::{Arm, ArmResult};
    use crate::trials::report;

    fn record(i: u64, secs: i64) -> ComparisonRecord {
        let arm = |version, score: f64| ArmResult {
            version,
            scores: vec![score],
            labels: vec![score > 0.8],
            latency_us: 100 + i,
            status_code: 0,
        };
        ComparisonRecord {
            record_id: format!("r{i}"),
            trial_id: 1,
            request_id: String::new(),
            time: DateTime::UNIX_EPOCH + TimeDelta::seconds(secs),
            routing_key_hash: 0,
            served: Arm::Champion,
            champion: Some(arm(1, (i % 10) as f64 / 10.0)),
            challenger: Some(arm(2, (i % 7) as f64 / 7.0)),
        }
    }

    #[test]
    fn each_bucket_equals_the_report_of_its_records() {
        let records: Vec<_> = (0..90).map(|i| record(i, i as i64)).collect();
        let mut b = TimeSeriesBuilder::new(30, Mode::Shadow, 0.0);
        for r in &records {
            b.add(r.time.timestamp().div_euclid(30), r);
        }
        let series = b.finish();
        assert_eq!(series.points.len(), 3);
        for (k, p) in series.points.iter().enumerate() {
            let chunk = &records[k * 30..(k + 1) * 30];
            let want = report::compute(chunk, Mode::Shadow, 0.0, &Gates::default());
            assert_eq!(p.start.timestamp(), k as i64 * 30);
            assert_eq!(p.records, 30);
            assert_eq!(p.champion, want.champion);
            assert_eq!(p.challenger, want.challenger);
            assert_eq!(p.agreement, want.comparison.agreement);
        }
    }

    #[test]
    fn auto_bucket_gives_about_sixty_points() {
        let r = record(0, 0);
        let mut trial = Trial {
            id: 1,
            model: "m".into(),
            champion_version: 1,
            challenger_version: 2,
            mode: Mode::Shadow,
            weight: 0.0,
            sampling: 1.0,
            sticky: false,
            gates: Gates::default(),
            state: crate::trials::TrialState::Open,
            outcome: None,
            started_at: r.time,
            updated_at: r.time,
            stopped_at: None,
            started_by: String::new(),
            reason: String::new(),
        };
        assert_eq!(auto_bucket(&trial, r.time + TimeDelta::seconds(30)), 1);
        assert_eq!(auto_bucket(&trial, r.time + TimeDelta::hours(1)), 60);
        trial.stopped_at = Some(r.time + TimeDelta::days(1));
        assert_eq!(auto_bucket(&trial, r.time + TimeDelta::days(9)), 1800);
        assert!(check_bucket(0).is_err());
        assert!(check_bucket(MAX_BUCKET_SECONDS + 1).is_err());
    }
}
