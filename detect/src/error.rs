//! The detection service's error type; `code` maps every variant to one
//! gRPC code (an exhaustive match, no wildcard), following the convention
//! every joust role shares (docs/errors.md).

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
    /// A limit is reached (the backfill queue is full); the message names
    /// the limit and how to raise it.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A bug or a failed runtime facility.
    #[error("internal: {0}")]
    Internal(String),
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
            DetectError::Database(_) => tonic::Code::Unavailable,
            DetectError::Migration(_) => tonic::Code::Internal,
            DetectError::Corrupt(_) => tonic::Code::DataLoss,
            DetectError::Config(_) => tonic::Code::FailedPrecondition,
            DetectError::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            DetectError::ResourceExhausted(_) => tonic::Code::ResourceExhausted,
            DetectError::Internal(_) => tonic::Code::Internal,
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
            | DetectError::FailedPrecondition(_)
            | DetectError::ResourceExhausted(_)
            | DetectError::Internal(_) => false,
        }
    }
}

impl From<DetectError> for tonic::Status {
    fn from(e: DetectError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}

impl From<joust_storage::StorageError> for DetectError {
    fn from(e: joust_storage::StorageError) -> Self {
        use joust_storage::StorageError;
        match e {
            StorageError::Database(e) => DetectError::Database(e),
            StorageError::Objects(e) => DetectError::Evidence(e.to_string()),
            StorageError::Config(m) => DetectError::Config(m),
            StorageError::Internal(m) => DetectError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    /// One error of every kind and the code docs/errors.md gives it.
    #[test]
    fn every_kind_maps_to_the_shared_convention() {
        let s = || "x".to_owned();
        let cases = [
            (DetectError::InvalidArgument(s()), Code::InvalidArgument),
            (DetectError::NotFound(s()), Code::NotFound),
            (DetectError::Aborted(s()), Code::Aborted),
            (DetectError::Scoring(s()), Code::Unavailable),
            (DetectError::Registry(s()), Code::Unavailable),
            (DetectError::Evidence(s()), Code::Unavailable),
            (
                DetectError::Database(sqlx::Error::PoolTimedOut),
                Code::Unavailable,
            ),
            (
                DetectError::Migration(sqlx::migrate::MigrateError::VersionMissing(1)),
                Code::Internal,
            ),
            (DetectError::Corrupt(s()), Code::DataLoss),
            (DetectError::Config(s()), Code::FailedPrecondition),
            (
                DetectError::FailedPrecondition(s()),
                Code::FailedPrecondition,
            ),
            (DetectError::ResourceExhausted(s()), Code::ResourceExhausted),
            (DetectError::Internal(s()), Code::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(tonic::Status::from(e).code(), code);
        }
    }
}
