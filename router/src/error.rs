//! The router's error type and its one mapping to gRPC status codes.
//! Errors a node answered with are forwarded unchanged (`Node`).

use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// No route (no champion) for the model.
    #[error("model {model:?} has no route on this router (known models: {known})")]
    NoRoute { model: String, known: String },
    /// A malformed request field the router itself reads.
    #[error("{field}: {expected}, got {found:?}")]
    BadField {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    /// No node in the pool (none configured or none resolved).
    #[error("no serving node available (pool: {0})")]
    NoNodes(String),
    /// A node's answer, forwarded unchanged.
    #[error("{}", .0.message())]
    Node(tonic::Status),
    /// The client's deadline (`grpc-timeout`) passed before a node
    /// answered, or before one could be called.
    #[error("the client's deadline passed before a serving node answered")]
    DeadlineExceeded,
    /// Invalid configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug or a failed runtime facility.
    #[error("internal: {0}")]
    Internal(String),
}

impl RouterError {
    /// The one mapping to gRPC codes (no wildcard).
    pub fn code(&self) -> Code {
        match self {
            RouterError::NoRoute { .. } => Code::NotFound,
            RouterError::BadField { .. } | RouterError::Config(_) => Code::InvalidArgument,
            RouterError::NoNodes(_) => Code::Unavailable,
            RouterError::Node(s) => s.code(),
            RouterError::DeadlineExceeded => Code::DeadlineExceeded,
            RouterError::Internal(_) => Code::Internal,
        }
    }
}

impl From<RouterError> for tonic::Status {
    fn from(e: RouterError) -> Self {
        match e {
            RouterError::Node(s) => s,
            other => tonic::Status::new(other.code(), other.to_string()),
        }
    }
}
