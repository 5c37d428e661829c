//! The aliases aggregate: custom aliases (`champion`, `challenger` and
//! `latest` are computed, never stored).

use async_trait::async_trait;

use crate::domain::AliasRecord;
use crate::error::Result;

#[async_trait]
pub trait AliasStore: Send + Sync + 'static {
    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u64,
        actor: &str,
    ) -> Result<AliasRecord>;
    async fn delete_alias(&self, model: &str, alias: &str, actor: &str) -> Result<()>;
}

/// Implements `AliasStore` for `$store` (transactions on `$conn`).
macro_rules! impl_alias_store {
    ($store:ty, $conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AliasStore for $store {
            async fn set_alias(
                &self,
                model: &str,
                alias: &str,
                version: u64,
                actor: &str,
            ) -> $crate::error::Result<$crate::domain::AliasRecord> {
                let mut tx = self.begin_write().await?;
                let row = Self::one_version(&mut tx, model, version).await?;
                let previous = Self::alias_version(&mut tx, row.model_id, alias).await?;
                sqlx::query(
                    "INSERT INTO aliases (model_id, alias, version_id) VALUES ($1, $2, $3)
                     ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id",
                )
                .bind(row.model_id)
                .bind(alias)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some(version),
                    $crate::domain::event_kind::ALIAS_SET,
                    &previous.map(|p| p.to_string()).unwrap_or_default(),
                    &version.to_string(),
                    alias,
                )
                .await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok($crate::domain::AliasRecord {
                    model: model.to_owned(),
                    alias: alias.to_owned(),
                    version,
                })
            }

            async fn delete_alias(
                &self,
                model: &str,
                alias: &str,
                actor: &str,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                let m = Self::model_row(&mut tx, model).await?;
                let previous = Self::alias_version(&mut tx, m.id, alias).await?;
                let Some(previous) = previous else {
                    return Err($crate::error::RegistryError::NotFound(format!(
                        "model {model:?} has no alias {alias:?}"
                    )));
                };
                sqlx::query("DELETE FROM aliases WHERE model_id = $1 AND alias = $2")
                    .bind(m.id)
                    .bind(alias)
                    .execute(&mut *tx)
                    .await?;
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some($crate::store::rows::u(previous)),
                    $crate::domain::event_kind::ALIAS_DELETED,
                    &previous.to_string(),
                    "",
                    alias,
                )
                .await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(())
            }

        }
    };
}
