//! joust-client: a typed Rust client for joust's gRPC services. It wraps
//! the generated tonic clients with connection handling, the actor header,
//! chunked uploads with a client-side SHA-256, verified downloads,
//! paging, and the trials API (streamed comparison records included);
//! the inference codec (OIP requests and answers, `model_version`) and the
//! ref grammar (`refs`, the `joust-refs` crate). It knows the wire API
//! only, no server internals: the node, the router, detection, the CLI,
//! the benchmarks and the tests all build on it.

mod error;
pub mod inference;
mod registry;
pub mod serving;
mod trials;

pub use error::ClientError;
pub use joust_proto::v1 as pb;
/// The ref grammar (`name`, `name:N`, `name@alias`) and naming rules.
pub use joust_refs as refs;
pub use joust_security::{ClientSecurity, SecureChannel};
pub use registry::{ArtifactRead, RegistryClient, sha256_hex};
pub use trials::TrialsClient;

/// Opens a gRPC channel to `url` (`http://` or `https://host:port`) with
/// `security`'s TLS, and its token on every call.
pub async fn connect(
    url: &str,
    security: &joust_security::ClientSecurity,
) -> Result<joust_security::SecureChannel, ClientError> {
    security.connect(url).await.map_err(|e| match e {
        joust_security::ConnectError::Config(e) => ClientError::Connect(e.to_string()),
        joust_security::ConnectError::Connect(reason) => ClientError::Connect(reason),
    })
}

/// Opens a gRPC channel to `url` (`http://host:port`).
pub async fn channel(url: &str) -> Result<tonic::transport::Channel, ClientError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| ClientError::Connect(format!("{url}: not a valid URL ({e})")))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true);
    endpoint
        .connect()
        .await
        .map_err(|e| ClientError::Connect(format!("{url}: {e}")))
}
