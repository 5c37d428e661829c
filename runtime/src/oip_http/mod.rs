//! The Open Inference Protocol's REST form (KServe v2 HTTP/JSON, with the
//! binary-data extension) over a role's `inference.GRPCInferenceService`
//! implementation: each endpoint is admitted by the role's security policy
//! as the matching gRPC method (same tokens, roles and rate limits), its
//! JSON turned into the protobuf request, the role's own handler called
//! (so routing, trials, metrics and errors are the gRPC path's), and the
//! answer turned back into JSON; a failure answers the HTTP status of its
//! gRPC code with `{"error": "..."}`.
//!
//! | endpoint | gRPC method |
//! | --- | --- |
//! | `GET /v2/health/live` | `ServerLive` |
//! | `GET /v2/health/ready` | `ServerReady` |
//! | `GET /v2` | `ServerMetadata` |
//! | `GET /v2/models/{name}[/versions/{v}]` | `ModelMetadata` |
//! | `GET /v2/models/{name}[/versions/{v}]/ready` | `ModelReady` |
//! | `POST /v2/models/{name}[/versions/{v}]/infer` | `ModelInfer` |

pub mod error;
pub mod request;
pub mod response;
pub mod tensor;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use joust_proto::inference as pb;
use joust_proto::inference::grpc_inference_service_server::GrpcInferenceService;
use joust_security::SecurityLayer;
use tonic::metadata::MetadataMap;
use tracing::Instrument;

pub use error::{RestError, http_status};

/// The gRPC service whose methods the endpoints stand for.
const SERVICE: &str = "inference.GRPCInferenceService";

/// Request headers passed to the service as gRPC metadata (besides every
/// `x-joust-*` header: routing key, arm pin, actor).
const PASSED: [&str; 2] = ["traceparent", "tracestate"];

struct Oip<S> {
    service: S,
    security: SecurityLayer,
    max_body: usize,
}

type Shared<S> = Arc<Oip<S>>;

/// The REST endpoints over `service`, admitted by `security`'s policy,
/// taking bodies of at most `max_body` bytes. Serve it with connect info
/// (`into_make_service_with_connect_info::<SocketAddr>()`) so rate limits
/// of anonymous callers count per peer, as on gRPC.
pub fn router<S: GrpcInferenceService>(
    service: S,
    security: SecurityLayer,
    max_body: usize,
) -> axum::Router {
    let shared = Arc::new(Oip {
        service,
        security,
        max_body,
    });
    axum::Router::new()
        .route("/v2", get(server_metadata::<S>))
        .route("/v2/", get(server_metadata::<S>))
        .route("/v2/health/live", get(server_live::<S>))
        .route("/v2/health/ready", get(server_ready::<S>))
        .route("/v2/models/{name}", get(model_metadata::<S>))
        .route("/v2/models/{name}/ready", get(model_ready::<S>))
        .route("/v2/models/{name}/infer", post(model_infer::<S>))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_metadata::<S>),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready::<S>),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(model_infer::<S>),
        )
        .fallback(no_endpoint)
        .with_state(shared)
}

async fn no_endpoint(request: Request) -> Response {
    if let Some(instead) = crate::oip_unserved::rest_instead(request.uri().path()) {
        return RestError::Unserved(instead).into_response();
    }
    RestError::NoEndpoint {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
    .into_response()
}

/// One admitted call: the gRPC request the service gets.
fn admit<S, T>(
    oip: &Oip<S>,
    method: &str,
    parts: &axum::http::request::Parts,
    message: T,
) -> Result<tonic::Request<T>, RestError> {
    let path = format!("/{SERVICE}/{method}");
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let identity = oip.security.policy().admit(
        &path,
        parts
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        peer,
    )?;
    let mut passed = HeaderMap::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if n.starts_with("x-joust-") || PASSED.contains(&n) {
            passed.append(name.clone(), value.clone());
        }
    }
    let mut extensions = tonic::Extensions::new();
    if let Some(identity) = identity {
        extensions.insert(identity);
    }
    Ok(tonic::Request::from_parts(
        MetadataMap::from_headers(passed),
        extensions,
        message,
    ))
}

