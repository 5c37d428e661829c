//! joust-registry is joust's source of truth: models, versions and their
//! lifecycle status, aliases, lineage annotations, datasets and an
//! append-only audit log in PostgreSQL or SQLite (sqlx), blobs in object
//! storage (object_store), and a resumable change feed (Watch).
//!
//! Layout: `names` (the `joust-refs` crate) and `lifecycle` are pure rules; `store` persists
//! (one SQL implementation, two backends); `blob` stores bytes by SHA-256;
//! `registry` is the transport-free domain API; `grpc` is the thin tonic
//! edge and `dashboard` the read-only HTTP one; `health` follows the database;
//! `server` runs the role; `webhooks` POSTs audit events to configured endpoints; `metrics` holds its own Prometheus metrics. It knows model internals only through
//! joust-models' register-time artifact check, and nothing of serving or
//! routing.

pub mod blob;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod health;
pub mod lifecycle;
pub mod metrics;
/// The naming rules and the ref grammar (the `joust-refs` crate, shared
/// with the node, the router and the clients).
pub use joust_refs as names;
pub mod registry;
pub mod server;
pub mod store;
pub mod trials;
pub mod watch;
pub mod webhooks;

pub use blob::BlobStore;
pub use error::{RegistryError, Result};
pub use joust_storage::{ObjectLocation, S3Options};
pub use lifecycle::Status;
pub use names::VersionRef;
pub use registry::{DatasetMeta, Limits, Registry, VersionMeta};
pub use server::{RegistryConfig, run};
