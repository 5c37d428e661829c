//! The datasets aggregate: registering, resolving and listing datasets.

use async_trait::async_trait;

use crate::domain::{DatasetRecord, NewDataset};
use crate::error::Result;
use crate::names::VersionRef;

#[async_trait]
pub trait DatasetStore: Send + Sync + 'static {
    async fn insert_dataset(&self, new: NewDataset, actor: &str) -> Result<(DatasetRecord, bool)>;
    async fn resolve_dataset(&self, r: &VersionRef) -> Result<DatasetRecord>;
    /// Datasets ordered by (name, version) after the given key (exclusive).
    async fn list_datasets(
        &self,
        name: &str,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> Result<Vec<DatasetRecord>>;
}

/// Implements `DatasetStore` for `$store` (transactions on `$conn`).
macro_rules! impl_dataset_store {
    ($store:ty, $conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::DatasetStore for $store {
            async fn insert_dataset(
                &self,
                new: $crate::domain::NewDataset,
                actor: &str,
            ) -> $crate::error::Result<($crate::domain::DatasetRecord, bool)> {
                use $crate::store::rows::{i, to_json};
                let cols = $crate::store::rows::DATASET_COLUMNS;
                let mut tx = self.begin_write().await?;
                let same_sql = format!(
                    "SELECT {cols} FROM datasets WHERE name = $1 AND sha256 = $2 ORDER BY version LIMIT 1"
                );
                let same = sqlx::query_as::<_, $crate::store::rows::DatasetRow>(sqlx::AssertSqlSafe(same_sql))
                    .bind(&new.name)
                    .bind(&new.sha256)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = same {
                    tx.commit().await?;
                    return Ok((row.try_into()?, false));
                }
                let latest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM datasets WHERE name = $1")
                        .bind(&new.name)
                        .fetch_one(&mut *tx)
                        .await?;
                let next = latest.unwrap_or(0) + 1;
                sqlx::query(
                    "INSERT INTO datasets (name, version, uri, sha256, size_bytes, row_count, schema,
                        annotations, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&new.name)
                .bind(next)
                .bind(&new.uri)
                .bind(&new.sha256)
                .bind(i(new.size_bytes))
                .bind(i(new.rows))
                .bind(to_json(&new.schema)?)
                .bind(to_json(&new.annotations)?)
                .bind(chrono::Utc::now())
                .bind(actor)
                .execute(&mut *tx)
                .await?;
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    &new.name,
                    Some($crate::store::rows::u(next)),
                    $crate::domain::event_kind::DATASET_REGISTERED,
                    "",
                    "",
                    &format!("sha256 {}, {} rows", new.sha256, new.rows),
                )
                .await?;
                let sql = format!("SELECT {cols} FROM datasets WHERE name = $1 AND version = $2");
                let row = sqlx::query_as::<_, $crate::store::rows::DatasetRow>(sqlx::AssertSqlSafe(sql))
                    .bind(&new.name)
                    .bind(next)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok((row.try_into()?, true))
            }

            async fn resolve_dataset(
                &self,
                r: &$crate::names::VersionRef,
            ) -> $crate::error::Result<$crate::domain::DatasetRecord> {
                use $crate::names::Selector;
                let cols = $crate::store::rows::DATASET_COLUMNS;
                let name = &r.name;
                let (sql, version) = match &r.selector {
                    Selector::Version(n) => (
                        format!("SELECT {cols} FROM datasets WHERE name = $1 AND version = $2"),
                        Some($crate::store::rows::i(*n)),
                    ),
                    Selector::Default => (
                        format!("SELECT {cols} FROM datasets WHERE name = $1 ORDER BY version DESC LIMIT 1"),
                        None,
                    ),
                    Selector::Alias(a) if a == "latest" => (
                        format!("SELECT {cols} FROM datasets WHERE name = $1 ORDER BY version DESC LIMIT 1"),
                        None,
                    ),
                    Selector::Alias(a) => {
                        return Err($crate::error::RegistryError::InvalidArgument(format!(
                            "ref: datasets have only the alias `latest`, got {a:?}"
                        )));
                    }
                };
                let mut q = sqlx::query_as::<_, $crate::store::rows::DatasetRow>(sqlx::AssertSqlSafe(sql)).bind(name);
                if let Some(v) = version {
                    q = q.bind(v);
                }
                let row = q.fetch_optional(&self.pool).await?.ok_or_else(|| {
                    $crate::error::RegistryError::NotFound(match version {
                        Some(v) => format!("dataset {name:?} has no version {v}"),
                        None => format!("dataset {name:?} not found"),
                    })
                })?;
                row.try_into()
            }

            async fn list_datasets(
                &self,
                name: &str,
                after: Option<(String, u64)>,
                limit: u32,
            ) -> $crate::error::Result<Vec<$crate::domain::DatasetRecord>> {
                let cols = $crate::store::rows::DATASET_COLUMNS;
                let (after_name, after_version) = after.unwrap_or_default();
                let sql = format!(
                    "SELECT {cols} FROM datasets
                     WHERE ($1 = '' OR name = $1) AND (name > $2 OR (name = $2 AND version > $3))
                     ORDER BY name, version LIMIT $4"
                );
                let rows = sqlx::query_as::<_, $crate::store::rows::DatasetRow>(sqlx::AssertSqlSafe(sql))
                    .bind(name)
                    .bind(after_name)
                    .bind($crate::store::rows::i(after_version))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

        }
    };
}
