//! The serving node's error type and its one mapping to gRPC status codes,
//! following the convention every joust role shares (docs/errors.md).

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
    /// The model is followed but nothing of it is loaded yet (the node is
    /// starting, or its loads are failing): UNAVAILABLE, so a router
    /// retries on another node.
    #[error("model {model:?} is not ready on this node yet ({refs})")]
    NotReady { model: String, refs: String },
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
    #[error(transparent)]
    BadRef(#[from] joust_refs::NameError),
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
    /// The version's kind is never served (`opaque`).
    #[error(
        "{reference} is of kind {kind}: opaque artifacts are stored in the registry but never served"
    )]
    NotServable { reference: String, kind: String },
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
                | ModelError::Training { .. }
                | ModelError::Onnx(_)
                | ModelError::OnnxMapping(_) => Code::Internal,
            },
            ServeError::ModelNotFound { .. }
            | ServeError::VersionNotFound { .. }
            | ServeError::RefNotFollowed { .. } => Code::NotFound,
            ServeError::BadVersion(_) | ServeError::BadRef(_) => Code::InvalidArgument,
            ServeError::Busy { .. } => Code::ResourceExhausted,
            ServeError::NotReady { .. } => Code::Unavailable,
            ServeError::Registry { code, .. } => match code {
                Code::NotFound => Code::NotFound,
                Code::InvalidArgument => Code::InvalidArgument,
                // Anything else the registry answered is, to this node's
                // caller, a dependency that failed.
                Code::Ok
                | Code::Cancelled
                | Code::Unknown
                | Code::DeadlineExceeded
                | Code::AlreadyExists
                | Code::PermissionDenied
                | Code::ResourceExhausted
                | Code::FailedPrecondition
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
                | Code::Unauthenticated => Code::Unavailable,
            },
            ServeError::ChecksumMismatch { .. }
            | ServeError::NotServable { .. }
            | ServeError::Corrupt { .. }
            | ServeError::Warm { .. } => Code::FailedPrecondition,
            ServeError::Protocol(_) => Code::Unavailable,
            ServeError::Config(_) => Code::FailedPrecondition,
            ServeError::Internal(_) => Code::Internal,
        }
    }

    /// A verdict on the artifact itself (checksum, decoding, warm-up):
    /// the version is refused, not merely not loaded yet.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ServeError::ChecksumMismatch { .. }
                | ServeError::Corrupt { .. }
                | ServeError::Warm { .. }
        )
    }

    /// The registry said the ref points at nothing (no such alias or model).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            ServeError::Registry {
                call: "GetVersion",
                code: Code::NotFound,
                ..
            }
        )
    }
}

impl From<ServeError> for tonic::Status {
    fn from(e: ServeError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind and the code docs/errors.md gives it.
    #[test]
    fn every_kind_maps_to_the_shared_convention() {
        let s = || "x".to_owned();
        let model = |e: ModelError| ServeError::Scoring(e);
        let registry = |code| ServeError::Registry {
            call: "GetVersion",
            reference: s(),
            code,
            message: s(),
        };
        let cases = [
            (
                ServeError::Input(InputError::InputCount(2)),
                Code::InvalidArgument,
            ),
            (
                model(ModelError::ColumnCount {
                    expected: 1,
                    found: 2,
                }),
                Code::InvalidArgument,
            ),
            (
                model(ModelError::OutputLength {
                    expected: 1,
                    found: 2,
                }),
                Code::Internal,
            ),
            (
                ServeError::ModelNotFound {
                    model: s(),
                    loaded: s(),
                },
                Code::NotFound,
            ),
            (
                ServeError::VersionNotFound {
                    model: s(),
                    version: s(),
                    loaded: s(),
                },
                Code::NotFound,
            ),
            (ServeError::BadVersion(s()), Code::InvalidArgument),
            (
                ServeError::BadRef(joust_refs::NameError::BadRef {
                    field: "ref",
                    value: s(),
                }),
                Code::InvalidArgument,
            ),
            (
                ServeError::RefNotFollowed {
                    reference: s(),
                    followed: s(),
                },
                Code::NotFound,
            ),
            (ServeError::Busy { limit: 1 }, Code::ResourceExhausted),
            (registry(Code::NotFound), Code::NotFound),
            (registry(Code::InvalidArgument), Code::InvalidArgument),
            (registry(Code::Internal), Code::Unavailable),
            (registry(Code::Unavailable), Code::Unavailable),
            (
                ServeError::ChecksumMismatch {
                    reference: s(),
                    declared: s(),
                    actual: s(),
                },
                Code::FailedPrecondition,
            ),
            (ServeError::Protocol(s()), Code::Unavailable),
            (ServeError::Config(s()), Code::FailedPrecondition),
            (ServeError::Internal(s()), Code::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(tonic::Status::from(e).code(), code);
        }
    }
}
