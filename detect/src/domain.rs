//! The detection domain: bar intervals, triggers, run statuses, runs,
//! anomalies and list filters. No database or gRPC types here.

use std::fmt;

use crate::error::{DetectError, Result};
use crate::rules::{AnomalyType, Rule, RuleMatch};

/// A bar interval: one of [`Interval::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval(&'static str, i64);

impl Interval {
    /// Every accepted interval with its length in seconds.
    pub const ALL: [(&'static str, i64); 8] = [
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("30m", 1800),
        ("1h", 3600),
        ("4h", 14_400),
        ("1d", 86_400),
        ("1wk", 604_800),
    ];

    /// Parses `text`; the error names `field` and the accepted values.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(name, secs)| Interval(name, *secs))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                DetectError::InvalidArgument(format!(
                    "{field}: expected one of {}, got {text:?}",
                    names.join(", ")
                ))
            })
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Seconds between bars.
    pub fn seconds(&self) -> i64 {
        self.1
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Checks a ticker: 1–32 characters of A–Z, a–z, 0–9, `.`, `-`, `_`, `^`, `=`.
pub fn check_ticker(field: &str, ticker: &str) -> Result<()> {
    let ok = !ticker.is_empty()
        && ticker.len() <= 32
        && ticker
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '^' | '='));
    if ok {
        Ok(())
    } else {
        Err(DetectError::InvalidArgument(format!(
            "{field}: expected 1-32 characters of letters, digits and . - _ ^ =, got {ticker:?}"
        )))
    }
}

/// Why a detection run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    ChartRequest,
    Backfill,
    Scheduler,
    Verification,
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ChartRequest => "chart_request",
            Trigger::Backfill => "backfill",
            Trigger::Scheduler => "scheduler",
            Trigger::Verification => "verification",
            Trigger::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "chart_request" => Trigger::ChartRequest,
            "backfill" => Trigger::Backfill,
            "scheduler" => Trigger::Scheduler,
            "verification" => Trigger::Verification,
            "api" => Trigger::Api,
            other => {
                return Err(DetectError::Corrupt(format!(
                    "detection_runs.run_trigger: unknown value {other:?}"
                )));
            }
        })
    }
}

/// The state of a detection run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    InProgress,
    Complete,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::InProgress => "in_progress",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "in_progress" => RunStatus::InProgress,
            "complete" => RunStatus::Complete,
            "failed" => RunStatus::Failed,
            other => {
                return Err(DetectError::Corrupt(format!(
                    "detection_runs.status: unknown value {other:?}"
                )));
            }
        })
    }
}

/// A series' identity and detection metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesMeta {
    pub id: i64,
    pub ticker: String,
    pub interval: String,
    /// Unix seconds of the newest bar already detected.
    pub last_detected_ts: Option<i64>,
    /// Unix seconds of the oldest bar of the detected range (which ends at
    /// `last_detected_ts`); `None` with `last_detected_ts` set: from the
    /// series' first bar (incremental detection starts there).
    pub detected_from_ts: Option<i64>,
    /// The model version of the last detection ("" = never).
    pub model_version: String,
}

/// One detection run (the audit trail).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: i64,
    pub trigger: Trigger,
    pub ticker: String,
    pub interval: String,
    pub model_name: String,
    pub model_version: String,
    pub model_sha256: String,
    pub started_at_ms: i64,
    pub completed_at_ms: Option<i64>,
    pub rows_loaded: u64,
    pub rows_preprocessed: u64,
    pub rows_scored: u64,
    pub anomalies_found: u64,
    pub status: RunStatus,
    pub error: String,
    pub warnings: Vec<String>,
    /// The enabled rules the run applied, by type.
    pub rules_applied: Vec<Rule>,
    /// Whitelist entries covering the series when the run ran.
    pub whitelist_entries: u64,
    /// Anomalies stored flagged `whitelisted`.
    pub anomalies_whitelisted: u64,
    /// The run's evidence artifact ("" = none written).
    pub evidence_uri: String,
    /// What a verification run found (`None` for other triggers).
    pub verification: Option<VerifiedResult>,
    /// The anomalies the run stored, by id.
    pub anomaly_ids: Vec<i64>,
}

/// What a `verification` run recorded: the anomaly it re-scored and the
/// bar's current score, label, features and matching rules (the model
/// version and SHA-256 are the run's).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedResult {
    pub anomaly_id: i64,
    pub score: f32,
    pub label: bool,
    pub features: Vec<f32>,
    pub matches: Vec<RuleMatch>,
}

/// The counts, model and rules of a finished run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutcome {
    pub model_version: String,
    pub model_sha256: String,
    pub rows_loaded: u64,
    pub rows_preprocessed: u64,
    pub rows_scored: u64,
    pub warnings: Vec<String>,
    pub rules_applied: Vec<Rule>,
    pub whitelist_entries: u64,
    pub verification: Option<VerifiedResult>,
    /// Write a notification event for the run's new anomalies (webhooks
    /// configured).
    pub notify: bool,
}

