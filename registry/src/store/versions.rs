//! The versions aggregate: registering, resolving, listing and annotating
//! versions (status changes are the `lifecycle` aggregate's).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::domain::{Metrics, NewVersion, VersionRecord};
use crate::error::Result;
use crate::lifecycle::Status;
use crate::names::VersionRef;

#[async_trait]
pub trait VersionStore: Send + Sync + 'static {
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
    async fn annotate(
        &self,
        model: &str,
        version: u64,
        annotations: BTreeMap<String, String>,
        metrics: Metrics,
        actor: &str,
    ) -> Result<VersionRecord>;
}

/// Implements `VersionStore` for `$store` (transactions on `$conn`).
macro_rules! impl_version_store {
    ($store:ty, $conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::VersionStore for $store {
            async fn insert_version(
                &self,
                new: $crate::domain::NewVersion,
                actor: &str,
            ) -> $crate::error::Result<($crate::domain::VersionRecord, bool)> {
                use $crate::store::rows::{i, to_json};
                let mut tx = self.begin_write().await?;
                let model = Self::model_row(&mut tx, &new.model).await?;
                let same: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM versions WHERE model_id = $1 AND sha256 = $2 AND kind = $3
                     ORDER BY version LIMIT 1",
                )
                .bind(model.id)
                .bind(&new.sha256)
                .bind(&new.kind)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(v) = same {
                    let row = Self::one_version(&mut tx, &new.model, $crate::store::rows::u(v)).await?;
                    let rec = Self::version_record(&mut tx, row).await?;
                    tx.commit().await?;
                    return Ok((rec, false));
                }
                let next = model.latest_version + 1;
                let now = chrono::Utc::now();
                sqlx::query(
                    "INSERT INTO versions (model_id, version, kind, artifact_uri, sha256, size_bytes, status,
                        created_at, created_by, annotations, metrics, status_changed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'candidate', $7, $8, $9, $10, $7)",
                )
                .bind(model.id)
                .bind(next)
                .bind(&new.kind)
                .bind(&new.artifact_uri)
                .bind(&new.sha256)
                .bind(i(new.size_bytes))
                .bind(now)
                .bind(actor)
                .bind(to_json(&new.annotations)?)
                .bind(to_json(&new.metrics)?)
                .execute(&mut *tx)
                .await?;
                let version = $crate::store::rows::u(next);
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    &new.model,
                    Some(version),
                    $crate::domain::event_kind::VERSION_REGISTERED,
                    "",
                    "candidate",
                    &format!("sha256 {}", new.sha256),
                )
                .await?;
                let row = Self::one_version(&mut tx, &new.model, version).await?;
                let rec = Self::version_record(&mut tx, row).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok((rec, true))
            }

            async fn resolve_version(
                &self,
                r: &$crate::names::VersionRef,
            ) -> $crate::error::Result<$crate::domain::VersionRecord> {
                use $crate::names::Selector;
                use $crate::error::RegistryError::NotFound;
                let mut conn = self.pool.acquire().await?;
                let model = Self::model_row(&mut conn, &r.name).await?;
                let name = &r.name;
                let latest = "v.version = (SELECT MAX(v3.version) FROM versions v3 WHERE v3.model_id = v.model_id)";
                let row = match &r.selector {
                    Selector::Version(n) => Some(Self::one_version(&mut conn, name, *n).await?),
                    Selector::Alias(a) if a == "champion" => {
                        Self::version_rows(&mut conn, "v.status = 'champion'", name, None).await?.pop()
                    }
                    Selector::Alias(a) if a == "challenger" => {
                        Self::version_rows(&mut conn, "v.status = 'challenger'", name, None).await?.pop()
                    }
                    Selector::Alias(a) if a == "latest" => {
                        Self::version_rows(&mut conn, latest, name, None).await?.pop()
                    }
                    Selector::Alias(a) => {
                        let target: Option<i64> = sqlx::query_scalar(
                            "SELECT version_id FROM aliases WHERE model_id = $1 AND alias = $2",
                        )
                        .bind(model.id)
                        .bind(a)
                        .fetch_optional(&mut *conn)
                        .await?;
                        match target {
                            Some(id) => Self::version_rows(&mut conn, "v.id = $2", name, Some(id)).await?.pop(),
                            None => {
                                return Err(NotFound(format!("model {name:?} has no alias {a:?}")));
                            }
                        }
                    }
                    Selector::Default => {
                        let champion =
                            Self::version_rows(&mut conn, "v.status = 'champion'", name, None).await?.pop();
                        match champion {
                            Some(c) => Some(c),
                            None => Self::version_rows(&mut conn, latest, name, None).await?.pop(),
                        }
                    }
                };
                let row = row.ok_or_else(|| match &r.selector {
                    Selector::Alias(a) => NotFound(format!("model {name:?} has no {a}")),
                    _ => NotFound(format!("model {name:?} has no versions")),
                })?;
                Self::version_record(&mut conn, row).await
            }

            async fn list_versions(
                &self,
                model: &str,
                status: Option<$crate::lifecycle::Status>,
                after_version: u64,
                limit: u32,
            ) -> $crate::error::Result<Vec<$crate::domain::VersionRecord>> {
                let mut conn = self.pool.acquire().await?;
                let m = Self::model_row(&mut conn, model).await?;
                let sql = format!(
                    "SELECT {} FROM versions v JOIN models m ON m.id = v.model_id
                     WHERE v.model_id = $1 AND v.version > $2 AND ($3 = '' OR v.status = $3)
                     ORDER BY v.version LIMIT $4",
                    $crate::store::rows::VERSION_COLUMNS
                );
                let rows = sqlx::query_as::<_, $crate::store::rows::VersionRow>(sqlx::AssertSqlSafe(sql))
                    .bind(m.id)
                    .bind($crate::store::rows::i(after_version))
                    .bind(status.map(|s| s.as_str()).unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *conn)
                    .await?;
                let aliases = Self::alias_rows(&mut conn, m.id).await?;
                rows.into_iter().map(|r| r.into_record(&aliases)).collect()
            }

            async fn annotate(
                &self,
                model: &str,
                version: u64,
                annotations: std::collections::BTreeMap<String, String>,
                metrics: $crate::domain::Metrics,
                actor: &str,
            ) -> $crate::error::Result<$crate::domain::VersionRecord> {
                use $crate::store::rows::{parse_map, parse_metrics, to_json};
                let mut tx = self.begin_write().await?;
                let row = Self::one_version(&mut tx, model, version).await?;
                let mut merged = parse_map("annotations", &row.annotations)?;
                let mut keys: Vec<String> = annotations.keys().cloned().collect();
                merged.extend(annotations);
                let mut merged_metrics = parse_metrics(&row.metrics)?;
                keys.extend(metrics.keys().map(|k| format!("metrics.{k}")));
                merged_metrics.extend(metrics);
                sqlx::query("UPDATE versions SET annotations = $1, metrics = $2 WHERE id = $3")
                    .bind(to_json(&merged)?)
                    .bind(to_json(&merged_metrics)?)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some(version),
                    $crate::domain::event_kind::ANNOTATED,
                    "",
                    "",
                    &keys.join(","),
                )
                .await?;
                let row = Self::one_version(&mut tx, model, version).await?;
                let rec = Self::version_record(&mut tx, row).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(rec)
            }

        }
    };
}
