//! Which webhook kind an audit event is, and the JSON payload POSTed for
//! it (a pure function of the event and the endpoint's name).

use serde_json::json;

use crate::domain::{EventRecord, event_kind};

pub const MODEL_PROMOTED: &str = "model_promoted";
pub const MODEL_ROLLED_BACK: &str = "model_rolled_back";

/// The webhook kinds (the list); endpoints may also subscribe to
/// any audit kind or to `*`.
pub const ALL: [&str; 7] = [
    event_kind::APPROVAL_REQUESTED,
    event_kind::TRIAL_STEP_ADVANCED,
    event_kind::TRIAL_ABORTED,
    event_kind::TRIAL_PROMOTED,
    MODEL_PROMOTED,
    MODEL_ROLLED_BACK,
    event_kind::ROLLOUT_BLOCKED,
];

/// Audit kinds an endpoint may subscribe to by their own name.
const AUDIT: [&str; 20] = [
    event_kind::MODEL_CREATED,
    event_kind::VERSION_REGISTERED,
    event_kind::TRANSITION,
    event_kind::ALIAS_SET,
    event_kind::ALIAS_DELETED,
    event_kind::ANNOTATED,
    event_kind::ROLLBACK,
    event_kind::ROLLOUT_BLOCKED,
    event_kind::DATASET_REGISTERED,
    event_kind::EVALUATION_OVERRIDDEN,
    event_kind::TRIAL_STARTED,
    event_kind::TRIAL_UPDATED,
    event_kind::TRIAL_STOPPED,
    event_kind::TRIAL_STEP_ADVANCED,
    event_kind::APPROVAL_REQUESTED,
    event_kind::APPROVAL_GRANTED,
    event_kind::APPROVAL_DENIED,
    event_kind::TRIAL_ABORTED,
    event_kind::TRIAL_PROMOTED,
    "*",
];

/// True for `*`, a webhook kind or an audit kind.
pub fn is_known(kind: &str) -> bool {
    ALL.contains(&kind) || AUDIT.contains(&kind)
}

/// The webhook kind of an audit event: a transition to champion is
/// `model_promoted`; the rollback event of the version that becomes
/// champion again is `model_rolled_back` (a rollback writes two events, one
/// per version; the other keeps its audit kind); every other event is its
/// audit kind.
pub fn of(event: &EventRecord) -> &str {
    match event.kind.as_str() {
        event_kind::TRANSITION if event.to == "champion" => MODEL_PROMOTED,
        event_kind::ROLLBACK if event.to == "champion" => MODEL_ROLLED_BACK,
        other => other,
    }
}

/// The delivery id of `event` for `endpoint`: the same on every attempt
/// and every replica (receivers deduplicate on it).
pub fn delivery_id(endpoint: &str, event_id: u64) -> String {
    format!("{endpoint}:{event_id}")
}

/// The JSON body for `event` sent to `endpoint` (docs/webhooks.md).
pub fn payload(endpoint: &str, event: &EventRecord) -> String {
    json!({
        "delivery_id": delivery_id(endpoint, event.id),
        "endpoint": endpoint,
        "kind": of(event),
        "audit_kind": event.kind,
        "event_id": event.id,
        "time": event.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "model": event.model,
        "version": event.version,
        "actor": event.actor,
        "from": event.from,
        "to": event.to,
        "reason": event.reason,
    })
    .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ev(kind: &str, from: &str, to: &str) -> EventRecord {
        EventRecord {
            id: 7,
            time: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: "alice".into(),
            model: "fraud".into(),
            version: Some(3),
            kind: kind.into(),
            from: from.into(),
            to: to.into(),
            reason: "why".into(),
        }
    }

    #[test]
    fn audit_events_map_to_webhook_kinds() {
        assert_eq!(
            of(&ev("transition", "challenger", "champion")),
            MODEL_PROMOTED
        );
        assert_eq!(of(&ev("transition", "champion", "retired")), "transition");
        assert_eq!(
            of(&ev("rollback", "retired", "champion")),
            MODEL_ROLLED_BACK
        );
        assert_eq!(of(&ev("rollback", "champion", "retired")), "rollback");
        assert_eq!(
            of(&ev("rollout_blocked", "champion", "")),
            "rollout_blocked"
        );
        assert_eq!(of(&ev("trial_aborted", "", "")), "trial_aborted");
        for k in ALL {
            assert!(is_known(k));
        }
        assert!(is_known("*") && is_known("trial_started") && !is_known("promoted"));
    }

    #[test]
    fn payload_carries_the_event() {
        let p: serde_json::Value =
            serde_json::from_str(&payload("ops", &ev("transition", "challenger", "champion")))
                .unwrap();
        assert_eq!(p["delivery_id"], "ops:7");
        assert_eq!(p["kind"], "model_promoted");
        assert_eq!(p["audit_kind"], "transition");
        assert_eq!(p["event_id"], 7);
        assert_eq!(p["version"], 3);
        assert_eq!(p["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(p["to"], "champion");
    }
}
