//! The gRPC edge of the registry: conversions, the error → status mapping
//! and the `joust.v1.Registry` service. Handlers convert and delegate to
//! [`crate::Registry`].

pub mod convert;
mod service;
pub mod status;

pub use service::RegistryService;

use tonic::Request;

/// The metadata key naming the acting user in audit events.
pub const ACTOR_HEADER: &str = joust_proto::wire::metadata::ACTOR;

/// The actor of a request: the authenticated subject when authentication
/// is on (a client cannot claim another name), else `x-joust-actor`
/// metadata, else "anonymous".
pub fn actor_of<T>(req: &Request<T>) -> String {
    if let Some(subject) = joust_security::subject(req) {
        return subject.to_owned();
    }
    req.metadata()
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .unwrap_or("anonymous")
        .to_owned()
}
