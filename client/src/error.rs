use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(tonic::Status),
    /// Downloaded bytes that do not match their declared digest.
    #[error("integrity: {what} declared sha256 {declared}, downloaded bytes hash to {actual}")]
    Integrity {
        /// What was downloaded, e.g. `fraud:3` or `dataset prices:1`.
        what: String,
        declared: String,
        actual: String,
    },
    #[error("protocol: {0}")]
    Protocol(String),
}

// Not `#[from]`: that would make the status the error's source too, and
// `{:#}` would print it twice (once verbosely).
impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Status(status)
    }
}

impl From<ClientError> for tonic::Status {
    /// The server's own status when it answered; else UNAVAILABLE for a
    /// connection, DATA_LOSS for a digest mismatch, INTERNAL for a
    /// protocol violation.
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Status(s) => s,
            ClientError::Connect(_) => tonic::Status::unavailable(e.to_string()),
            ClientError::Integrity { .. } => tonic::Status::data_loss(e.to_string()),
            ClientError::Protocol(_) => tonic::Status::internal(e.to_string()),
        }
    }
}

impl ClientError {
    /// The gRPC code, when the server answered with one.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status(s) => Some(s.code()),
            _ => None,
        }
    }
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
