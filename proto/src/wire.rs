//! Names that are part of the wire contract but not of the `.proto`
//! files: the `kind` strings of `joust.v1.Event` and the `x-joust-*`
//! metadata keys. Every writer and reader uses these constants, never a
//! literal.

/// `Event.kind` values written by the registry.
pub mod event_kind {
    pub const MODEL_CREATED: &str = "model_created";
    pub const VERSION_REGISTERED: &str = "version_registered";
    pub const TRANSITION: &str = "transition";
    pub const ALIAS_SET: &str = "alias_set";
    pub const ALIAS_DELETED: &str = "alias_deleted";
    pub const ANNOTATED: &str = "annotated";
    pub const ROLLBACK: &str = "rollback";
    /// A router reported that no node can serve the champion (the
    /// registry's auto-rollback, when on, writes `rollback` events after).
    pub const ROLLOUT_BLOCKED: &str = "rollout_blocked";
    pub const DATASET_REGISTERED: &str = "dataset_registered";
    /// A candidate moved to `evaluated` without a passing evaluation, by an
    /// explicit override (the reason says why); written after the
    /// transition's own event.
    pub const EVALUATION_OVERRIDDEN: &str = "evaluation_overridden";
    pub const TRIAL_STARTED: &str = "trial_started";
    pub const TRIAL_UPDATED: &str = "trial_updated";
    pub const TRIAL_STOPPED: &str = "trial_stopped";
    /// A trial plan's controller (actor `controller`) moved to its next
    /// step; the trial's mode/weight/sampling change comes with it.
    pub const TRIAL_STEP_ADVANCED: &str = "trial_step_advanced";
    /// A plan reached an `await_approval` step and waits for a person.
    pub const APPROVAL_REQUESTED: &str = "approval_requested";
    /// A person approved (`trial approve`) or denied (`trial deny`) a
    /// pending step.
    pub const APPROVAL_GRANTED: &str = "approval_granted";
    pub const APPROVAL_DENIED: &str = "approval_denied";
    /// The controller stopped a trial because a guardrail was violated
    /// (the challenger goes back to `evaluated`).
    pub const TRIAL_ABORTED: &str = "trial_aborted";
    /// The controller promoted a trial's challenger at the plan's end.
    pub const TRIAL_PROMOTED: &str = "trial_promoted";

    /// Kinds that never change which version serves a model (no champion,
    /// challenger or trial moves): a route follower need not re-read on
    /// them.
    pub const ROUTE_NEUTRAL: [&str; 8] = [
        VERSION_REGISTERED,
        ANNOTATED,
        DATASET_REGISTERED,
        EVALUATION_OVERRIDDEN,
        ROLLOUT_BLOCKED,
        APPROVAL_REQUESTED,
        APPROVAL_GRANTED,
        APPROVAL_DENIED,
    ];

    /// True when an event of `kind` may change a model's routes.
    pub fn may_change_routes(kind: &str) -> bool {
        !ROUTE_NEUTRAL.contains(&kind)
    }
}

/// gRPC metadata keys joust reads or writes.
pub mod metadata {
    /// Request: the key that makes split and shadow decisions sticky.
    pub const ROUTING_KEY: &str = "x-joust-routing-key";
    /// Request: debug pin of an arm; response: the arm that answered.
    pub const ARM: &str = "x-joust-arm";
    /// Response: the version that answered.
    pub const MODEL_VERSION: &str = "x-joust-model-version";
    /// Request: the acting user written into audit events (when no
    /// authenticated subject names one).
    pub const ACTOR: &str = "x-joust-actor";
}

#[cfg(test)]
mod tests {
    use super::event_kind;

    #[test]
    fn only_neutral_kinds_leave_routes_alone() {
        for kind in event_kind::ROUTE_NEUTRAL {
            assert!(!event_kind::may_change_routes(kind), "{kind}");
        }
        for kind in [
            event_kind::MODEL_CREATED,
            event_kind::TRANSITION,
            event_kind::ALIAS_SET,
            event_kind::ALIAS_DELETED,
            event_kind::ROLLBACK,
            event_kind::TRIAL_STARTED,
            event_kind::TRIAL_UPDATED,
            event_kind::TRIAL_STOPPED,
            "a_kind_added_later",
        ] {
            assert!(event_kind::may_change_routes(kind), "{kind}");
        }
    }
}
