//! The router's error type and its one mapping to gRPC status codes,
//! following the convention every joust role shares (docs/errors.md).
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
            RouterError::BadField { .. } => Code::InvalidArgument,
            RouterError::Config(_) => Code::FailedPrecondition,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind and the code docs/errors.md gives it; a
    /// node's answer keeps its own code and message.
    #[test]
    fn every_kind_maps_to_the_shared_convention() {
        let s = || "x".to_owned();
        let cases = [
            (
                RouterError::NoRoute {
                    model: s(),
                    known: s(),
                },
                Code::NotFound,
            ),
            (
                RouterError::BadField {
                    field: "model_version",
                    expected: "a version",
                    found: s(),
                },
                Code::InvalidArgument,
            ),
            (RouterError::NoNodes(s()), Code::Unavailable),
            (
                RouterError::Node(tonic::Status::resource_exhausted("full")),
                Code::ResourceExhausted,
            ),
            (RouterError::DeadlineExceeded, Code::DeadlineExceeded),
            (RouterError::Config(s()), Code::FailedPrecondition),
            (RouterError::Internal(s()), Code::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(tonic::Status::from(e).code(), code);
        }
        let forwarded = tonic::Status::from(RouterError::Node(tonic::Status::not_found("gone")));
        assert_eq!(forwarded.message(), "gone");
    }
}
