//! The serving node's error type and its one mapping to gRPC status codes.

use joust_models::{ArtifactError, ModelError};
use tonic::Code;

use crate::input::InputError;

/// Everything a node request or a model load can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request's tensors or rows are malformed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The model refused the input (column count, non-finite value).
    #[error("{0}")]
    Scoring(#[from] ModelError),
    /// No version of the model is loaded on this node.
    #[error("model {model:?} is not loaded on this node (loaded: {loaded})")]
    ModelNotFound { model: String, loaded: String },
    /// The pinned version is not loaded.
    #[error(
        "model {model:?} version {version} is not loaded on this node (loaded versions: {loaded})"
    )]
    VersionNotFound {
        model: String,
        version: String,
        loaded: String,
    },
    /// `model_version` is not a version number.
    #[error("model_version: expected a version number ≥ 1 or empty, got {0:?}")]
    BadVersion(String),
    /// A malformed ref (`name`, `name:N`, `name@alias`).
    #[error("ref: expected `name`, `name:N` or `name@alias`, got {0:?}")]
    BadRef(String),
    /// Unload of a ref the node does not follow.
    #[error("ref {reference:?} is not followed by this node (followed: {followed})")]
    RefNotFollowed { reference: String, followed: String },
    /// Every blocking scoring slot is taken.
    #[error(
        "scoring pool is full ({limit} large batches in flight): retry later or send smaller batches"
    )]
    Busy { limit: usize },
    /// The registry refused or failed a request made while loading.
    #[error("registry {call} for {reference:?}: {message}")]
    Registry {
        call: &'static str,
        reference: String,
        code: Code,
        message: String,
    },
    /// The artifact's bytes do not hash to the registry's SHA-256.
    #[error(
        "checksum mismatch for {reference}: the registry declares sha256 {declared}, the downloaded artifact hashes to {actual}"
    )]
    ChecksumMismatch {
        reference: String,
        declared: String,
        actual: String,
    },
    /// The artifact did not decode.
    #[error("corrupt artifact for {reference}: {source}")]
    Corrupt {
        reference: String,
        #[source]
        source: ArtifactError,
    },
    /// The decoded model failed to score its probe row.
    #[error("warm-up of {reference} failed: {source}")]
    Warm {
        reference: String,
        #[source]
        source: ModelError,
    },
    /// The registry's answer broke the protocol.
    #[error("registry protocol: {0}")]
    Protocol(String),
    /// Invalid node configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug or a failed runtime facility.
    #[error("internal: {0}")]
    Internal(String),
}

impl ServeError {
    /// The one mapping to gRPC codes (no wildcard: a new variant must be
    /// placed here).
    pub fn code(&self) -> Code {
        match self {
            ServeError::Input(_) => Code::InvalidArgument,
            ServeError::Scoring(e) => match e {
                ModelError::ColumnCount { .. } | ModelError::NonFinite { .. } => {
                    Code::InvalidArgument
                }
                ModelError::UnknownParam { .. }
                | ModelError::InvalidParam { .. }
                | ModelError::InvalidContamination(_)
                | ModelError::TooFewRows { .. }
                | ModelError::SchemaMismatch { .. }
                | ModelError::DuplicateFeature(_)
                | ModelError::OutputLength { .. }
                | ModelError::Training { .. } => Code::Internal,
            },
            ServeError::ModelNotFound { .. }
            | ServeError::VersionNotFound { .. }
            | ServeError::RefNotFollowed { .. } => Code::NotFound,
            ServeError::BadVersion(_) | ServeError::BadRef(_) => Code::InvalidArgument,
            ServeError::Busy { .. } => Code::ResourceExhausted,
            ServeError::Registry { code, .. } => match code {
                Code::NotFound => Code::NotFound,
                Code::InvalidArgument => Code::InvalidArgument,
                _ => Code::Unavailable,
            },
            ServeError::ChecksumMismatch { .. }
            | ServeError::Corrupt { .. }
            | ServeError::Warm { .. } => Code::FailedPrecondition,
            ServeError::Protocol(_) => Code::Unavailable,
            ServeError::Config(_) => Code::InvalidArgument,
            ServeError::Internal(_) => Code::Internal,
        }
    }
}

impl From<ServeError> for tonic::Status {
    fn from(e: ServeError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}
