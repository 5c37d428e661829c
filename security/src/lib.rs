//! joust-security owns how every joust role protects its gRPC listeners
//! and its outgoing calls: TLS and mutual TLS from PEM files (tonic's
//! rustls with aws-lc-rs), bearer tokens (a static file or JWTs) mapped
//! to roles by one table of every RPC ([`roles::METHODS`]), per-caller
//! rate limits, client deadlines (`grpc-timeout`), and keeping secrets
//! out of logs.
//!
//! Roles build their server from a [`ServerSecurity`]
//! (`security.server()?.layer(trace).layer(security.layer())`) and their
//! clients from a [`ClientSecurity`] (`security.connect_lazy(url)?`).
//! Handlers read the caller from the request's extensions
//! ([`Identity`], [`Deadline`]). It knows nothing of models, registries
//! or routing: only gRPC paths, tokens and certificates.

#![forbid(unsafe_code)]

pub mod args;
pub mod auth;
pub mod client;
pub mod deadline;
mod error;
pub mod identity;
pub mod jwt;
pub mod layer;
pub mod limit;
pub mod redact;
pub mod roles;
pub mod server;
pub mod tls;
pub mod tokens;

pub use args::{CredentialArgs, ServerArgs};
pub use auth::Authenticator;
pub use client::{ClientSecurity, ClientSecurityConfig, ConnectError, SecureChannel};
pub use deadline::Deadline;
pub use error::SecurityError;
pub use identity::{Identity, subject};
pub use layer::{Policy, SecurityLayer, SecurityService};
pub use redact::{Secret, redact_url};
pub use roles::{Access, Role};
pub use server::{ServerSecurity, ServerSecurityConfig, incoming};
