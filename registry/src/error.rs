//! The registry's error type. Every variant maps to one gRPC code in
//! `grpc::status` (an exhaustive match, no wildcard), following the
//! convention every joust role shares (docs/errors.md).

use crate::lifecycle::{IllegalTransition, LifecycleError};
use crate::names::NameError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request field is malformed; the message names the field and what
    /// was expected.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well formed but the current state forbids it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The uploaded bytes do not match the declared SHA-256.
    #[error(
        "sha256: declared {declared}, but the uploaded bytes hash to {actual}; nothing was recorded"
    )]
    DigestMismatch { declared: String, actual: String },
    /// The upload exceeded the configured maximum size.
    #[error("{what}: expected at most {limit} bytes, got more; nothing was recorded")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("metadata store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("metadata store migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("blob store: {0}")]
    Blob(#[from] object_store::Error),
    /// Stored data that cannot be read back (a bug or manual tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Bad configuration (URLs, options) detected at start-up.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug or a failed runtime facility.
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        RegistryError::InvalidArgument(e.to_string())
    }
}

impl From<joust_storage::StorageError> for RegistryError {
    fn from(e: joust_storage::StorageError) -> Self {
        use joust_storage::StorageError;
        match e {
            StorageError::Database(e) => RegistryError::Database(e),
            StorageError::Objects(e) => RegistryError::Blob(e),
            StorageError::Config(m) => RegistryError::Config(m),
            StorageError::Internal(m) => RegistryError::Internal(m),
        }
    }
}

impl From<IllegalTransition> for RegistryError {
    fn from(e: IllegalTransition) -> Self {
        RegistryError::FailedPrecondition(e.to_string())
    }
}

impl From<LifecycleError> for RegistryError {
    fn from(e: LifecycleError) -> Self {
        use LifecycleError as L;
        let text = e.to_string();
        match e {
            L::NoSuchVersion { .. } => RegistryError::NotFound(text),
            L::OverrideWithoutReason | L::OverrideNotApplicable { .. } => {
                RegistryError::InvalidArgument(text)
            }
            L::Inconsistent { .. } => RegistryError::Corrupt(text),
            L::Illegal(_)
            | L::TrialOpen { .. }
            | L::ChallengerTaken { .. }
            | L::NotEvaluated { .. }
            | L::NoChampion { .. }
            | L::NoPreviousChampion { .. }
            | L::AlreadyChampion { .. }
            | L::NotRetired { .. }
            | L::NeverChampion { .. }
            | L::TrialAlreadyOpen { .. }
            | L::NoChampionForTrial { .. }
            | L::ChallengerNotEvaluated { .. }
            | L::NoOpenTrial { .. } => RegistryError::FailedPrecondition(text),
        }
    }
}

/// True when the database refused a row because of a unique constraint.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