/// An anomaly to store (the run and creation time are the store's).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAnomaly {
    pub timestamp: i64,
    pub close: f64,
    pub volume: f64,
    pub features: Vec<f32>,
    pub score: f32,
    pub label: bool,
    pub model_name: String,
    pub model_version: String,
    pub model_sha256: String,
    /// The rules that fired (at least one).
    pub matches: Vec<RuleMatch>,
    pub whitelisted: bool,
}

/// A stored anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub id: i64,
    pub ticker: String,
    pub interval: String,
    pub timestamp: i64,
    pub close: f64,
    pub volume: f64,
    pub features: Vec<f32>,
    pub score: f32,
    pub label: bool,
    pub model_name: String,
    pub model_version: String,
    pub model_sha256: String,
    pub run_id: i64,
    pub created_at_ms: i64,
    /// The rules that fired, by type.
    pub matches: Vec<RuleMatch>,
    /// The series was whitelisted when the anomaly was found.
    pub whitelisted: bool,
    /// Copied from the run (which may expire first): its trigger, start
    /// and evidence artifact ("" = none).
    pub run_trigger: Trigger,
    pub run_started_at_ms: i64,
    pub evidence_uri: String,
    /// Its run's webhook notification: `pending`, `sent`, `failed`, or ""
    /// when not notified (whitelisted, or no webhook configured).
    pub notification_state: String,
}

/// Which anomalies to list, ordered by id; `after_id` pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnomalyFilter {
    pub ticker: Option<String>,
    pub interval: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub min_score: Option<f32>,
    pub model_version: Option<String>,
    /// Only anomalies one of whose matched rules has this type.
    pub anomaly_type: Option<AnomalyType>,
    pub whitelisted: Option<bool>,
    /// Only the anomalies of this run.
    pub run_id: Option<i64>,
    pub after_id: i64,
    pub limit: u32,
}

/// Which runs to list, newest first; `before_id` pages (0 = from newest).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub ticker: Option<String>,
    pub interval: Option<String>,
    pub before_id: i64,
    pub limit: u32,
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where the times of runs and anomalies come from: the system clock, or
/// a fixed instant (reproducible runs: the same inputs then give
/// byte-identical evidence, like `SOURCE_DATE_EPOCH` for builds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    System,
    /// Every reading is this unix ms.
    Fixed(i64),
}

impl Clock {
    pub fn now_ms(self) -> i64 {
        match self {
            Clock::System => now_ms(),
            Clock::Fixed(ms) => ms,
        }
    }
}

/// What `Stats` counts: one ticker or all, anomalies of bars in a time
/// range (unix seconds, inclusive) or all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsFilter {
    pub ticker: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Counts of anomalies and runs (keys sorted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub total_anomalies: u64,
    pub anomalies_by_ticker: Vec<(String, u64)>,
    /// Key: the bar's UTC day as unix seconds / 86,400.
    pub anomalies_by_day: Vec<(i64, u64)>,
    pub runs_by_status: Vec<(String, u64)>,
    /// Anomalies per matched rule type (an anomaly matching two types
    /// counts under both).
    pub anomalies_by_type: Vec<(String, u64)>,
    /// Keys `whitelisted` and `not_whitelisted`.
    pub anomalies_by_whitelist: Vec<(String, u64)>,
    pub runs_by_trigger: Vec<(String, u64)>,
    /// Key: the UTC day the run started, as unix ms / 86,400,000.
    pub runs_by_day: Vec<(i64, u64)>,
}

/// A stored anomaly re-scored now.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub original: Anomaly,
    pub current_score: f32,
    pub current_label: bool,
    pub current_features: Vec<f32>,
    pub current_model_version: String,
    pub current_model_sha256: String,
    /// The current rules that fire for the re-scored bar (empty: no
    /// longer an anomaly).
    pub current_matches: Vec<RuleMatch>,
    /// The `verification` run recorded for this check.
    pub run: Run,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn intervals_parse_and_name_the_field() {
        assert_eq!(Interval::parse("interval", "1d").unwrap().seconds(), 86_400);
        let e = Interval::parse("interval", "2d").unwrap_err().to_string();
        assert!(e.starts_with("interval: expected one of 1m"), "{e}");
        assert!(e.contains("\"2d\""), "{e}");
    }

    #[test]
    fn tickers_are_checked() {
        check_ticker("ticker", "BRK.B").unwrap();
        check_ticker("ticker", "^GSPC").unwrap();
        assert!(check_ticker("ticker", "").is_err());
        assert!(check_ticker("ticker", "a b").is_err());
    }

    #[test]
    fn enums_round_trip() {
        for t in [
            Trigger::ChartRequest,
            Trigger::Backfill,
            Trigger::Scheduler,
            Trigger::Verification,
            Trigger::Api,
        ] {
            assert_eq!(Trigger::parse(t.as_str()).unwrap(), t);
        }
        for s in [
            RunStatus::InProgress,
            RunStatus::Complete,
            RunStatus::Failed,
        ] {
            assert_eq!(RunStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
