//! Every Prometheus metric of the router (names prefixed `joust_router_`),
//! and their text encoding for `/metrics`. Request counts per model and
//! arm are also kept for `RouterAdmin.GetStats`. The `model` label takes
//! only routed models' names (a request pinned to a version of a model
//! without a route counts as [`UNKNOWN_MODEL`]), so clients cannot grow
//! the series without bound.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

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

/// The metrics of one (model, arm), resolved once: the request path
/// touches them without building labels, allocating or locking.
#[derive(Debug, Clone)]
struct ArmHandles {
    arm: &'static str,
    requests: Counter,
    latency: Histogram,
    /// (requests, errors), for GetStats.
    counts: Arc<(AtomicU64, AtomicU64)>,
}

/// model → its arms' handles (a few arms each). Read lock-free; a miss
/// (a model's first request on an arm) copies the map under `arms_grow`.
type ArmMap = BTreeMap<String, Vec<ArmHandles>>;

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
    /// (model, arm) → metric handles and counts for GetStats.
    arms: ArcSwap<ArmMap>,
    arms_grow: Mutex<()>,
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
            arms: ArcSwap::from_pointee(BTreeMap::new()),
            arms_grow: Mutex::new(()),
        }
    }

    /// The handles of (`model`, `arm`), created on first use.
    fn arm(&self, model: &str, arm: &'static str) -> ArmHandles {
        let find = |map: &ArmMap| {
            map.get(model)
                .and_then(|arms| arms.iter().find(|h| h.arm == arm).cloned())
        };
        if let Some(h) = find(&self.arms.load()) {
            return h;
        }
        // Slow path, once per (model, arm): resolve the families' series.
        let _grow = self.arms_grow.lock();
        let current = self.arms.load_full();
        if let Some(h) = find(&current) {
            return h;
        }
        let labels = ArmLabels {
            model: model.to_owned(),
            arm,
        };
        let h = ArmHandles {
            arm,
            requests: self.requests.get_or_create(&labels).clone(),
            latency: self.latency.get_or_create(&labels).clone(),
            counts: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        };
        let mut next = (*current).clone();
        next.entry(model.to_owned()).or_default().push(h.clone());
        self.arms.store(Arc::new(next));
        h
    }

    /// Records one answered request (or shadow copy).
    pub fn observe(&self, model: &str, arm: &'static str, code: tonic::Code, elapsed: Duration) {
        let failed = code != tonic::Code::Ok;
        let count = |h: &ArmHandles| {
            h.requests.inc();
            h.latency.observe(elapsed.as_secs_f64());
            h.counts.0.fetch_add(1, Ordering::Relaxed);
            if failed {
                h.counts.1.fetch_add(1, Ordering::Relaxed);
            }
        };
        // The common case borrows the handles from the snapshot (no
        // clone of the Arc-held series).
        let found = self.arms.load().get(model).and_then(|arms| {
            arms.iter().find(|h| h.arm == arm).map(|h| {
                count(h);
            })
        });
        if found.is_none() {
            count(&self.arm(model, arm));
        }
        if failed {
            self.errors
                .get_or_create(&ErrorLabels {
                    model: model.to_owned(),
                    arm,
                    code: format!("{code:?}"),
                })
                .inc();
        }
    }

    /// ((model, arm), requests, errors) for GetStats, by model then arm.
    pub fn arm_counts(&self) -> Vec<(String, &'static str, u64, u64)> {
        let arms = self.arms.load();
        let mut out: Vec<_> = arms
            .iter()
            .flat_map(|(m, hs)| {
                hs.iter().map(|h| {
                    (
                        m.clone(),
                        h.arm,
                        h.counts.0.load(Ordering::Relaxed),
                        h.counts.1.load(Ordering::Relaxed),
                    )
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
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
