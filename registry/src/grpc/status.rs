//! The one mapping from [`RegistryError`] to gRPC status codes, following
//! the convention every joust role shares (docs/errors.md).

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
        RegistryError::Config(_) => Code::FailedPrecondition,
        RegistryError::Internal(_) => Code::Internal,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind and the code docs/errors.md gives it.
    #[test]
    fn every_kind_maps_to_the_shared_convention() {
        let s = || "x".to_owned();
        let cases = [
            (RegistryError::InvalidArgument(s()), Code::InvalidArgument),
            (RegistryError::NotFound(s()), Code::NotFound),
            (RegistryError::AlreadyExists(s()), Code::AlreadyExists),
            (
                RegistryError::FailedPrecondition(s()),
                Code::FailedPrecondition,
            ),
            (
                RegistryError::DigestMismatch {
                    declared: s(),
                    actual: s(),
                },
                Code::InvalidArgument,
            ),
            (
                RegistryError::TooLarge {
                    what: "artifact",
                    limit: 1,
                },
                Code::InvalidArgument,
            ),
            (
                RegistryError::Database(sqlx::Error::PoolTimedOut),
                Code::Unavailable,
            ),
            (
                RegistryError::Migration(sqlx::migrate::MigrateError::VersionMissing(1)),
                Code::Internal,
            ),
            (
                RegistryError::Blob(object_store::Error::NotImplemented {
                    operation: s(),
                    implementer: s(),
                }),
                Code::Unavailable,
            ),
            (RegistryError::Corrupt(s()), Code::DataLoss),
            (RegistryError::Config(s()), Code::FailedPrecondition),
            (RegistryError::Internal(s()), Code::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(code_of(&e), code, "{e:?}");
            assert_eq!(Status::from(e).code(), code);
        }
    }
}
