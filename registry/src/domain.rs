//! Registry records as the domain sees them (no tonic, no SQL types).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::lifecycle::Status;

/// The JSON object of metrics attached to a version.
pub type Metrics = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub latest_version: u64,
    pub champion_version: Option<u64>,
    pub challenger_version: Option<u64>,
    pub aliases: Vec<AliasRecord>,
    /// The champion's rollout is blocked (a router reported that no node
    /// can serve it): (version, the nodes' reasons).
    pub rollout_blocked: Option<(u64, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub model: String,
    pub version: u64,
    pub kind: String,
    pub artifact_uri: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub annotations: BTreeMap<String, String>,
    pub metrics: Metrics,
    /// Custom aliases pointing at this version plus the computed ones
    /// (`champion`, `challenger`, `latest`).
    pub aliases: Vec<String>,
    pub status_changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub model: String,
    pub alias: String,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: u64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub model: String,
    pub version: Option<u64>,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecord {
    pub name: String,
    pub version: u64,
    pub uri: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub rows: u64,
    pub schema: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A version to insert, after its blob is stored.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub model: String,
    pub kind: String,
    pub artifact_uri: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub annotations: BTreeMap<String, String>,
    pub metrics: Metrics,
}

/// A dataset version to insert, after its blob is stored.
#[derive(Debug, Clone)]
pub struct NewDataset {
    pub name: String,
    pub uri: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub rows: u64,
    pub schema: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events about these models (or datasets); empty: all.
    pub models: Vec<String>,
    pub after_id: u64,
    pub limit: u32,
}

/// Event kinds written by the registry (the wire contract's names).
pub use joust_proto::wire::event_kind;
