//! joust-telemetry owns how every joust process reports what it does: the
//! `tracing` subscriber (text or JSON logs on stderr, level from
//! `JOUST_LOG`), the optional OpenTelemetry pipeline that exports spans over
//! OTLP/gRPC, and W3C trace context (`traceparent` / `tracestate`) carried
//! in gRPC metadata: [`GrpcTraceLayer`] continues it on servers, [`inject`]
//! and [`TraceContextInterceptor`] send it on clients.
//!
//! It knows nothing of models, registries or routing; roles only add the
//! layer to their tonic server and call [`init`] once from `main`.

#![forbid(unsafe_code)]

mod init;
mod layer;
mod propagation;

pub use init::{Guard, TelemetryError, init, init_with_level};
pub use layer::{GrpcTraceLayer, GrpcTraceService, ResponseFuture};
pub use propagation::{
    TraceContextInterceptor, continue_from_headers, extract, extract_headers, inject,
    inject_context, inject_current,
};
