//! joust-models owns everything about an anomaly-detection model that can be
//! decided without a network: the model kinds (a hand-written Isolation
//! Forest, a one-class SVM and a Gaussian mixture fitted with linfa, and a
//! `noop` floor), training configuration, scoring, the versioned and
//! checksummed artifact format, the 14 market features computed from OHLCV
//! bars, a seeded synthetic market with labelled anomalies, the OHLCV CSV
//! format, and evaluation metrics.
//!
//! It must not know about gRPC, tonic, the registry database, blob storage,
//! routing or serving nodes: callers hand it bytes and arrays and get back
//! bytes, scores and typed errors.

#![forbid(unsafe_code)]

pub mod artifact;
mod config;
pub mod csv_io;
pub mod dataset;
mod error;
pub mod features;
mod kind;
mod kinds;
pub use kinds::onnx;
pub mod metrics;
mod model;
pub mod synthetic;
mod threshold;

pub use artifact::{ArtifactCheckError, ArtifactError, ArtifactKind, UnknownArtifactKind};
pub use config::TrainConfig;
pub use error::ModelError;
pub use kind::{ModelKind, ParseModelKindError};
pub use model::{Model, Prediction, TrainingMetadata};
