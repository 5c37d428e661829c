//! A tower layer for tonic servers: one span per RPC, named for the gRPC
//! method (`joust.v1.Inference/Predict`), with the OpenTelemetry RPC
//! attributes, continuing the caller's W3C trace context when the request
//! carries one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use opentelemetry::trace::TraceContextExt;
use tower::{Layer, Service};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::propagation::extract_headers;

/// Wraps every service of a tonic server: `Server::builder().layer(GrpcTraceLayer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> Layer<S> for GrpcTraceLayer {
    type Service = GrpcTraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTraceService { inner }
    }
}

/// The service [`GrpcTraceLayer`] builds.
#[derive(Debug, Clone)]
pub struct GrpcTraceService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcTraceService<S>
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
        let span = rpc_span(&request);
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture { inner, span }
    }
}

/// The per-RPC span, a child of the incoming trace context if any.
fn rpc_span<B>(request: &http::Request<B>) -> Span {
    let name = request.uri().path().trim_start_matches('/');
    let (service, method) = name.split_once('/').unwrap_or((name, ""));
    let span = tracing::info_span!(
        "grpc",
        otel.name = name,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        otel.status_code = Empty,
    );
    let parent = extract_headers(request.headers());
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed (nothing is
        // exported then) or the span is filtered out.
        let _ = span.set_parent(parent);
    }
    span
}

pin_project_lite::pin_project! {
    /// Polls the inner response future inside the RPC span and records the
    /// gRPC status the response headers carry (trailers-only responses,
    /// i.e. errors; a response whose status comes in trailers is OK).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => {
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0);
                this.span.record("rpc.grpc.status_code", code);
                if code != 0 {
                    this.span.record("otel.status_code", "ERROR");
                }
            }
            Err(_) => {
                this.span.record("otel.status_code", "ERROR");
            }
        }
        Poll::Ready(result)
    }
}
