//! joust-runtime is how a joust role runs. [`RoleServer`] is the one place
//! a role's gRPC server is assembled (security and trace layers, health,
//! reflection of exactly its services, message limits, `/metrics`, the
//! Open Inference Protocol's REST form for roles that serve it
//! ([`oip_http`]) and what to use instead of the OIP methods it does not
//! serve ([`oip_unserved`]), drain);
//! [`Listen`] is the one "ADDR or off" flag form; [`backoff`] is the one
//! retry delay every reconnect and retry loop uses; [`WatchFollower`] is
//! the one follower of the registry's change feed. It knows the wire
//! (joust-proto) and the security and telemetry layers, and nothing of
//! what a role does with a model, a route or a series.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod follower;
pub mod limits;
pub mod listen;
pub mod metrics_http;
pub mod oip_http;
pub mod oip_unserved;
pub mod rpc_metrics;
pub mod serve;

pub use backoff::{JITTER, Retry, backoff};
pub use follower::{WatchFollower, WatchUpdate};
pub use limits::MessageLimits;
pub use listen::{Listen, ListenError, Listeners, parse_listen};
pub use metrics_http::OPENMETRICS;
pub use rpc_metrics::RpcMetrics;
pub use serve::{DEFAULT_DRAIN, LIVENESS_SERVICE, RoleConfig, RoleServer, RuntimeError};
