//! Content-addressed blob store over `object_store`.
//!
//! Blobs live at `{prefix}/sha256/{hex}`. An upload streams into a staging
//! object while its SHA-256 is computed; only when the digest is known (and
//! matches the declared one, if any) is it copied to its final key. A
//! refused upload leaves nothing behind; identical bytes uploaded twice end
//! at the same key (idempotent).

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};

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

/// A blob that was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub uri: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    uri_base: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("uri_base", &self.uri_base)
            .finish()
    }
}

/// An opened object store and the key prefix and URI base its URL named.
/// Other services that keep objects (the detection service's evidence)
/// open their store through this, so every URL scheme means the same.
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
            RegistryError::Config(format!(
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

impl BlobStore {
    /// Opens `file://DIR` (created if missing), `memory://` or
    /// `s3://bucket[/prefix]`.
    pub fn open(url: &str, s3: &S3Options) -> Result<Self> {
        let ObjectLocation {
            store,
            prefix,
            uri_base,
        } = ObjectLocation::open("blobs", url, s3)?;
        Ok(Self {
            store,
            prefix,
            uri_base,
        })
    }

    fn key(&self, sha256: &str) -> Path {
        self.prefix.clone().join("sha256").join(sha256)
    }

    /// The URI recorded for a blob with this digest.
    pub fn uri_for(&self, sha256: &str) -> String {
        format!("{}/sha256/{sha256}", self.uri_base)
    }

    /// Streams `chunks` into the store, computing the SHA-256 on the way.
    /// Refuses (and removes the staged bytes) when `declared` is given and
    /// differs, or when more than `max_bytes` arrive.
    pub async fn put_stream<S, E>(
        &self,
        what: &'static str,
        chunks: S,
        declared: Option<&str>,
        max_bytes: u64,
    ) -> Result<StoredBlob>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        RegistryError: From<E>,
    {
        let staging = self
            .prefix
            .clone()
            .join("staging")
            .join(uuid::Uuid::new_v4().to_string());
        let upload = self.store.put_multipart(&staging).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut chunks = chunks;
        let outcome: Result<()> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(RegistryError::TooLarge {
                        what,
                        limit: max_bytes,
                    });
                }
                hasher.update(&chunk);
                writer.wait_for_capacity(4).await?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            // Best effort: the staged part is not referenced by anything.
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await?;
        let sha256 = hex::encode(hasher.finalize());
        if let Some(declared) = declared.filter(|d| !d.is_empty())
            && !declared.eq_ignore_ascii_case(&sha256)
        {
            self.store.delete(&staging).await?;
            return Err(RegistryError::DigestMismatch {
                declared: declared.to_owned(),
                actual: sha256,
            });
        }
        let key = self.key(&sha256);
        match self.store.head(&key).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => self.store.copy(&staging, &key).await?,
            Err(e) => {
                let _ = self.store.delete(&staging).await;
                return Err(e.into());
            }
        }
        self.store.delete(&staging).await?;
        Ok(StoredBlob {
            uri: self.uri_for(&sha256),
            sha256,
            size,
        })
    }

    /// Stores bytes already in memory (used by tests and small uploads).
    pub async fn put_bytes(&self, what: &'static str, bytes: Bytes) -> Result<StoredBlob> {
        let one = futures::stream::iter([Ok::<_, RegistryError>(bytes)]);
        self.put_stream(what, one, None, u64::MAX).await
    }

    /// Whether a blob with this digest exists.
    pub async fn exists(&self, sha256: &str) -> Result<bool> {
        match self.store.head(&self.key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Number of objects under this store's prefix, staging included (for
    /// diagnostics and tests: a refused upload must leave none behind).
    pub async fn object_count(&self) -> Result<usize> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let all: Vec<_> = self.store.list(prefix).try_collect().await?;
        Ok(all.len())
    }

    /// Streams the blob with this digest.
    pub async fn get(&self, sha256: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        let got = match self.store.get(&self.key(sha256)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(RegistryError::Corrupt(format!(
                    "blob sha256/{sha256} is referenced but missing from the blob store"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(got.into_stream().map_err(RegistryError::from).boxed())
    }

    /// Reads the whole blob into memory.
    pub async fn get_bytes(&self, sha256: &str) -> Result<Bytes> {
        let parts: Vec<Bytes> = self.get(sha256).await?.try_collect().await?;
        Ok(parts.concat().into())
    }
}
