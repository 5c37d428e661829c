//! Every Prometheus metric of the router (names prefixed `joust_router_`),
//! and their text encoding for `/metrics`. Request counts per model and
//! arm are also kept for `RouterAdmin.GetStats`. The `model` label takes
//! only routed models' names (a request pinned to a version of a model
//! without a route counts as [`UNKNOWN_MODEL`]), so clients cannot grow
//! the series without bound.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::recorder::RecordCounters;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ArmLabels {
    pub model: String,
    /// `champion`, `challenger`, `shadow` or `pinned`.
    pub arm: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub model: String,
    pub arm: &'static str,
    pub code: String,
}

/// The `model` label of a request for a model without a route.
pub const UNKNOWN_MODEL: &str = "unknown";

type ArmCounts = BTreeMap<(String, &'static str), (u64, u64)>;

fn latency_histogram() -> Histogram {
    // 50 µs .. ~3.3 s.
    Histogram::new(exponential_buckets(50e-6, 2.0, 17))
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<ArmLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub latency: Family<ArmLabels, Histogram, fn() -> Histogram>,
    pub records: RecordCounters,
    pub records_buffered: Gauge,
    pub node_ejections: Counter,
    pub nodes: Gauge,
    pub registry_connected: Gauge,
    pub watch_cursor: Gauge,
    pub routes_held: Gauge,
    pub rollouts_blocked: Gauge,
    /// (model, arm) → (requests, errors), for GetStats.
    arms: Mutex<ArmCounts>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("joust_router");
        let requests = Family::<ArmLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let latency = Family::<ArmLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let records = RecordCounters::default();
        let records_buffered = Gauge::default();
        let node_ejections = Counter::default();
        let nodes = Gauge::default();
        let registry_connected = Gauge::default();
        let watch_cursor = Gauge::default();
        let routes_held = Gauge::default();
        let rollouts_blocked = Gauge::default();
        registry.register(
            "routes_held",
            "Models answering with their previous champion while the registry's is not ready on enough nodes",
            routes_held.clone(),
        );
        registry.register(
            "rollouts_blocked",
            "Registry champions no node can serve (the previous champion keeps answering)",
            rollouts_blocked.clone(),
        );
        registry.register(
            "requests",
            "Requests answered per model and arm (shadow: copies to the challenger)",
            requests.clone(),
        );
        registry.register(
            "request_errors",
            "Failed requests per model, arm and gRPC code",
            errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Latency per model and arm, forwarding included, in seconds",
            latency.clone(),
        );
        registry.register(
            "records_sent",
            "Comparison records accepted by the registry",
            records.sent.clone(),
        );
        registry.register(
            "records_dropped",
            "Comparison records dropped before the registry stored them, by reason (buffer_full, registry_unreachable, batch_rejected, shutdown)",
            records.dropped_by_reason.clone(),
        );
        registry.register(
            "records_refused",
            "Comparison records the registry refused as invalid, by its reason code",
            records.refused_by_reason.clone(),
        );
        registry.register(
            "records_buffered",
            "Comparison records waiting to be sent",
            records_buffered.clone(),
        );
        registry.register(
            "node_ejections",
            "Times a node was ejected from the pool",
            node_ejections.clone(),
        );
        registry.register("nodes", "Node addresses in the pool", nodes.clone());
        registry.register(
            "registry_connected",
            "1 while the Watch stream to the registry is up",
            registry_connected.clone(),
        );
        registry.register(
            "watch_cursor",
            "Id of the last registry event seen",
            watch_cursor.clone(),
        );
        Self {
            registry,
            requests,
            errors,
            latency,
            records,
            records_buffered,
            node_ejections,
            nodes,
            registry_connected,
            watch_cursor,
            routes_held,
            rollouts_blocked,
            arms: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one answered request (or shadow copy).
    pub fn observe(&self, model: &str, arm: &'static str, code: tonic::Code, elapsed: Duration) {
        let labels = ArmLabels {
            model: model.to_owned(),
            arm,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let failed = code != tonic::Code::Ok;
        if failed {
            self.errors
                .get_or_create(&ErrorLabels {
                    model: model.to_owned(),
                    arm,
                    code: format!("{code:?}"),
                })
                .inc();
        }
        if let Ok(mut arms) = self.arms.lock() {
            let e = arms.entry((model.to_owned(), arm)).or_default();
            e.0 += 1;
            e.1 += u64::from(failed);
        }
    }

    /// ((model, arm), requests, errors) for GetStats.
    pub fn arm_counts(&self) -> Vec<(String, &'static str, u64, u64)> {
        self.arms
            .lock()
            .map(|a| {
                a.iter()
                    .map(|((m, a), (r, e))| (m.clone(), *a, *r, *e))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_arms_counted() {
        let m = Metrics::new();
        m.observe(
            "m",
            "challenger",
            tonic::Code::Ok,
            Duration::from_micros(80),
        );
        m.observe(
            "m",
            "challenger",
            tonic::Code::NotFound,
            Duration::from_micros(80),
        );
        m.records.count_dropped("buffer_full", 1);
        m.records.count_refused("too_many_rows");
        let text = m.encode();
        assert!(
            text.contains("joust_router_requests_total{model=\"m\",arm=\"challenger\"} 2"),
            "{text}"
        );
        assert!(text.contains("code=\"NotFound\""));
        assert!(
            text.contains("joust_router_records_dropped_total{reason=\"buffer_full\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("joust_router_records_refused_total{reason=\"too_many_rows\"} 1"),
            "{text}"
        );
        assert_eq!(m.arm_counts(), vec![("m".into(), "challenger", 2, 1)]);
    }
}
