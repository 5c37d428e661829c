//! Row types shared by both SQL backends, and their conversion to domain
//! records.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::{DatasetRecord, EventRecord, Metrics, VersionRecord};
use crate::error::{RegistryError, Result};
use crate::lifecycle::Status;

pub(crate) const MODEL_COLUMNS: &str = "m.id, m.name, m.description, m.created_at, m.created_by,
    COALESCE((SELECT MAX(v.version) FROM versions v WHERE v.model_id = m.id), 0) AS latest_version,
    COALESCE((SELECT v.version FROM versions v WHERE v.model_id = m.id AND v.status = 'champion'), 0) AS champion_version,
    COALESCE((SELECT v.version FROM versions v WHERE v.model_id = m.id AND v.status = 'challenger'), 0) AS challenger_version";

pub(crate) const VERSION_COLUMNS: &str = "v.id, v.model_id, m.name AS model, v.version, v.kind,
    v.artifact_uri, v.sha256, v.size_bytes, v.status, v.created_at, v.created_by, v.annotations,
    v.metrics, v.status_changed_at,
    (SELECT MAX(v2.version) FROM versions v2 WHERE v2.model_id = v.model_id) AS max_version";

pub(crate) const DATASET_COLUMNS: &str =
    "name, version, uri, sha256, size_bytes, row_count, schema,
    annotations, created_at, created_by";

pub(crate) const EVENT_COLUMNS: &str =
    "id, at, actor, model, version, kind, from_status, to_status, reason";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ModelRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub latest_version: i64,
    pub champion_version: i64,
    pub challenger_version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AliasRow {
    pub alias: String,
    pub version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct VersionRow {
    pub id: i64,
    pub model_id: i64,
    pub model: String,
    pub version: i64,
    pub kind: String,
    pub artifact_uri: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub annotations: String,
    pub metrics: String,
    pub status_changed_at: DateTime<Utc>,
    pub max_version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DatasetRow {
    pub name: String,
    pub version: i64,
    pub uri: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub row_count: i64,
    pub schema: String,
    pub annotations: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub model: String,
    pub version: Option<i64>,
    pub kind: String,
    pub from_status: String,
    pub to_status: String,
    pub reason: String,
}

pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn nonzero(v: i64) -> Option<u64> {
    (v > 0).then(|| u(v))
}

pub(crate) fn parse_map(field: &str, text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text)
        .map_err(|e| RegistryError::Corrupt(format!("stored {field} are not a JSON map: {e}")))
}

pub(crate) fn parse_metrics(text: &str) -> Result<Metrics> {
    serde_json::from_str(text)
        .map_err(|e| RegistryError::Corrupt(format!("stored metrics are not a JSON object: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| RegistryError::Corrupt(e.to_string()))
}

impl VersionRow {
    /// Converts to a record; `custom` are the custom aliases of the model
    /// (all of them; those pointing at this version are kept).
    pub fn into_record(self, custom: &[AliasRow]) -> Result<VersionRecord> {
        let status: Status = self
            .status
            .parse()
            .map_err(|e| RegistryError::Corrupt(format!("{e}")))?;
        let mut aliases: Vec<String> = custom
            .iter()
            .filter(|a| a.version == self.version)
            .map(|a| a.alias.clone())
            .collect();
        match status {
            Status::Champion => aliases.push("champion".to_owned()),
            Status::Challenger => aliases.push("challenger".to_owned()),
            _ => {}
        }
        if self.version == self.max_version {
            aliases.push("latest".to_owned());
        }
        aliases.sort();
        Ok(VersionRecord {
            model: self.model,
            version: u(self.version),
            kind: self.kind,
            artifact_uri: self.artifact_uri,
            sha256: self.sha256,
            size_bytes: u(self.size_bytes),
            status,
            created_at: self.created_at,
            created_by: self.created_by,
            annotations: parse_map("annotations", &self.annotations)?,
            metrics: parse_metrics(&self.metrics)?,
            aliases,
            status_changed_at: self.status_changed_at,
        })
    }
}

impl TryFrom<DatasetRow> for DatasetRecord {
    type Error = RegistryError;
    fn try_from(r: DatasetRow) -> Result<Self> {
        Ok(DatasetRecord {
            name: r.name,
            version: u(r.version),
            uri: r.uri,
            sha256: r.sha256,
            size_bytes: u(r.size_bytes),
            rows: u(r.row_count),
            schema: serde_json::from_str(&r.schema).map_err(|e| {
                RegistryError::Corrupt(format!("stored schema is not a JSON list: {e}"))
            })?,
            annotations: parse_map("annotations", &r.annotations)?,
            created_at: r.created_at,
            created_by: r.created_by,
        })
    }
}

impl From<EventRow> for EventRecord {
    fn from(r: EventRow) -> Self {
        EventRecord {
            id: u(r.id),
            time: r.at,
            actor: r.actor,
            model: r.model,
            version: r.version.map(u),
            kind: r.kind,
            from: r.from_status,
            to: r.to_status,
            reason: r.reason,
        }
    }
}
