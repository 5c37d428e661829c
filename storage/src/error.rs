//! The storage foundation's error type. It maps to no gRPC code itself:
//! each role converts it into its own error (`Database` stays a database
//! failure, `Config` a configuration error), whose mapping follows
//! docs/errors.md.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed (connection, query, constraint).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The object store refused or failed.
    #[error(transparent)]
    Objects(#[from] object_store::Error),
    /// A URL or option that cannot work; the message names it and what
    /// was expected.
    #[error("{0}")]
    Config(String),
    /// A failed runtime facility (the task opening a transaction did not
    /// finish: a panic or a runtime shutting down).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
