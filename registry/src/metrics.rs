//! Every Prometheus metric of the registry of its own (names prefixed
//! `joust_registry_`), and their text encoding for `/metrics`. The
//! per-RPC counters and latency (`joust_registry_grpc_*`) come from
//! joust-runtime's RPC layer. Labels take only values from fixed sets
//! (store operation names, record outcomes), never client input.

use std::future::Future;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The prefix of every registry metric.
pub const PREFIX: &str = "joust_registry";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    /// A store operation, e.g. `list_events`.
    op: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReaderLabels {
    /// `feed`: the one shared read per change; `subscriber`: a Watch
    /// stream catching up from before what the feed keeps.
    reader: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    /// `accepted`, `duplicate` or `refused`.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    /// A configured webhook endpoint's name.
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointOutcomeLabels {
    endpoint: String,
    /// Attempts: `delivered`, `refused` (non-2xx), `failed` (no answer);
    /// deliveries: `delivered`, `failed`.
    outcome: &'static str,
}

fn webhook_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(1e-3, 2.0, 16))
}

type Latency<L> = Family<L, Histogram, fn() -> Histogram>;

fn store_histogram() -> Histogram {
    // 50 µs … ~1.6 s.
    Histogram::new(exponential_buckets(50e-6, 2.0, 16))
}

fn report_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(1e-3, 2.0, 15))
}

/// The registry's metrics; cheap to share behind `Arc`.
#[derive(Debug)]
pub struct RegistryMetrics {
    registry: Registry,
    store: Latency<OpLabels>,
    watch_subscribers: Gauge,
    watch_reads: Family<ReaderLabels, Counter>,
    watch_sent: Counter,
    records: Family<OutcomeLabels, Counter>,
    report: Histogram,
    webhook_deliveries: Family<EndpointOutcomeLabels, Counter>,
    webhook_attempts: Family<EndpointOutcomeLabels, Counter>,
    webhook_latency: Latency<EndpointLabels>,
    webhook_queue: Family<EndpointLabels, Gauge>,
}

