//! The blob-store conformance suite: local directory, memory and a real
//! S3-compatible server (started by scripts/test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use futures::TryStreamExt;
use joust_registry::{BlobStore, RegistryError, S3Options};

enum Backend {
    File,
    Memory,
    S3,
}

/// Opens a fresh, empty store of the backend (a new prefix on S3). `None`
/// when S3 is not configured and the run does not require it.
fn open(backend: Backend) -> Option<(BlobStore, Option<tempfile::TempDir>)> {
    match backend {
        Backend::File => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("file://{}/blobs", dir.path().display());
            Some((
                BlobStore::open(&url, &S3Options::default()).unwrap(),
                Some(dir),
            ))
        }
        Backend::Memory => Some((
            BlobStore::open("memory://", &S3Options::default()).unwrap(),
            None,
        )),
        Backend::S3 => match joust_tests::s3_endpoint() {
            Some((bucket, opts)) => {
                let url = format!("s3://{bucket}/t-{}", uuid::Uuid::new_v4().simple());
                Some((BlobStore::open(&url, &opts).unwrap(), None))
            }
            None => {
                assert!(
                    !joust_tests::require_all(),
                    "JOUST_TEST_S3_ENDPOINT is unset but this run requires the S3 suite"
                );
                eprintln!("S3 suite skipped: JOUST_TEST_S3_ENDPOINT unset (scripts/test sets it)");
                None
            }
        },
    }
}

fn stream(
    parts: Vec<Vec<u8>>,
) -> impl futures::Stream<Item = Result<Bytes, RegistryError>> + Unpin {
    futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))))
}

fn sha(b: &[u8]) -> String {
    joust_client::sha256_hex(b)
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod file { $( #[tokio::test] async fn $name() { if let Some((s, _d)) = super::open(super::Backend::File) { super::$name(s).await } } )* }
        mod memory { $( #[tokio::test] async fn $name() { if let Some((s, _d)) = super::open(super::Backend::Memory) { super::$name(s).await } } )* }
        mod s3 { $( #[tokio::test] async fn $name() { if let Some((s, _d)) = super::open(super::Backend::S3) { super::$name(s).await } } )* }
    };
}

suite!(
    round_trip_is_content_addressed,
    declared_digest_mismatch_leaves_nothing,
    identical_bytes_are_stored_once,
    oversized_upload_is_refused_and_cleaned,
    large_multi_chunk_upload,
);

async fn round_trip_is_content_addressed(s: BlobStore) {
    let body = b"model bytes".to_vec();
    let stored = s
        .put_stream(
            "artifact",
            stream(vec![body[..5].to_vec(), body[5..].to_vec()]),
            None,
            u64::MAX,
        )
        .await
        .unwrap();
    assert_eq!(stored.sha256, sha(&body));
    assert_eq!(stored.size, body.len() as u64);
    assert!(
        stored.uri.ends_with(&format!("/sha256/{}", stored.sha256)),
        "{}",
        stored.uri
    );
    assert!(s.exists(&stored.sha256).await.unwrap());
    assert_eq!(
        s.get_bytes(&stored.sha256).await.unwrap(),
        Bytes::from(body)
    );
    let missing = s.get(&"0".repeat(64)).await.err().unwrap();
    assert!(matches!(missing, RegistryError::Corrupt(_)), "{missing}");
}

async fn declared_digest_mismatch_leaves_nothing(s: BlobStore) {
    let e = s
        .put_stream(
            "artifact",
            stream(vec![b"abc".to_vec()]),
            Some(&"f".repeat(64)),
            u64::MAX,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    assert_eq!(s.object_count().await.unwrap(), 0);
    // The right digest is accepted.
    let ok = s
        .put_stream(
            "artifact",
            stream(vec![b"abc".to_vec()]),
            Some(&sha(b"abc")),
            u64::MAX,
        )
        .await
        .unwrap();
    assert_eq!(ok.sha256, sha(b"abc"));
    assert_eq!(s.object_count().await.unwrap(), 1);
}

async fn identical_bytes_are_stored_once(s: BlobStore) {
    let a = s
        .put_bytes("artifact", Bytes::from_static(b"same"))
        .await
        .unwrap();
    let b = s
        .put_bytes("artifact", Bytes::from_static(b"same"))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(s.object_count().await.unwrap(), 1);
}

async fn oversized_upload_is_refused_and_cleaned(s: BlobStore) {
    let e = s
        .put_stream(
            "artifact",
            stream(vec![vec![1u8; 600], vec![2u8; 600]]),
            None,
            1000,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::TooLarge { limit: 1000, .. }),
        "{e}"
    );
    assert_eq!(s.object_count().await.unwrap(), 0);
}

async fn large_multi_chunk_upload(s: BlobStore) {
    // 12 MiB in 1 MiB chunks: several multipart parts on S3.
    let parts: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 1 << 20]).collect();
    let all: Vec<u8> = parts.concat();
    let stored = s
        .put_stream("dataset", stream(parts), Some(&sha(&all)), u64::MAX)
        .await
        .unwrap();
    assert_eq!(stored.size, all.len() as u64);
    let back: Vec<Bytes> = s
        .get(&stored.sha256)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(back.concat(), all);
}
