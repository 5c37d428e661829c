//! joust-client: a typed Rust client for joust's gRPC services. It wraps
//! the generated tonic clients with connection handling, the actor header,
//! chunked uploads with a client-side SHA-256, verified downloads,
//! paging, and the trials API (streamed comparison records included).
//! It knows the wire API only, no server internals.

mod error;
mod registry;
mod trials;

pub use error::ClientError;
pub use joust_proto::v1 as pb;
pub use registry::{RegistryClient, sha256_hex};
pub use trials::TrialsClient;

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
