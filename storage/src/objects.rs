//! Object-store locations: a URL (`file://DIR`, `memory://`,
//! `s3://bucket[/prefix]`) opened as an `object_store` store, the key
//! prefix inside it and the URL recorded for objects under it.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

use crate::error::{Result, StorageError};

/// S3 settings; the binary fills them from flags or the standard AWS
/// environment variables (libraries never read the environment).
#[derive(Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
}

/// Never prints the secret access key.
impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "REDACTED"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// An opened object store and the key prefix and URI base its URL named.
/// Every role that keeps objects (the registry's blobs, the detection
/// service's evidence) opens its store through this, so every URL scheme
/// means the same.
#[derive(Clone)]
pub struct ObjectLocation {
    pub store: Arc<dyn ObjectStore>,
    /// Key prefix inside the store (empty for a directory or bucket root).
    pub prefix: Path,
    /// The URL of the prefix, for the URIs recorded for objects.
    pub uri_base: String,
}

impl std::fmt::Debug for ObjectLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectLocation")
            .field("uri_base", &self.uri_base)
            .finish()
    }
}

impl ObjectLocation {
    /// Opens `file://DIR` (created if missing), `memory://` or
    /// `s3://bucket[/prefix]`; errors name `what` (the flag or setting).
    pub fn open(what: &str, url: &str, s3: &S3Options) -> Result<Self> {
        let bad = |why: &str| {
            StorageError::Config(format!(
                "{what} URL {:?}: {why}",
                joust_security::redact_url(url)
            ))
        };
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(bad("expected file://DIR"));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| bad(&format!("cannot create directory: {e}")))?;
            let abs = std::fs::canonicalize(dir)
                .map_err(|e| bad(&format!("cannot resolve directory: {e}")))?;
            let fs = LocalFileSystem::new_with_prefix(&abs)?.with_automatic_cleanup(true);
            return Ok(Self {
                store: Arc::new(fs),
                prefix: Path::default(),
                uri_base: format!("file://{}", abs.display()),
            });
        }
        if url == "memory://" || url == "memory:" {
            return Ok(Self {
                store: Arc::new(InMemory::new()),
                prefix: Path::default(),
                uri_base: "memory://".to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("expected s3://bucket[/prefix]"));
            }
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()))
                .with_allow_http(s3.allow_http);
            if let Some(e) = &s3.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(k) = &s3.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(s) = &s3.secret_access_key {
                b = b.with_secret_access_key(s);
            }
            let store = b.build()?;
            let prefix = prefix.trim_matches('/');
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::from(prefix),
                uri_base: if prefix.is_empty() {
                    format!("s3://{bucket}")
                } else {
                    format!("s3://{bucket}/{prefix}")
                },
            });
        }
        Err(bad(
            "expected file://DIR, memory:// or s3://bucket[/prefix]",
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn opens_directories_memory_and_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("objects");
        let url = format!("file://{}", sub.display());
        let l = ObjectLocation::open("blobs", &url, &S3Options::default()).unwrap();
        assert!(sub.is_dir(), "the directory is created");
        assert!(l.uri_base.starts_with("file:///"), "{}", l.uri_base);
        let m = ObjectLocation::open("blobs", "memory://", &S3Options::default()).unwrap();
        assert_eq!(m.uri_base, "memory://");
        let s = ObjectLocation::open("blobs", "s3://bucket/a/b/", &S3Options::default()).unwrap();
        assert_eq!(s.uri_base, "s3://bucket/a/b");
        assert_eq!(s.prefix.as_ref(), "a/b");
    }

    #[test]
    fn bad_urls_name_the_setting_and_what_is_expected() {
        for (url, expected) in [
            ("file://", "expected file://DIR"),
            ("s3://", "expected s3://bucket[/prefix]"),
            (
                "ftp://u:pw@host/x",
                "expected file://DIR, memory:// or s3://bucket[/prefix]",
            ),
        ] {
            let e = ObjectLocation::open("evidence", url, &S3Options::default()).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, StorageError::Config(_)), "{e:?}");
            assert!(text.starts_with("evidence URL "), "{text}");
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("pw@"), "credentials are redacted: {text}");
        }
    }

    #[test]
    fn debug_never_prints_the_secret_key() {
        let o = S3Options {
            secret_access_key: Some("hunter2".to_owned()),
            ..S3Options::default()
        };
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
