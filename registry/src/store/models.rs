//! The models aggregate: creating, reading and listing models.

use async_trait::async_trait;

use crate::domain::ModelRecord;
use crate::error::Result;

#[async_trait]
pub trait ModelStore: Send + Sync + 'static {
    async fn create_model(&self, name: &str, description: &str, actor: &str)
    -> Result<ModelRecord>;
    async fn get_model(&self, name: &str) -> Result<ModelRecord>;
    /// Models ordered by name, after `after` (exclusive).
    async fn list_models(&self, after: &str, limit: u32) -> Result<Vec<ModelRecord>>;
}

/// Implements `ModelStore` for `$store` (transactions on `$conn`).
macro_rules! impl_model_store {
    ($store:ty, $conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::ModelStore for $store {
            async fn create_model(
                &self,
                name: &str,
                description: &str,
                actor: &str,
            ) -> $crate::error::Result<$crate::domain::ModelRecord> {
                let mut tx = self.begin_write().await?;
                let res = sqlx::query(
                    "INSERT INTO models (name, description, created_at, created_by) VALUES ($1, $2, $3, $4)",
                )
                .bind(name)
                .bind(description)
                .bind(chrono::Utc::now())
                .bind(actor)
                .execute(&mut *tx)
                .await;
                match res {
                    Err(e) if $crate::error::is_unique_violation(&e) => {
                        return Err($crate::error::RegistryError::AlreadyExists(format!(
                            "model {name:?} already exists"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    name,
                    None,
                    $crate::domain::event_kind::MODEL_CREATED,
                    "",
                    "",
                    description,
                )
                .await?;
                let row = Self::model_row(&mut tx, name).await?;
                let rec = Self::model_record(&mut tx, row).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(rec)
            }

            async fn get_model(&self, name: &str) -> $crate::error::Result<$crate::domain::ModelRecord> {
                let mut conn = self.pool.acquire().await?;
                let row = Self::model_row(&mut conn, name).await?;
                Self::model_record(&mut conn, row).await
            }

            async fn list_models(
                &self,
                after: &str,
                limit: u32,
            ) -> $crate::error::Result<Vec<$crate::domain::ModelRecord>> {
                let mut conn = self.pool.acquire().await?;
                let sql = format!(
                    "SELECT {} FROM models m WHERE m.name > $1 ORDER BY m.name LIMIT $2",
                    $crate::store::rows::MODEL_COLUMNS
                );
                let rows = sqlx::query_as::<_, $crate::store::rows::ModelRow>(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *conn)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.push(Self::model_record(&mut conn, row).await?);
                }
                Ok(out)
            }

        }
    };
}
