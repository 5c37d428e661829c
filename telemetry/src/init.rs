//! The process-wide subscriber: fmt logs always, OTLP span export when an
//! endpoint is given. [`Guard`] flushes and shuts the exporter down.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What can go wrong setting telemetry up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("otlp-endpoint: expected an http:// or https:// URL, got {0:?}")]
    Endpoint(String),
    #[error("building the OTLP span exporter for {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("installing the tracing subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the span exporter alive; dropping it flushes the spans still
/// buffered and shuts the exporter down. Hold it for the whole of `main`.
#[derive(Debug)]
#[must_use = "dropping the guard stops span export"]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Guard {
    /// True when spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("telemetry: flushing spans failed: {error}");
        }
    }
}

/// Log level filter for the fmt output: `JOUST_LOG` (EnvFilter syntax),
/// else `default_level`.
fn log_filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_env("JOUST_LOG").unwrap_or_else(|_| EnvFilter::new(default_level))
}

/// Spans exported over OTLP: ours and the libraries' at info, never the
/// transport's own (the exporter speaks gRPC too, and must not trace
/// itself).
fn export_filter() -> EnvFilter {
    EnvFilter::new("info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,opentelemetry=off")
}

/// Installs the global subscriber: logs on stderr (JSON lines when
/// `json`), and, when `otlp_endpoint` is given (`http://host:4317`), a
/// batch exporter sending spans over OTLP/gRPC with resource
/// `service.name = service_name`. Trace context is W3C `traceparent`.
///
/// Must run inside a Tokio runtime when an endpoint is given (the gRPC
/// exporter's channel lives on it).
pub fn init(
    service_name: &str,
    otlp_endpoint: Option<String>,
    json: bool,
) -> Result<Guard, TelemetryError> {
    init_with_level(service_name, otlp_endpoint, json, "info")
}

/// [`init`] with another default log level than `info` when `JOUST_LOG`
/// is unset (`joust demo` uses `error`: its story is the output).
pub fn init_with_level(
    service_name: &str,
    otlp_endpoint: Option<String>,
    json: bool,
    default_level: &str,
) -> Result<Guard, TelemetryError> {
    // Colours only for a person at a terminal: not into files or pipes,
    // and not when NO_COLOR is set (https://no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt = if json {
        fmt.json().with_filter(log_filter(default_level)).boxed()
    } else {
        fmt.with_filter(log_filter(default_level)).boxed()
    };
    let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) else {
        tracing_subscriber::registry().with(fmt).try_init()?;
        return Ok(Guard { provider: None });
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TelemetryError::Endpoint(endpoint));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: endpoint.clone(),
            source,
        })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("joust"))
        .with_filter(export_filter());
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()?;
    tracing::info!(%endpoint, service = service_name, "exporting spans over OTLP");
    Ok(Guard {
        provider: Some(provider),
    })
}
