//! The detection service's error type; `code` maps every variant to one
//! gRPC code (an exhaustive match, no wildcard).

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A request field is malformed; the message names the field and what
    /// was expected.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// Another detection of the same series committed first.
    #[error("{0}")]
    Aborted(String),
    /// The scoring endpoint (router or node) failed or is unreachable.
    #[error("scoring: {0}")]
    Scoring(String),
    /// The registry could not tell the model version's SHA-256.
    #[error("registry: {0}")]
    Registry(String),
    /// The evidence store (local directory or S3) failed.
    #[error("evidence store: {0}")]
    Evidence(String),
    #[error("detection store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("detection store migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Stored data that cannot be read back (a bug or manual tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Bad configuration detected at start-up.
    #[error("configuration: {0}")]
    Config(String),
    /// The request conflicts with the current state (e.g. a backfill of a
    /// series that already has one in flight); the message names it.
    #[error("{0}")]
    FailedPrecondition(String),
}

pub type Result<T, E = DetectError> = std::result::Result<T, E>;

impl DetectError {
    /// The gRPC code of this error.
    pub fn code(&self) -> tonic::Code {
        match self {
            DetectError::InvalidArgument(_) => tonic::Code::InvalidArgument,
            DetectError::NotFound(_) => tonic::Code::NotFound,
            DetectError::Aborted(_) => tonic::Code::Aborted,
            DetectError::Scoring(_) => tonic::Code::Unavailable,
            DetectError::Registry(_) => tonic::Code::Unavailable,
            DetectError::Evidence(_) => tonic::Code::Unavailable,
            DetectError::Database(_) => tonic::Code::Internal,
            DetectError::Migration(_) => tonic::Code::Internal,
            DetectError::Corrupt(_) => tonic::Code::Internal,
            DetectError::Config(_) => tonic::Code::FailedPrecondition,
            DetectError::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
        }
    }

    /// Whether a backfill attempt that failed with this error may succeed
    /// when tried again (the scoring endpoint, registry or database may
    /// come back; a malformed job or missing series will not).
    pub fn retryable(&self) -> bool {
        match self {
            DetectError::Aborted(_)
            | DetectError::Scoring(_)
            | DetectError::Registry(_)
            | DetectError::Database(_)
            | DetectError::Evidence(_) => true,
            DetectError::InvalidArgument(_)
            | DetectError::NotFound(_)
            | DetectError::Migration(_)
            | DetectError::Corrupt(_)
            | DetectError::Config(_)
            | DetectError::FailedPrecondition(_) => false,
        }
    }
}

impl From<DetectError> for tonic::Status {
    fn from(e: DetectError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}
