//! Every Prometheus metric of the detection service of its own (names
//! prefixed `joust_detect_`), and their text encoding for `/metrics`. The
//! per-RPC counters and latency (`joust_detect_grpc_*`) come from
//! joust-runtime's RPC layer. Labels take only values from fixed sets
//! (triggers, outcomes, job states).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::Trigger;
use crate::jobs::JobStatus;

/// The prefix of every detection metric.
pub const PREFIX: &str = "joust_detect";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    trigger: &'static str,
    /// `completed` or `failed`.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    /// How a backfill attempt ended: `completed`, `retrying`, `failed`,
    /// `released` (workers stopped), `lease_lost`.
    outcome: &'static str,
}

/// The outcomes of a backfill attempt.
pub const JOB_OUTCOMES: [&str; 5] = ["completed", "retrying", "failed", "released", "lease_lost"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    /// A health entry of `crate::health` (`joust.detect.database`, …).
    service: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

fn job_histogram() -> Histogram {
    // 10 ms … ~5.8 h.
    Histogram::new(exponential_buckets(0.01, 2.0, 21))
}

fn scoring_histogram() -> Histogram {
    // 100 µs … ~6.5 s.
    Histogram::new(exponential_buckets(1e-4, 2.0, 17))
}

/// The detection service's metrics; cheap to share behind `Arc`.
#[derive(Debug)]
pub struct DetectMetrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    anomalies: Counter,
    jobs: Family<StateLabels, Gauge>,
    queue: Gauge,
    scoring: Histogram,
    dependencies: Family<DependencyLabels, Gauge>,
    job_attempts: Family<OutcomeLabels, Counter>,
    job_durations: Family<OutcomeLabels, Histogram>,
    queue_limit: Gauge,
    queue_alert_length: Gauge,
    queue_alerts: Counter,
    refused: Counter,
    notifications: Family<OutcomeLabels, Counter>,
    notification_durations: Histogram,
}

