//! Evidence artifacts: per detection run, a deterministic JSON document
//! (`document.rs`) written to object storage at
//! `evidence/{owner}/{run_id}/detection.json` under the store's URL (a
//! local directory by default, `s3://bucket[/prefix]` in production; the
//! URL schemes are the registry's blob store's).

mod document;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

pub use document::{DETECTION_VERSION, SCHEMA, render};
pub use joust_storage::S3Options;

use crate::error::{DetectError, Result};

/// Where evidence goes; the binary fills it from flags.
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    /// `file://DIR`, `s3://bucket[/prefix]` or `memory://`.
    pub url: String,
    /// The `{owner}` path segment: the team or tenant the evidence belongs
    /// to (1–64 characters of letters, digits, `.`, `-`, `_`).
    pub owner: String,
    pub s3: S3Options,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            url: "file://./joust-data".to_owned(),
            owner: "joust".to_owned(),
            s3: S3Options::default(),
        }
    }
}

/// The opened evidence store.
#[derive(Clone)]
pub struct EvidenceStore {
    location: joust_storage::ObjectLocation,
    owner: String,
}

impl std::fmt::Debug for EvidenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceStore")
            .field("location", &self.location)
            .field("owner", &self.owner)
            .finish()
    }
}

/// Checks an owner path segment.
pub fn check_owner(owner: &str) -> Result<()> {
    let ok = !owner.is_empty()
        && owner.len() <= 64
        && owner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && owner != "."
        && owner != "..";
    if ok {
        Ok(())
    } else {
        Err(DetectError::Config(format!(
            "evidence owner: expected 1-64 characters of letters, digits and . - _, got {owner:?}"
        )))
    }
}

impl EvidenceStore {
    /// Opens the store named by `config.url` (a local directory is created
    /// if missing).
    pub fn open(config: &EvidenceConfig) -> Result<Self> {
        check_owner(&config.owner)?;
        let location = joust_storage::ObjectLocation::open("evidence", &config.url, &config.s3)
            .map_err(|e| DetectError::Config(e.to_string()))?;
        Ok(Self {
            location,
            owner: config.owner.clone(),
        })
    }

    fn relative(&self, run_id: i64) -> String {
        format!("evidence/{}/{run_id}/detection.json", self.owner)
    }

    fn key(&self, run_id: i64) -> Path {
        let mut key = self.location.prefix.clone();
        for part in self.relative(run_id).split('/') {
            key = key.join(part);
        }
        key
    }

    /// The URI recorded for the evidence of `run_id`.
    pub fn uri(&self, run_id: i64) -> String {
        format!("{}/{}", self.location.uri_base, self.relative(run_id))
    }

    /// Writes the evidence of `run_id` (replacing any earlier copy: the
    /// same run always renders the same bytes). Returns its URI.
    pub async fn put(&self, run_id: i64, document: Bytes) -> Result<String> {
        self.location
            .store
            .put(&self.key(run_id), PutPayload::from_bytes(document))
            .await
            .map_err(|e| DetectError::Evidence(format!("writing {}: {e}", self.uri(run_id))))?;
        Ok(self.uri(run_id))
    }

    /// Whether the store answers: a `HEAD` of a key that need not exist
    /// (found or not found both mean reachable). `Err` carries why not.
    pub async fn probe(&self) -> std::result::Result<(), String> {
        let key = self
            .location
            .prefix
            .clone()
            .join("evidence")
            .join(".health");
        match self.location.store.head(&key).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("{}: {e}", self.location.uri_base)),
        }
    }

    /// Reads the evidence of `run_id`; `None` when it was never written.
    pub async fn get(&self, run_id: i64) -> Result<Option<Bytes>> {
        let uri = self.uri(run_id);
        match self.location.store.get(&self.key(run_id)).await {
            Ok(got) => got
                .bytes()
                .await
                .map(Some)
                .map_err(|e| DetectError::Evidence(format!("reading {uri}: {e}"))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(DetectError::Evidence(format!("reading {uri}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn owners_are_checked() {
        check_owner("team-a_1.x").unwrap();
        for bad in ["", "..", "a/b", "a b", &"x".repeat(65)] {
            let e = check_owner(bad).unwrap_err().to_string();
            assert!(e.starts_with("configuration: evidence owner:"), "{e}");
        }
    }

    #[tokio::test]
    async fn puts_and_gets_under_owner_and_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::open(&EvidenceConfig {
            url: format!("file://{}", dir.path().display()),
            owner: "team".into(),
            s3: S3Options::default(),
        })
        .unwrap();
        assert_eq!(store.get(7).await.unwrap(), None);
        let uri = store.put(7, Bytes::from_static(b"{}\n")).await.unwrap();
        assert!(uri.ends_with("/evidence/team/7/detection.json"), "{uri}");
        let on_disk = dir.path().join("evidence/team/7/detection.json");
        assert_eq!(std::fs::read(on_disk).unwrap(), b"{}\n");
        assert_eq!(
            store.get(7).await.unwrap().unwrap(),
            Bytes::from_static(b"{}\n")
        );
    }
}
