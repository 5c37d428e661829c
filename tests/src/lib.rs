//! Harnesses for joust's end-to-end tests: throwaway PostgreSQL databases,
//! in-process registries on port 0, the S3 endpoint the test command
//! started, and the path of the built `joust` binary. The tests themselves
//! live in `tests/tests/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod dashboard;
pub mod detect;
pub mod detect_process;
pub mod drill;
pub mod node;
pub mod onnx;
pub mod pg;
pub mod pg_cluster;
pub mod process;
pub mod reflection;
pub mod registry;
pub mod router;
pub mod security;
pub mod topology;
pub mod traffic;
pub mod up;

pub use pg::TestDatabase;
pub use registry::{TestDashboard, TestRegistry};
pub use router::TestRouter;

/// S3 settings for the blob-store suite: `JOUST_TEST_S3_ENDPOINT` (set by
/// `scripts/test`, which starts an S3-compatible server), bucket
/// `JOUST_TEST_S3_BUCKET` (default `joust-test`). `None` when unset; the
/// test command always sets it, and CI fails if the suite did not run.
pub fn s3_endpoint() -> Option<(String, joust_registry::S3Options)> {
    let endpoint = std::env::var("JOUST_TEST_S3_ENDPOINT").ok()?;
    let bucket = std::env::var("JOUST_TEST_S3_BUCKET").unwrap_or_else(|_| "joust-test".into());
    Some((
        bucket,
        joust_registry::S3Options {
            endpoint: Some(endpoint),
            region: Some("us-east-1".into()),
            access_key_id: Some(
                std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into()),
            ),
            secret_access_key: Some(
                std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
            ),
            allow_http: true,
        },
    ))
}

/// True when the test command demands every backend (it sets
/// `JOUST_TEST_REQUIRE_ALL=1`): a missing S3 endpoint is then a failure,
/// not a skip.
pub fn require_all() -> bool {
    std::env::var("JOUST_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// The `joust` binary built by cargo for this test run.
/// The body of `GET /metrics` on a role's metrics listener (plain HTTP/1.1).
pub async fn scrape_metrics(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    Ok(body)
}

pub fn joust_bin() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("JOUST_BIN") {
        return p.into();
    }
    // target/<profile>/deps/<test-binary> → target/<profile>/joust
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("joust")
}
