//! What client commands print: serde views of the wire types for `--json`,
//! and short text for people.

use std::collections::BTreeMap;

use joust_client::pb;
use serde::Serialize;

pub fn time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        })
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub fn status_name(raw: i32) -> &'static str {
    match pb::VersionStatus::try_from(raw) {
        Ok(pb::VersionStatus::Candidate) => "candidate",
        Ok(pb::VersionStatus::Evaluated) => "evaluated",
        Ok(pb::VersionStatus::Challenger) => "challenger",
        Ok(pb::VersionStatus::Champion) => "champion",
        Ok(pb::VersionStatus::Retired) => "retired",
        _ => "unspecified",
    }
}

pub fn parse_status(s: &str) -> anyhow::Result<pb::VersionStatus> {
    Ok(match s {
        "candidate" => pb::VersionStatus::Candidate,
        "evaluated" => pb::VersionStatus::Evaluated,
        "challenger" => pb::VersionStatus::Challenger,
        "champion" => pb::VersionStatus::Champion,
        "retired" => pb::VersionStatus::Retired,
        other => anyhow::bail!(
            "STATUS: expected candidate, evaluated, challenger, champion or retired, got {other:?}"
        ),
    })
}

#[derive(Debug, Serialize)]
pub struct ModelView {
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    pub latest_version: u64,
    pub champion_version: Option<u64>,
    pub challenger_version: Option<u64>,
    pub aliases: BTreeMap<String, u64>,
    /// The champion's rollout is blocked (no node can serve it): why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_blocked: Option<String>,
}

impl From<pb::Model> for ModelView {
    fn from(m: pb::Model) -> Self {
        ModelView {
            created_at: time(&m.created_at),
            name: m.name,
            description: m.description,
            created_by: m.created_by,
            latest_version: m.latest_version,
            champion_version: (m.champion_version > 0).then_some(m.champion_version),
            challenger_version: (m.challenger_version > 0).then_some(m.challenger_version),
            rollout_blocked: (m.rollout_blocked_version > 0).then(|| {
                format!(
                    "version {}: {}",
                    m.rollout_blocked_version, m.rollout_blocked_reason
                )
            }),
            aliases: m
                .aliases
                .into_iter()
                .map(|a| (a.alias, a.version))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VersionView {
    pub model: String,
    pub version: u64,
    pub kind: String,
    pub status: &'static str,
    pub sha256: String,
    pub size_bytes: u64,
    pub artifact_uri: String,
    pub aliases: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub status_changed_at: String,
    pub annotations: BTreeMap<String, String>,
    pub metrics: serde_json::Value,
    /// Set on a champion whose rollout is blocked (no node can serve it):
    /// the nodes' reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_blocked: Option<String>,
}

impl From<pb::ModelVersion> for VersionView {
    fn from(v: pb::ModelVersion) -> Self {
        VersionView {
            status: status_name(v.status),
            created_at: time(&v.created_at),
            status_changed_at: time(&v.status_changed_at),
            metrics: serde_json::from_str(&v.metrics_json).unwrap_or(serde_json::Value::Null),
            annotations: v.annotations.into_iter().collect(),
            model: v.model,
            version: v.version,
            kind: v.kind,
            sha256: v.sha256,
            size_bytes: v.size_bytes,
            artifact_uri: v.artifact_uri,
            aliases: v.aliases,
            created_by: v.created_by,
            rollout_blocked: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: u64,
    pub time: String,
    pub actor: String,
    pub model: String,
    pub version: Option<u64>,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

impl From<pb::Event> for EventView {
    fn from(e: pb::Event) -> Self {
        EventView {
            time: time(&e.time),
            id: e.id,
            actor: e.actor,
            model: e.model,
            version: (e.version > 0).then_some(e.version),
            kind: e.kind,
            from: e.from,
            to: e.to,
            reason: e.reason,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DatasetView {
    pub name: String,
    pub version: u64,
    pub rows: u64,
    pub sha256: String,
    pub size_bytes: u64,
    pub uri: String,
    pub schema: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub annotations: BTreeMap<String, String>,
}

impl From<pb::Dataset> for DatasetView {
    fn from(d: pb::Dataset) -> Self {
        DatasetView {
            created_at: time(&d.created_at),
            name: d.name,
            version: d.version,
            rows: d.rows,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
            uri: d.uri,
            schema: d.schema,
            created_by: d.created_by,
            annotations: d.annotations.into_iter().collect(),
        }
    }
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn print_version(v: &VersionView) {
    outln!(
        "{}:{}  {}  kind={}  sha256={}  size={}B",
        v.model,
        v.version,
        v.status,
        v.kind,
        &v.sha256[..v.sha256.len().min(12)],
        v.size_bytes
    );
    if !v.aliases.is_empty() {
        outln!("  aliases: {}", v.aliases.join(", "));
    }
    outln!("  created {} by {}", v.created_at, v.created_by);
    if let Some(why) = &v.rollout_blocked {
        outln!("  ROLLOUT BLOCKED: no node can serve this champion ({why})");
    }
    for (k, val) in &v.annotations {
        outln!("  {k} = {val}");
    }
    if let serde_json::Value::Object(m) = &v.metrics
        && !m.is_empty()
    {
        outln!("  metrics: {}", v.metrics);
    }
}

pub fn print_event(e: &EventView) {
    let version = e.version.map(|v| format!(":{v}")).unwrap_or_default();
    let change = if e.from.is_empty() && e.to.is_empty() {
        String::new()
    } else {
        format!(
            " {} → {}",
            if e.from.is_empty() { "∅" } else { &e.from },
            e.to
        )
    };
    let reason = if e.reason.is_empty() {
        String::new()
    } else {
        format!("  ({})", e.reason)
    };
    outln!(
        "#{:<5} {}  {}{}  {}{}  by {}{}",
        e.id,
        e.time,
        e.model,
        version,
        e.kind,
        change,
        e.actor,
        reason
    );
}
