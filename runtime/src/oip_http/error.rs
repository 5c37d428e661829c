//! What the OIP HTTP API answers when a call fails: the HTTP status that
//! matches the gRPC code (one exhaustive table) and the KServe body
//! `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A failed HTTP call: a refusal of the HTTP layer itself (a field of the
/// JSON body or a header) or the status the gRPC service answered.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// A malformed request: the field (JSON path or header) and what was
    /// expected. 400.
    #[error("{field}: {expected}")]
    Field { field: String, expected: String },
    /// The body is larger than the role's message limit. 413.
    #[error("request body: larger than the limit of {limit} bytes (--max-message-bytes)")]
    TooLarge { limit: usize },
    /// No such endpoint. 404.
    #[error(
        "{method} {path}: no such endpoint; expected one of the KServe v2 paths (/v2, /v2/health/live, /v2/health/ready, /v2/models/NAME[/versions/V][/ready|/infer])"
    )]
    NoEndpoint { method: String, path: String },
    /// A Triton endpoint joust does not serve: what to use instead
    /// ([`crate::oip_unserved::rest_instead`]). 404.
    #[error("{0}")]
    Unserved(String),
    /// The service's answer (authentication, roles, rate limits, the
    /// node's or router's own refusals).
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
}

impl RestError {
    pub fn field(field: impl Into<String>, expected: impl Into<String>) -> Self {
        RestError::Field {
            field: field.into(),
            expected: expected.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            RestError::Field { .. } => StatusCode::BAD_REQUEST,
            RestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RestError::NoEndpoint { .. } | RestError::Unserved(_) => StatusCode::NOT_FOUND,
            RestError::Status(s) => http_status(s.code()),
        }
    }
}

/// The HTTP status of a gRPC code (the mapping grpc-gateway and KServe
/// servers use).
pub fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code;
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (
            self.status(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_the_kserve_statuses() {
        use tonic::Code;
        for (code, status) in [
            (Code::InvalidArgument, 400),
            (Code::NotFound, 404),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::Unavailable, 503),
            (Code::ResourceExhausted, 429),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
        ] {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn the_body_is_the_kserve_error_object() {
        let e = RestError::from(tonic::Status::not_found("model \"m\": not loaded"));
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(e.to_string(), "model \"m\": not loaded");
        let e = RestError::field("inputs[0].shape", "expected an array of integers ≥ 0");
        assert_eq!(
            e.to_string(),
            "inputs[0].shape: expected an array of integers ≥ 0"
        );
    }
}
