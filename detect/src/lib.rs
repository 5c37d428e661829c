//! joust-detect owns the detection service (`joust detect serve`): the
//! OHLCV series store, incremental anomaly detection that scores only new
//! bars through the router's Open Inference Protocol endpoint, the
//! anomalies found and the audit trail of detection runs, in PostgreSQL or
//! SQLite; the backfill job queue with its workers; the rules and whitelist
//! that decide which scored bars are anomalies; and a deterministic evidence
//! artifact per run in object storage.
//!
//! It must not know how models are trained, loaded or routed: features
//! come from `joust_models::features`, scores from any OIP endpoint (the
//! router, or a serving node), and the model's SHA-256 from the registry's
//! gRPC API.

#![forbid(unsafe_code)]

mod admin;
pub mod backfill;
pub mod detector;
pub mod domain;
mod error;
pub mod evidence;
pub mod grpc;
mod grpc_jobs;
mod grpc_rules;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod rules;
pub mod scorer;
pub mod server;
pub mod store;
pub mod workers;

pub use admin::Evidence;
pub use backfill::BackfillRequest;
pub use detector::{Detection, Detector, HISTORY_BARS, Ingested, Purged, Retention};
pub use domain::Clock;
pub use error::{DetectError, Result};
pub use evidence::EvidenceConfig;
pub use health::HealthConfig;
pub use jobs::JobsConfig;
pub use notify::NotifyConfig;
pub use scorer::{Scorer, ScorerConfig};
pub use server::{DetectConfig, run, serve};
pub use workers::{WorkerStatus, Workers};
