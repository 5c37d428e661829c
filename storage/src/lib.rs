//! joust-storage holds what the roles that keep state (the registry, the
//! detection service) share underneath their own schemas, so that a
//! database URL or an object-store URL means the same everywhere:
//! [`sql::open`] opens a PostgreSQL or SQLite pool from one URL with the
//! same pool settings, and [`sql::begin_write_postgres`] /
//! [`sql::begin_write_sqlite`] start write transactions in a way that is
//! safe when the caller is cancelled; [`ObjectLocation::open`] opens
//! `file://`, `memory://` or `s3://` locations. Migrations, tables and
//! queries stay with each role. It knows nothing of models or detection.

#![forbid(unsafe_code)]

mod error;
pub mod objects;
pub mod sql;

pub use error::{Result, StorageError};
pub use objects::{ObjectLocation, S3Options};
pub use sql::{Database, open};
