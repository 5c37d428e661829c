//! Per-RPC request counters and latency, as a tower layer for roles that
//! keep no request metrics of their own (registry, detection), under the
//! role's prefix: `<prefix>_grpc_requests_total{service,method,code}` and
//! `<prefix>_grpc_request_duration_seconds{service,method}` (time to the
//! response headers; for a stream, until it starts), e.g.
//! `joust_registry_grpc_requests_total`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tower::{Layer, Service};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    service: String,
    method: String,
    code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabels {
    service: String,
    method: String,
}

type Latency = Family<MethodLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The metrics of one role's RPCs; cheap to clone.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    requests: Family<CallLabels, Counter>,
    latency: Latency,
}

impl RpcMetrics {
    /// Metrics named `<prefix>_grpc_*` (`prefix` is the role's, e.g.
    /// `joust_registry`).
    pub fn new(prefix: &str) -> Self {
        let mut registry = Registry::with_prefix(prefix);
        let requests = Family::<CallLabels, Counter>::default();
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        registry.register(
            "grpc_requests",
            "gRPC requests answered, by service, method and status code",
            requests.clone(),
        );
        registry.register(
            "grpc_request_duration_seconds",
            "Time from a gRPC request to its response headers",
            latency.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
            }),
        }
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Records one call of `path` (`/package.Service/Method`) answered
    /// with gRPC code `code` (e.g. `Ok`), started at `started`.
    pub fn record(&self, path: &str, code: &str, started: Instant) {
        let name = path.trim_start_matches('/');
        let (service, method) = name.split_once('/').unwrap_or((name, ""));
        let method_labels = MethodLabels {
            service: service.to_owned(),
            method: method.to_owned(),
        };
        self.inner
            .latency
            .get_or_create(&method_labels)
            .observe(started.elapsed().as_secs_f64());
        self.inner
            .requests
            .get_or_create(&CallLabels {
                service: method_labels.service,
                method: method_labels.method,
                code: code.to_owned(),
            })
            .inc();
    }
}

/// Records every RPC when it holds metrics; passes through when not (one
/// layer type for every role).
#[derive(Debug, Clone, Default)]
pub struct RpcMetricsLayer(pub Option<RpcMetrics>);

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service [`RpcMetricsLayer`] builds.
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Option<RpcMetrics>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RpcMetricsService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let record = self
            .metrics
            .clone()
            .map(|m| (m, request.uri().path().to_owned(), Instant::now()));
        ResponseFuture {
            inner: self.inner.call(request),
            record,
        }
    }
}

pin_project_lite::pin_project! {
    /// Records the call when the response headers are ready: the gRPC
    /// status they carry (a trailers-only response, i.e. an error), else OK.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<(RpcMetrics, String, Instant)>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some((metrics, path, started)) = this.record.take() {
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(tonic::Code::Ok, tonic::Code::from_i32),
                Err(_) => tonic::Code::Unknown,
            };
            metrics.record(&path, &format!("{code:?}"), started);
        }
        Poll::Ready(result)
    }
}