impl Default for RegistryMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RegistryMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let store: Latency<OpLabels> = Family::new_with_constructor(store_histogram);
        let watch_subscribers = Gauge::default();
        let records = Family::<OutcomeLabels, Counter>::default();
        let report = report_histogram();
        let watch_reads = Family::<ReaderLabels, Counter>::default();
        let watch_sent = Counter::default();
        registry.register(
            "store_duration_seconds",
            "Time of one metadata-store operation (a query or transaction), by operation",
            store.clone(),
        );
        registry.register(
            "watch_subscribers",
            "Open Watch streams",
            watch_subscribers.clone(),
        );
        registry.register(
            "watch_store_reads",
            "Event-log reads made for Watch streams, by reader (feed: the one shared read per change; subscriber: a stream catching up from far back)",
            watch_reads.clone(),
        );
        registry.register(
            "watch_events_sent",
            "Events sent on Watch streams (every stream counts its own)",
            watch_sent.clone(),
        );
        registry.register(
            "records_ingested",
            "Comparison records received by RecordComparisons, by outcome (accepted, duplicate, refused)",
            records.clone(),
        );
        registry.register(
            "trial_report_duration_seconds",
            "Time to build one trial report (rollups or records read, gates evaluated)",
            report.clone(),
        );
        let webhook_deliveries = Family::<EndpointOutcomeLabels, Counter>::default();
        let webhook_attempts = Family::<EndpointOutcomeLabels, Counter>::default();
        let webhook_latency: Latency<EndpointLabels> =
            Family::new_with_constructor(webhook_histogram);
        let webhook_queue = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries finished, by endpoint and outcome (delivered, failed after the last attempt)",
            webhook_deliveries.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook POST attempts, by endpoint and outcome (delivered, refused: a non-2xx answer, failed: no answer)",
            webhook_attempts.clone(),
        );
        registry.register(
            "webhook_attempt_duration_seconds",
            "Time of one webhook POST, by endpoint",
            webhook_latency.clone(),
        );
        registry.register(
            "webhook_queue_depth",
            "Webhook deliveries pending (queued or waiting for a retry), by endpoint",
            webhook_queue.clone(),
        );
        Self {
            registry,
            store,
            watch_subscribers,
            watch_reads,
            watch_sent,
            records,
            report,
            webhook_deliveries,
            webhook_attempts,
            webhook_latency,
            webhook_queue,
        }
    }

    /// Runs store operation `op`, timing it.
    pub async fn store_op<T>(&self, op: &'static str, fut: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = fut.await;
        self.store
            .get_or_create(&OpLabels { op })
            .observe(started.elapsed().as_secs_f64());
        out
    }

    /// One more open Watch stream until the guard is dropped.
    pub fn watch_subscriber(&self) -> SubscriberGuard {
        self.watch_subscribers.inc();
        SubscriberGuard(self.watch_subscribers.clone())
    }

    /// Counts one event-log read made for Watch (`feed` or `subscriber`).
    pub fn watch_read(&self, reader: &'static str) {
        self.watch_reads
            .get_or_create(&ReaderLabels { reader })
            .inc();
    }

    /// Counts one event sent on a Watch stream.
    pub fn watch_sent(&self) {
        self.watch_sent.inc();
    }

    /// Counts the records of one `record` call.
    pub fn records(&self, accepted: u64, duplicates: u64, refused: u64) {
        for (outcome, n) in [
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("refused", refused),
        ] {
            self.records
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n);
        }
    }

    /// Times one trial report.
    pub fn report_took(&self, elapsed: std::time::Duration) {
        self.report.observe(elapsed.as_secs_f64());
    }

    /// Counts one finished webhook delivery.
    pub fn webhook_delivery(&self, endpoint: &str, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&EndpointOutcomeLabels {
                endpoint: endpoint.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts and times one webhook POST.
    pub fn webhook_attempt(
        &self,
        endpoint: &str,
        outcome: &'static str,
        took: std::time::Duration,
    ) {
        self.webhook_attempts
            .get_or_create(&EndpointOutcomeLabels {
                endpoint: endpoint.to_owned(),
                outcome,
            })
            .inc();
        self.webhook_latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Sets an endpoint's pending deliveries.
    pub fn webhook_queue(&self, endpoint: &str, pending: i64) {
        self.webhook_queue
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .set(pending);
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

/// Holds one Watch subscriber in the gauge.
#[derive(Debug)]
pub struct SubscriberGuard(Gauge);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_are_prefixed_and_subscribers_counted() {
        let m = RegistryMetrics::new();
        assert_eq!(m.store_op("get_model", async { 7 }).await, 7);
        let a = m.watch_subscriber();
        let b = m.watch_subscriber();
        drop(a);
        m.records(3, 1, 0);
        m.report_took(std::time::Duration::from_millis(5));
        let text = m.encode();
        assert!(
            text.contains("joust_registry_store_duration_seconds_count{op=\"get_model\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("joust_registry_watch_subscribers 1"),
            "{text}"
        );
        assert!(
            text.contains("joust_registry_records_ingested_total{outcome=\"accepted\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("joust_registry_records_ingested_total{outcome=\"refused\"} 0"),
            "{text}"
        );
        assert!(text.contains("joust_registry_trial_report_duration_seconds_count 1"));
        drop(b);
        assert!(m.encode().contains("joust_registry_watch_subscribers 0"));
        m.webhook_attempt("ops", "refused", std::time::Duration::from_millis(3));
        m.webhook_attempt("ops", "delivered", std::time::Duration::from_millis(3));
        m.webhook_delivery("ops", "delivered");
        m.webhook_queue("ops", 2);
        let text = m.encode();
        for line in [
            "joust_registry_webhook_attempts_total{endpoint=\"ops\",outcome=\"refused\"} 1",
            "joust_registry_webhook_deliveries_total{endpoint=\"ops\",outcome=\"delivered\"} 1",
            "joust_registry_webhook_attempt_duration_seconds_count{endpoint=\"ops\"} 2",
            "joust_registry_webhook_queue_depth{endpoint=\"ops\"} 2",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }
}
