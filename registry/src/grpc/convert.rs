//! Domain ↔ proto conversions, in one place.

use chrono::{DateTime, Utc};
use joust_proto::v1 as pb;
use tonic::Status;

use crate::domain::{AliasRecord, DatasetRecord, EventRecord, ModelRecord, VersionRecord};
use crate::lifecycle::Status as Lifecycle;
use crate::registry::{DatasetMeta, VersionMeta};

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn status_to_pb(s: Lifecycle) -> pb::VersionStatus {
    match s {
        Lifecycle::Candidate => pb::VersionStatus::Candidate,
        Lifecycle::Evaluated => pb::VersionStatus::Evaluated,
        Lifecycle::Challenger => pb::VersionStatus::Challenger,
        Lifecycle::Champion => pb::VersionStatus::Champion,
        Lifecycle::Retired => pb::VersionStatus::Retired,
    }
}

/// A status field of a request; `UNSPECIFIED` gives `None`.
pub fn status_from_pb(field: &str, raw: i32) -> Result<Option<Lifecycle>, Status> {
    match pb::VersionStatus::try_from(raw) {
        Ok(pb::VersionStatus::Unspecified) => Ok(None),
        Ok(pb::VersionStatus::Candidate) => Ok(Some(Lifecycle::Candidate)),
        Ok(pb::VersionStatus::Evaluated) => Ok(Some(Lifecycle::Evaluated)),
        Ok(pb::VersionStatus::Challenger) => Ok(Some(Lifecycle::Challenger)),
        Ok(pb::VersionStatus::Champion) => Ok(Some(Lifecycle::Champion)),
        Ok(pb::VersionStatus::Retired) => Ok(Some(Lifecycle::Retired)),
        Err(_) => Err(Status::invalid_argument(format!(
            "{field}: expected a VersionStatus (1 to 5), got {raw}"
        ))),
    }
}

impl From<AliasRecord> for pb::Alias {
    fn from(a: AliasRecord) -> Self {
        pb::Alias {
            model: a.model,
            alias: a.alias,
            version: a.version,
        }
    }
}

impl From<ModelRecord> for pb::Model {
    fn from(m: ModelRecord) -> Self {
        pb::Model {
            name: m.name,
            description: m.description,
            created_at: Some(timestamp(m.created_at)),
            created_by: m.created_by,
            latest_version: m.latest_version,
            champion_version: m.champion_version.unwrap_or(0),
            challenger_version: m.challenger_version.unwrap_or(0),
            aliases: m.aliases.into_iter().map(Into::into).collect(),
            rollout_blocked_version: m.rollout_blocked.as_ref().map_or(0, |b| b.0),
            rollout_blocked_reason: m.rollout_blocked.map(|b| b.1).unwrap_or_default(),
        }
    }
}

impl From<VersionRecord> for pb::ModelVersion {
    fn from(v: VersionRecord) -> Self {
        pb::ModelVersion {
            model: v.model,
            version: v.version,
            kind: v.kind,
            artifact_uri: v.artifact_uri,
            sha256: v.sha256,
            size_bytes: v.size_bytes,
            status: status_to_pb(v.status).into(),
            created_at: Some(timestamp(v.created_at)),
            created_by: v.created_by,
            annotations: v.annotations.into_iter().collect(),
            metrics_json: serde_json::Value::Object(v.metrics).to_string(),
            aliases: v.aliases,
            status_changed_at: Some(timestamp(v.status_changed_at)),
        }
    }
}

impl From<EventRecord> for pb::Event {
    fn from(e: EventRecord) -> Self {
        pb::Event {
            id: e.id,
            time: Some(timestamp(e.time)),
            actor: e.actor,
            model: e.model,
            version: e.version.unwrap_or(0),
            kind: e.kind,
            from: e.from,
            to: e.to,
            reason: e.reason,
        }
    }
}

impl From<DatasetRecord> for pb::Dataset {
    fn from(d: DatasetRecord) -> Self {
        pb::Dataset {
            name: d.name,
            version: d.version,
            uri: d.uri,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
            rows: d.rows,
            schema: d.schema,
            annotations: d.annotations.into_iter().collect(),
            created_at: Some(timestamp(d.created_at)),
            created_by: d.created_by,
        }
    }
}

impl From<pb::VersionMetadata> for VersionMeta {
    fn from(m: pb::VersionMetadata) -> Self {
        let pb::VersionMetadata {
            model,
            kind,
            sha256,
            annotations,
            metrics_json,
        } = m;
        VersionMeta {
            model,
            kind,
            sha256,
            annotations: annotations.into_iter().collect(),
            metrics_json,
        }
    }
}

impl From<pb::DatasetMetadata> for DatasetMeta {
    fn from(m: pb::DatasetMetadata) -> Self {
        let pb::DatasetMetadata {
            name,
            sha256,
            rows,
            schema,
            annotations,
        } = m;
        DatasetMeta {
            name,
            sha256,
            rows,
            schema,
            annotations: annotations.into_iter().collect(),
        }
    }
}

/// Page tokens: the last key of the previous page, as text.
pub fn version_token(token: &str) -> Result<u64, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    token.parse().map_err(|_| {
        Status::invalid_argument(format!(
            "page_token: expected a token from a previous response, got {token:?}"
        ))
    })
}

pub fn dataset_token(token: &str) -> Result<Option<(String, u64)>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Status::invalid_argument(format!(
            "page_token: expected a token from a previous response, got {token:?}"
        ))
    };
    let (name, v) = token.rsplit_once(':').ok_or_else(bad)?;
    Ok(Some((name.to_owned(), v.parse().map_err(|_| bad())?)))
}

/// A webhook delivery-log row on the wire (times in ms since the epoch;
/// 0 is "none").
pub fn webhook_delivery(r: crate::webhooks::DeliveryRow) -> pb::WebhookDelivery {
    let crate::webhooks::DeliveryRow {
        id,
        endpoint,
        event_id,
        kind,
        status,
        attempts,
        last_error,
        last_http_status,
        created_ms,
        next_attempt_ms,
        finished_ms,
    } = r;
    let at = |ms: i64| {
        (ms > 0)
            .then(|| DateTime::from_timestamp_millis(ms).map(timestamp))
            .flatten()
    };
    let event_id = u64::try_from(event_id).unwrap_or(0);
    pb::WebhookDelivery {
        id: u64::try_from(id).unwrap_or(0),
        delivery_id: crate::webhooks::kinds::delivery_id(&endpoint, event_id),
        endpoint,
        event_id,
        kind,
        next_attempt: if status == "pending" {
            at(next_attempt_ms)
        } else {
            None
        },
        status,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error,
        last_http_status: u32::try_from(last_http_status).unwrap_or(0),
        created: at(created_ms),
        finished: at(finished_ms),
    }
}
