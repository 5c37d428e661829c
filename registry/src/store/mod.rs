//! The metadata store: one trait, two backends (PostgreSQL and SQLite)
//! sharing one SQL implementation (`sql.rs`), migrations embedded and
//! applied at open.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    AliasRecord, DatasetRecord, EventFilter, EventRecord, Metrics, ModelRecord, NewDataset,
    NewVersion, VersionRecord,
};
use crate::error::{RegistryError, Result};
use crate::lifecycle::Status;
use crate::names::VersionRef;
use crate::watch::EventHub;

#[macro_use]
mod sql;
mod postgres;
pub(crate) mod rows;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Everything the registry persists, behind one interface. Every mutation
/// is one transaction that also appends its audit event(s); the ids of
/// events are assigned in commit order.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    async fn create_model(&self, name: &str, description: &str, actor: &str)
    -> Result<ModelRecord>;
    async fn get_model(&self, name: &str) -> Result<ModelRecord>;
    /// Models ordered by name, after `after` (exclusive).
    async fn list_models(&self, after: &str, limit: u32) -> Result<Vec<ModelRecord>>;

    /// Inserts a version (status `candidate`). Idempotent: when the model
    /// already has a version with the same digest and kind, that version is
    /// returned with `false`.
    async fn insert_version(&self, new: NewVersion, actor: &str) -> Result<(VersionRecord, bool)>;
    async fn resolve_version(&self, r: &VersionRef) -> Result<VersionRecord>;
    /// Versions ordered by number, after `after_version` (exclusive).
    async fn list_versions(
        &self,
        model: &str,
        status: Option<Status>,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<VersionRecord>>;
    /// Validated transition; promotion retires the previous champion.
    async fn transition(
        &self,
        model: &str,
        version: u64,
        to: Status,
        reason: &str,
        actor: &str,
    ) -> Result<VersionRecord>;
    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u64,
        actor: &str,
    ) -> Result<AliasRecord>;
    async fn delete_alias(&self, model: &str, alias: &str, actor: &str) -> Result<()>;
    async fn annotate(
        &self,
        model: &str,
        version: u64,
        annotations: BTreeMap<String, String>,
        metrics: Metrics,
        actor: &str,
    ) -> Result<VersionRecord>;
    /// Retires the champion and makes the previous champion the champion
    /// again. Returns (retired, champion).
    async fn rollback(
        &self,
        model: &str,
        reason: &str,
        actor: &str,
    ) -> Result<(VersionRecord, VersionRecord)>;

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>>;

    async fn insert_dataset(&self, new: NewDataset, actor: &str) -> Result<(DatasetRecord, bool)>;
    async fn resolve_dataset(&self, r: &VersionRef) -> Result<DatasetRecord>;
    /// Datasets ordered by (name, version) after the given key (exclusive).
    async fn list_datasets(
        &self,
        name: &str,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> Result<Vec<DatasetRecord>>;

    /// The hub that announces new events (for Watch).
    fn hub(&self) -> &EventHub;
}

/// Opens the store named by a database URL (`postgres://…` or
/// `sqlite://PATH`, `sqlite::memory:`), applying migrations.
pub async fn open(url: &str) -> Result<Arc<dyn MetadataStore>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(RegistryError::Config(format!(
            "database URL {:?}: expected postgres://… or sqlite://PATH",
            joust_security::redact_url(url)
        )))
    }
}
