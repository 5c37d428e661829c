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
use joust_storage::{ObjectLocation, S3Options};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};

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

impl BlobStore {
    /// Opens `file://DIR` (created if missing), `memory://` or
    /// `s3://bucket[/prefix]`.
    pub fn open(url: &str, s3: &S3Options) -> Result<Self> {
        let ObjectLocation {
            store,
            prefix,
            uri_base,
        } = ObjectLocation::open("blobs", url, s3).map_err(RegistryError::from)?;
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
