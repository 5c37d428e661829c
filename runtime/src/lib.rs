//! joust-runtime is how a joust role runs: the one [`backoff`] every retry
//! loop uses and the one [`WatchFollower`] of the registry's change feed.
//! It knows the wire (joust-proto) and the security and telemetry layers,
//! and nothing of what a role does with a model, a route or a series.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod follower;

pub use backoff::{JITTER, Retry, backoff};
pub use follower::{WatchFollower, WatchUpdate};