impl Default for DetectMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl DetectMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let runs = Family::<RunLabels, Counter>::default();
        let anomalies = Counter::default();
        let jobs = Family::<StateLabels, Gauge>::default();
        let queue = Gauge::default();
        let scoring = scoring_histogram();
        let dependencies = Family::<DependencyLabels, Gauge>::default();
        let job_attempts = Family::<OutcomeLabels, Counter>::default();
        let job_durations = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            job_histogram as fn() -> Histogram,
        );
        let queue_limit = Gauge::default();
        let queue_alert_length = Gauge::default();
        let queue_alerts = Counter::default();
        let refused = Counter::default();
        let notifications = Family::<OutcomeLabels, Counter>::default();
        let notification_durations = scoring_histogram();
        registry.register(
            "notification_attempts",
            "Webhook notification attempts, by the event's state after it (sent, pending: retried, failed)",
            notifications.clone(),
        );
        registry.register(
            "notification_duration_seconds",
            "Time of one webhook notification POST",
            notification_durations.clone(),
        );
        registry.register(
            "job_attempts",
            "Backfill attempts ended, by outcome (completed, retrying, failed, released, lease_lost)",
            job_attempts.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time from claim to end of one backfill attempt, by outcome",
            job_durations.clone(),
        );
        registry.register(
            "queue_limit",
            "Most backfill jobs waiting before Backfill is refused (0 = no limit)",
            queue_limit.clone(),
        );
        registry.register(
            "queue_alert_length",
            "Queue length at which the queue alert fires (0 = no alert)",
            queue_alert_length.clone(),
        );
        registry.register(
            "queue_alerts",
            "Times the queue length reached the alert length",
            queue_alerts.clone(),
        );
        registry.register(
            "backfills_refused",
            "Backfill requests refused because the queue was full",
            refused.clone(),
        );
        for outcome in JOB_OUTCOMES {
            drop(job_attempts.get_or_create(&OutcomeLabels { outcome }));
        }
        registry.register(
            "dependency_up",
            "1 while the dependency's health probe passes, 0 while it fails",
            dependencies.clone(),
        );
        registry.register(
            "runs",
            "Detection runs finished, by trigger and outcome (completed, failed)",
            runs.clone(),
        );
        registry.register(
            "anomalies_found",
            "Anomalies stored by detection and backfill runs",
            anomalies.clone(),
        );
        registry.register(
            "jobs",
            "Backfill jobs by state (pending, processing, retrying, completed, failed)",
            jobs.clone(),
        );
        registry.register(
            "queue_length",
            "Backfill jobs waiting to be claimed (pending and retrying)",
            queue.clone(),
        );
        registry.register(
            "scoring_duration_seconds",
            "Time to score one run's bars through the OIP endpoint",
            scoring.clone(),
        );
        // Every state from the start, so a dashboard sees zeros.
        for state in JobStatus::ALL {
            drop(jobs.get_or_create(&StateLabels {
                state: state.as_str(),
            }));
        }
        Self {
            registry,
            runs,
            anomalies,
            jobs,
            queue,
            scoring,
            dependencies,
            job_attempts,
            job_durations,
            queue_limit,
            queue_alert_length,
            queue_alerts,
            refused,
            notifications,
            notification_durations,
        }
    }

    /// Counts and times one notification attempt; `state` is `sent`,
    /// `pending` (retried) or `failed`.
    pub fn notification_attempt(&self, state: &'static str, took: std::time::Duration) {
        self.notifications
            .get_or_create(&OutcomeLabels { outcome: state })
            .inc();
        self.notification_durations.observe(took.as_secs_f64());
    }

    /// Counts and times one backfill attempt that ended with `outcome` (one
    /// of [`JOB_OUTCOMES`]).
    pub fn job_attempt(&self, outcome: &'static str, elapsed: std::time::Duration) {
        let labels = OutcomeLabels { outcome };
        self.job_attempts.get_or_create(&labels).inc();
        self.job_durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The configured queue limits, as gauges.
    pub fn set_queue_limits(&self, max: u64, alert: u64) {
        self.queue_limit.set(i64::try_from(max).unwrap_or(i64::MAX));
        self.queue_alert_length
            .set(i64::try_from(alert).unwrap_or(i64::MAX));
    }

    pub fn queue_alert(&self) {
        self.queue_alerts.inc();
    }

    pub fn backfill_refused(&self) {
        self.refused.inc();
    }

    /// The queue length gauge alone (the monitor's reading).
    pub fn set_queue_length(&self, waiting: u64) {
        self.queue.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// Sets the dependency gauges from the last health probe.
    pub fn set_dependencies(&self, probed: &[(&'static str, bool)]) {
        for (service, up) in probed {
            self.dependencies
                .get_or_create(&DependencyLabels { service })
                .set(i64::from(*up));
        }
    }

    /// Counts one finished run.
    pub fn run(&self, trigger: Trigger, completed: bool) {
        self.runs
            .get_or_create(&RunLabels {
                trigger: trigger.as_str(),
                outcome: if completed { "completed" } else { "failed" },
            })
            .inc();
    }

    pub fn anomalies_found(&self, n: usize) {
        self.anomalies.inc_by(n as u64);
    }

    /// Times one scoring.
    pub fn scored(&self, elapsed: std::time::Duration) {
        self.scoring.observe(elapsed.as_secs_f64());
    }

    /// Sets the job gauges from the store's counts per status name.
    pub fn set_jobs(&self, counts: &[(String, u64)]) {
        let mut waiting = 0;
        for state in JobStatus::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            if matches!(state, JobStatus::Pending | JobStatus::Retrying) {
                waiting += n;
            }
            self.jobs
                .get_or_create(&StateLabels {
                    state: state.as_str(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.queue.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_states_fixed() {
        let m = DetectMetrics::new();
        m.run(Trigger::Api, true);
        m.run(Trigger::Backfill, false);
        m.set_jobs(&[
            ("pending".to_owned(), 2),
            ("retrying".to_owned(), 1),
            ("bogus".to_owned(), 9),
        ]);
        m.scored(std::time::Duration::from_millis(3));
        let text = m.encode();
        assert!(
            text.contains(r#"joust_detect_runs_total{trigger="api",outcome="completed"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"joust_detect_runs_total{trigger="backfill",outcome="failed"} 1"#));
        assert!(
            text.contains(r#"joust_detect_jobs{state="pending"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"joust_detect_jobs{state="failed"} 0"#),
            "{text}"
        );
        assert!(!text.contains("bogus"), "{text}");
        assert!(text.contains("joust_detect_queue_length 3"), "{text}");
        assert!(text.contains("joust_detect_scoring_duration_seconds_count 1"));
    }
}
