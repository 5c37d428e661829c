//! The lifecycle engine (pure): the statuses a version goes through, and
//! one function, [`plan`], that decides what every status change does.
//!
//! ```text
//! candidate ──► evaluated ──► challenger ──► champion ──► retired
//!                  │                            ▲  │        │
//!                  └────────────────────────────┘  └◄───────┘ rollback
//! ```
//!
//! Every command that moves a version — a transition (promotion is a
//! transition to `champion`), a rollback (to the previous champion or to a
//! named one), a trial start and a trial stop — is planned here from the
//! model's current [`ModelState`] into a list of [`Change`]s, audit events
//! included. The stores only load the state, call [`plan`] and apply the
//! changes inside one transaction; no rule lives in SQL.

mod plan;
mod status;

#[cfg(test)]
mod plan_tests;

pub use plan::{
    Change, Command, EVAL_PASSED_KEY, EVAL_RUN_KEY, Event, LifecycleError, ModelState, OpenTrial,
    TRIAL_STOP_COMMAND, VersionState, plan,
};
pub use status::{IllegalTransition, Status, UnknownStatus, check_transition};
