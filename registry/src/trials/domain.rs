//! Trials as the domain sees them (no tonic, no SQL types): the trial, its
//! gates, and the comparison records routers send.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a trial's traffic reaches the challenger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Champion only (the trial is paused).
    Off,
    /// A share `weight` of requests is answered by the challenger.
    Split,
    /// The champion answers; a sampled copy goes to the challenger.
    Shadow,
}

/// Which side of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arm {
    Champion,
    Challenger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrialState {
    Open,
    Stopped,
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The challenger became champion; the old champion is retired.
    Promote,
    /// The challenger went back to `evaluated`.
    Reject,
    /// Stopped without a decision; the challenger went back to `evaluated`.
    Abort,
}

macro_rules! text_enum {
    ($ty:ident, $what:literal, $($var:ident => $s:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$var => $s),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($ty::$var),)+
                    other => Err(format!(
                        concat!("expected ", $what, " (", $($s, " ",)+ "), got {:?}"),
                        other
                    )),
                }
            }
        }
    };
}

text_enum!(Mode, "a mode", Off => "off", Split => "split", Shadow => "shadow");
text_enum!(Arm, "an arm", Champion => "champion", Challenger => "challenger");
text_enum!(TrialState, "a trial state", Open => "open", Stopped => "stopped");
text_enum!(Outcome, "an outcome", Promote => "promote", Reject => "reject", Abort => "abort");

/// The tolerances a trial's verdict is judged against, each a hypothesis
/// tested with the trial's `confidence` (docs/trials.md, "Gates"). Unset
/// gates are not checked. Stored as JSON: fields added later default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gates {
    /// Successful requests each compared arm needs before any verdict
    /// other than `keep_running`.
    pub min_samples: u64,
    /// Anomaly-rate difference (challenger − champion) within ± this.
    pub max_anomaly_rate_delta: Option<f64>,
    /// Label agreement on paired rows (shadow periods) at least this.
    pub min_agreement: Option<f64>,
    /// Challenger p99 latency / champion p99 latency at most this.
    pub max_p99_latency_ratio: Option<f64>,
    /// Challenger error rate at most this.
    pub max_error_rate: Option<f64>,
    /// Error-rate difference (challenger − champion) at most this.
    #[serde(default)]
    pub max_error_rate_delta: Option<f64>,
    /// PSI of the challenger's scores against the champion's at most this
    /// (a point estimate: blocks promotion, never rejects by itself).
    #[serde(default)]
    pub max_psi: Option<f64>,
    /// Seconds the trial must have run before `promote`.
    #[serde(default)]
    pub min_duration_secs: Option<u64>,
    /// Probability that the verdict's statements hold at once, across every
    /// gate and every report ever asked for, in (0, 1).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
}

/// The trial confidence when none is given.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

fn default_confidence() -> f64 {
    DEFAULT_CONFIDENCE
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            min_samples: 1000,
            max_anomaly_rate_delta: None,
            min_agreement: None,
            max_p99_latency_ratio: None,
            max_error_rate: None,
            max_error_rate_delta: None,
            max_psi: None,
            min_duration_secs: None,
            confidence: DEFAULT_CONFIDENCE,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub id: u64,
    pub model: String,
    pub champion_version: u64,
    pub challenger_version: u64,
    pub mode: Mode,
    /// Challenger share of requests in split mode, in [0, 1].
    pub weight: f64,
    /// Share of requests copied to the challenger in shadow mode, in [0, 1].
    pub sampling: f64,
    /// Keyed requests keep their arm for the trial's life.
    pub sticky: bool,
    pub gates: Gates,
    pub state: TrialState,
    pub outcome: Option<Outcome>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub started_by: String,
    pub reason: String,
}

/// A stretch of a trial with one mode, weight and sampling: every change
/// of one of them starts the next period (numbered from 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub period: u32,
    /// Records at or after this time (and before the next period's start)
    /// belong to this period.
    pub started_at: DateTime<Utc>,
    pub mode: Mode,
    pub weight: f64,
    pub sampling: f64,
}

/// What to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTrial {
    pub model: String,
    pub challenger_version: u64,
    pub mode: Mode,
    pub weight: f64,
    pub sampling: f64,
    pub sticky: bool,
    pub gates: Gates,
    pub reason: String,
    /// A progressive rollout the controller runs (its first step's
    /// settings are the trial's).
    pub plan: Option<crate::trials::rollout::Plan>,
}

/// A change to an open trial; `None` fields are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrialUpdate {
    pub mode: Option<Mode>,
    pub weight: Option<f64>,
    pub sampling: Option<f64>,
    pub gates: Option<Gates>,
    pub reason: String,
}

/// One arm's answer to a compared request.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmResult {
    pub version: u64,
    /// One score per input row (empty when the arm failed).
    pub scores: Vec<f64>,
    /// One label per input row, `true` = anomaly.
    pub labels: Vec<bool>,
    pub latency_us: u64,
    /// gRPC status code of the arm's answer, 0 = OK.
    pub status_code: i32,
}

impl ArmResult {
    pub fn ok(&self) -> bool {
        self.status_code == 0
    }
}

/// One compared request, as a router records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRecord {
    /// Unique per record; a retried batch does not count twice.
    pub record_id: String,
    pub trial_id: u64,
    pub request_id: String,
    pub time: DateTime<Utc>,
    /// Hash of the routing key (0 without a key).
    pub routing_key_hash: u64,
    pub served: Arm,
    pub champion: Option<ArmResult>,
    pub challenger: Option<ArmResult>,
}
