//! W3C trace context (`traceparent`, `tracestate`) in gRPC metadata:
//! extract on the way in, inject on the way out. Always the W3C format,
//! whatever global propagator is installed.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                KeyRef::Ascii(k) => Some(k.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The remote context carried by HTTP/2 request headers (what a tower
/// layer in front of a tonic server sees). Empty when there is none or it
/// does not parse.
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes `span` a child of the W3C trace context in HTTP `headers`, when
/// they carry a valid one (HTTP endpoints that are not behind the gRPC
/// trace layer, such as the OIP REST API).
pub fn continue_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    use opentelemetry::trace::TraceContextExt;
    let parent = extract_headers(headers);
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed (nothing is
        // exported then) or the span is filtered out.
        let _ = span.set_parent(parent);
    }
}

/// The remote context carried by gRPC request metadata.
pub fn extract(metadata: &MetadataMap) -> Context {
    TraceContextPropagator::new().extract(&MetadataExtractor(metadata))
}

/// Writes `cx`'s span context into `metadata` as `traceparent` (and
/// `tracestate` when not empty). Nothing is written for an invalid
/// context.
pub fn inject_context(cx: &Context, metadata: &mut MetadataMap) {
    TraceContextPropagator::new().inject_context(cx, &mut MetadataInjector(metadata));
}

/// Writes the current `tracing` span's trace context into `metadata`
/// (nothing when tracing is off or there is no span).
pub fn inject_current(metadata: &mut MetadataMap) {
    inject_context(&tracing::Span::current().context(), metadata);
}

/// Puts the current `tracing` span's trace context on an outgoing request,
/// so the server's span becomes its child.
pub fn inject<T>(request: &mut tonic::Request<T>) {
    inject_context(&tracing::Span::current().context(), request.metadata_mut());
}

/// A tonic client interceptor that [`inject`]s the current trace context
/// into every request: `FooClient::with_interceptor(channel,
/// TraceContextInterceptor)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject(&mut request);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
    };
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn remote() -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex(TRACE).unwrap(),
            SpanId::from_hex(SPAN).unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("vendor", "x")]).unwrap(),
        ))
    }

    #[test]
    fn inject_then_extract_round_trips() {
        let mut metadata = MetadataMap::new();
        inject_context(&remote(), &mut metadata);
        assert_eq!(
            metadata.get("traceparent").unwrap(),
            &format!("00-{TRACE}-{SPAN}-01")
        );
        assert_eq!(metadata.get("tracestate").unwrap(), "vendor=x");

        let back = extract(&metadata);
        let sc = back.span().span_context().clone();
        assert_eq!(sc.trace_id(), TraceId::from_hex(TRACE).unwrap());
        assert_eq!(sc.span_id(), SpanId::from_hex(SPAN).unwrap());
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));

        let headers = metadata.clone().into_headers();
        assert_eq!(
            extract_headers(&headers).span().span_context(),
            back.span().span_context()
        );
    }

    #[test]
    fn nothing_is_injected_without_a_context_and_garbage_is_not_extracted() {
        let mut metadata = MetadataMap::new();
        inject_context(&Context::new(), &mut metadata);
        assert!(metadata.is_empty());
        metadata.insert("traceparent", "00-not-a-trace-01".parse().unwrap());
        assert!(!extract(&metadata).span().span_context().is_valid());
    }

    #[test]
    fn a_span_parented_on_an_incoming_context_propagates_its_trace() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("rpc");
            span.set_parent(remote()).unwrap();
            let _entered = span.enter();
            let mut request = tonic::Request::new(());
            inject(&mut request);
            let out = extract(request.metadata());
            let sc = out.span().span_context().clone();
            // Same trace, a new span (ours) as the parent of the next hop.
            assert_eq!(sc.trace_id(), TraceId::from_hex(TRACE).unwrap());
            assert!(sc.span_id() != SpanId::from_hex(SPAN).unwrap());
            assert!(sc.span_id() != SpanId::INVALID);
        });
    }
}
