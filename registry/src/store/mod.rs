//! The metadata store: one trait per aggregate (models, versions,
//! lifecycle, aliases, events, datasets), two backends (PostgreSQL and
//! SQLite) sharing one SQL implementation (a macro per aggregate over the
//! row helpers of `sql.rs`, the detection store's pattern), migrations
//! embedded and applied at open. Status changes are planned by
//! `crate::lifecycle` and only applied here.

use std::sync::Arc;

use joust_storage::Database;

use crate::error::Result;

#[macro_use]
mod sql;
#[macro_use]
mod aliases;
#[macro_use]
mod datasets;
#[macro_use]
mod events;
#[macro_use]
pub(crate) mod lifecycle;
#[macro_use]
mod models;
#[macro_use]
mod versions;
mod postgres;
pub(crate) mod rows;
mod sqlite;

pub use aliases::AliasStore;
pub use datasets::DatasetStore;
pub use events::EventStore;
pub use lifecycle::LifecycleStore;
pub use models::ModelStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use versions::VersionStore;

/// Everything the registry persists, behind one interface made of one
/// trait per aggregate. Every mutation is one transaction that also
/// appends its audit event(s); the ids of events are assigned in commit
/// order.
pub trait MetadataStore:
    ModelStore + VersionStore + LifecycleStore + AliasStore + EventStore + DatasetStore
{
}

impl<T> MetadataStore for T where
    T: ModelStore + VersionStore + LifecycleStore + AliasStore + EventStore + DatasetStore
{
}

/// Opens the store named by a database URL (`postgres://…` or
/// `sqlite://PATH`, `sqlite::memory:`), applying migrations.
pub async fn open(url: &str) -> Result<Arc<dyn MetadataStore>> {
    Ok(match joust_storage::open(url).await? {
        Database::Postgres(pool) => Arc::new(PgStore::with_pool(pool).await?),
        Database::Sqlite(pool) => Arc::new(SqliteStore::with_pool(pool).await?),
    })
}
