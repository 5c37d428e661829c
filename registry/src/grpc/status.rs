//! The one mapping from [`RegistryError`] to gRPC status codes.

use tonic::{Code, Status};

use crate::error::RegistryError;

pub fn code_of(e: &RegistryError) -> Code {
    match e {
        RegistryError::InvalidArgument(_) => Code::InvalidArgument,
        RegistryError::NotFound(_) => Code::NotFound,
        RegistryError::AlreadyExists(_) => Code::AlreadyExists,
        RegistryError::FailedPrecondition(_) => Code::FailedPrecondition,
        RegistryError::DigestMismatch { .. } => Code::InvalidArgument,
        RegistryError::TooLarge { .. } => Code::InvalidArgument,
        RegistryError::Database(_) => Code::Unavailable,
        RegistryError::Migration(_) => Code::Internal,
        RegistryError::Blob(_) => Code::Unavailable,
        RegistryError::Corrupt(_) => Code::DataLoss,
        RegistryError::Config(_) => Code::Internal,
    }
}

impl From<RegistryError> for Status {
    fn from(e: RegistryError) -> Self {
        let code = code_of(&e);
        if matches!(code, Code::Internal | Code::Unavailable | Code::DataLoss) {
            tracing::warn!(error = %e, ?code, "registry request failed");
        }
        Status::new(code, e.to_string())
    }
}
