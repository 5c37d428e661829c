//! Every Prometheus metric of the serving node (names prefixed
//! `joust_node_`), and their text encoding for `/metrics`. The `model`
//! label of request metrics takes only names the node serves or follows
//! (the caller folds any other into [`UNKNOWN_MODEL`]), so a client
//! cannot grow the series without bound.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `oip` or `native`.
    pub api: &'static str,
    pub model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub api: &'static str,
    /// The gRPC code, e.g. `InvalidArgument`.
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub api: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

/// The `model` label of requests for a model the node neither serves nor
/// follows.
pub const UNKNOWN_MODEL: &str = "unknown";

fn latency_histogram() -> Histogram {
    // 20 µs .. ~1.3 s.
    Histogram::new(exponential_buckets(20e-6, 2.0, 17))
}

/// The node's metrics; cheap to share behind `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Answered inference requests (any outcome).
    pub requests: Family<RequestLabels, Counter>,
    /// Failed inference requests by gRPC code.
    pub errors: Family<ErrorLabels, Counter>,
    /// Inference latency, decoding to encoding, in seconds.
    pub latency: Family<ApiLabels, Histogram, fn() -> Histogram>,
    /// Versions loaded (downloaded, verified, decoded, warmed).
    pub loads: Family<ModelLabels, Counter>,
    /// Failed loads and failed ref resolutions.
    pub load_failures: Family<ModelLabels, Counter>,
    /// Times a ref started pointing at another version.
    pub swaps: Family<ModelLabels, Counter>,
    /// Versions currently in the table.
    pub models_loaded: Gauge,
    /// 1 while the Watch stream to the registry is up.
    pub registry_connected: Gauge,
    /// Id of the last registry event seen.
    pub watch_cursor: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("joust_node");
        let requests = Family::<RequestLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let latency = Family::<ApiLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let loads = Family::<ModelLabels, Counter>::default();
        let load_failures = Family::<ModelLabels, Counter>::default();
        let swaps = Family::<ModelLabels, Counter>::default();
        let models_loaded = Gauge::default();
        let registry_connected = Gauge::default();
        let watch_cursor = Gauge::default();
        registry.register(
            "requests",
            "Inference requests answered, any outcome",
            requests.clone(),
        );
        registry.register(
            "request_errors",
            "Failed inference requests by gRPC code",
            errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Inference latency in seconds",
            latency.clone(),
        );
        registry.register("model_loads", "Model versions loaded", loads.clone());
        registry.register(
            "model_load_failures",
            "Failed model loads and ref resolutions",
            load_failures.clone(),
        );
        registry.register(
            "model_swaps",
            "Refs that moved to another version",
            swaps.clone(),
        );
        registry.register(
            "models_loaded",
            "Model versions in the table",
            models_loaded.clone(),
        );
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
            loads,
            load_failures,
            swaps,
            models_loaded,
            registry_connected,
            watch_cursor,
        }
    }

    /// Records one inference request; `model` must be a name the node
    /// knows, or [`UNKNOWN_MODEL`].
    pub fn observe(&self, api: &'static str, model: &str, code: tonic::Code, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                api,
                model: model.to_owned(),
            })
            .inc();
        if code != tonic::Code::Ok {
            self.errors
                .get_or_create(&ErrorLabels {
                    api,
                    code: format!("{code:?}"),
                })
                .inc();
        }
        self.latency
            .get_or_create(&ApiLabels { api })
            .observe(elapsed.as_secs_f64());
    }

    pub fn model(model: &str) -> ModelLabels {
        ModelLabels {
            model: model.to_owned(),
        }
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
    fn names_are_prefixed_and_errors_carry_the_code() {
        let m = Metrics::new();
        m.observe(
            "oip",
            "m",
            tonic::Code::InvalidArgument,
            Duration::from_micros(50),
        );
        m.loads.get_or_create(&Metrics::model("m")).inc();
        let text = m.encode();
        assert!(
            text.contains("joust_node_requests_total{api=\"oip\",model=\"m\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "joust_node_request_errors_total{api=\"oip\",code=\"InvalidArgument\"} 1"
            )
        );
        assert!(text.contains("joust_node_request_duration_seconds_bucket"));
        assert!(text.contains("joust_node_model_loads_total{model=\"m\"} 1"));
    }
}