/// The call's span, `METHOD ROUTE` (`POST /v2/models/{name}/infer`), a
/// child of the caller's W3C trace context when the request carries one.
fn span(method: &'static str, route: &str, parts: &axum::http::request::Parts) -> tracing::Span {
    let span = tracing::info_span!(
        "oip_http",
        otel.name = %format!("{} {route}", parts.method),
        otel.kind = "server",
        http.request.method = %parts.method,
        http.route = route,
        rpc.service = SERVICE,
        rpc.method = method,
    );
    joust_telemetry::continue_from_headers(&span, &parts.headers);
    span
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// Readiness per the protocol: 200 when true, 400 when not.
fn readiness(key: &str, ready: bool) -> Response {
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    json(status, serde_json::json!({ key: ready }))
}

fn answer(result: Result<Response, RestError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The route template of a model endpoint (`/v2/models/{name}[/versions/{version}]` + `tail`).
fn model_route(path: &HashMap<String, String>, tail: &str) -> String {
    if path.contains_key("version") {
        format!("/v2/models/{{name}}/versions/{{version}}{tail}")
    } else {
        format!("/v2/models/{{name}}{tail}")
    }
}

fn model_and_version(path: &HashMap<String, String>) -> (String, String) {
    (
        path.get("name").cloned().unwrap_or_default(),
        path.get("version").cloned().unwrap_or_default(),
    )
}

async fn server_live<S: GrpcInferenceService>(
    State(oip): State<Shared<S>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let call = async {
        let r = admit(&oip, "ServerLive", &parts, pb::ServerLiveRequest {})?;
        let live = oip.service.server_live(r).await?.into_inner().live;
        Ok(readiness("live", live))
    };
    answer(
        call.instrument(span("ServerLive", "/v2/health/live", &parts))
            .await,
    )
}

async fn server_ready<S: GrpcInferenceService>(
    State(oip): State<Shared<S>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let call = async {
        let r = admit(&oip, "ServerReady", &parts, pb::ServerReadyRequest {})?;
        let ready = oip.service.server_ready(r).await?.into_inner().ready;
        Ok(readiness("ready", ready))
    };
    answer(
        call.instrument(span("ServerReady", "/v2/health/ready", &parts))
            .await,
    )
}

async fn server_metadata<S: GrpcInferenceService>(
    State(oip): State<Shared<S>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let call = async {
        let r = admit(&oip, "ServerMetadata", &parts, pb::ServerMetadataRequest {})?;
        let m = oip.service.server_metadata(r).await?.into_inner();
        Ok(json(StatusCode::OK, response::server_metadata(m)))
    };
    answer(call.instrument(span("ServerMetadata", "/v2", &parts)).await)
}

async fn model_metadata<S: GrpcInferenceService>(
    State(oip): State<Shared<S>>,
    Path(path): Path<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let (name, version) = model_and_version(&path);
    let call = async {
        let r = admit(
            &oip,
            "ModelMetadata",
            &parts,
            pb::ModelMetadataRequest { name, version },
        )?;
        let m = oip.service.model_metadata(r).await?.into_inner();
        Ok(json(StatusCode::OK, response::model_metadata(m)))
    };
    let route = model_route(&path, "");
    answer(call.instrument(span("ModelMetadata", &route, &parts)).await)
}

async fn model_ready<S: GrpcInferenceService>(
    State(oip): State<Shared<S>>,
    Path(path): Path<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let (name, version) = model_and_version(&path);
    let call = async {
        let r = admit(
            &oip,
            "ModelReady",
            &parts,
            pb::ModelReadyRequest { name, version },
        )?;
        let ready = oip.service.model_ready(r).await?.into_inner().ready;
        Ok(readiness("ready", ready))
    };
    let route = model_route(&path, "/ready");
    answer(call.instrument(span("ModelReady", &route, &parts)).await)
}

async fn model_infer<S: GrpcInferenceService>(
    State(oip): State<Shared<S>>,
    Path(path): Path<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (name, version) = model_and_version(&path);
    let call = async {
        // Admitted before the body is read: a caller without the role
        // does not get to upload a large body first.
        let admitted = admit(&oip, "ModelInfer", &parts, ())?;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > oip.max_body) {
            return Err(RestError::TooLarge {
                limit: oip.max_body,
            });
        }
        let body = axum::body::to_bytes(body, oip.max_body)
            .await
            .map_err(|e| RestError::field("request body", format!("could not be read: {e}")))?;
        let header_length = parts
            .headers
            .get(request::HEADER_LENGTH)
            .map(|v| {
                v.to_str().map_err(|_| {
                    RestError::field(
                        "Inference-Header-Content-Length",
                        "expected a decimal byte count",
                    )
                })
            })
            .transpose()?;
        let (json_part, binary_part) = request::split_body(header_length, &body)?;
        let (message, binary) = request::parse(json_part, binary_part, &name, &version)?;
        let (metadata, extensions, ()) = admitted.into_parts();
        let r = tonic::Request::from_parts(metadata, extensions, message);
        let answered = oip.service.model_infer(r).await?;
        let (metadata, message, _) = answered.into_parts();
        let rendered = response::infer(message, &binary)?;
        let mut headers = HeaderMap::new();
        for (key, value) in metadata.into_headers().iter() {
            if key.as_str().starts_with("x-joust-") {
                headers.insert(key.clone(), value.clone());
            }
        }
        if !rendered.has_binary {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok((StatusCode::OK, headers, rendered.json).into_response());
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(
            HeaderName::from_static(request::HEADER_LENGTH),
            HeaderValue::from(rendered.json.len()),
        );
        let mut bytes = rendered.json;
        bytes.extend_from_slice(&rendered.binary);
        Ok((StatusCode::OK, headers, bytes).into_response())
    };
    let route = model_route(&path, "/infer");
    answer(call.instrument(span("ModelInfer", &route, &parts)).await)
}
