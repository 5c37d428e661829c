//! The authenticated caller ([`Identity`]: subject and roles), as the
//! request's extensions carry it once [`crate::auth`] has checked the
//! bearer token, and [`subject`], the actor handlers record.

use crate::roles::Role;

/// The authenticated caller, in the request's extensions
/// (`request.extensions().get::<Identity>()`). Its subject is the actor
/// recorded in audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub roles: Vec<Role>,
}

impl Identity {
    pub fn new(subject: String, roles: Vec<Role>) -> Self {
        Self { subject, roles }
    }

    /// True when one of the caller's roles grants `needed`.
    pub fn has(&self, needed: Role) -> bool {
        self.roles.iter().any(|r| r.grants(needed))
    }

    /// The roles as `a,b`, or `no role` (for refusal messages).
    pub fn roles_text(&self) -> String {
        if self.roles.is_empty() {
            "no role".to_owned()
        } else {
            self.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

/// The authenticated subject of a tonic request, if any: handlers use it
/// as the actor of what they record.
pub fn subject<T>(request: &tonic::Request<T>) -> Option<&str> {
    request
        .extensions()
        .get::<Identity>()
        .map(|i| i.subject.as_str())
}
