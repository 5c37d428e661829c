//! The SQL shared by every aggregate of the metadata store, for PostgreSQL
//! and SQLite alike: reading models, versions and aliases into records and
//! appending audit events. The statements are portable (`$N` parameters,
//! `RETURNING`, partial unique indexes); what differs per backend is how a
//! write transaction starts (`begin_write`) and how commits are announced
//! (`notify_in_tx`), which each backend defines as inherent methods. The
//! aggregates (`models`, `versions`, `lifecycle`, `aliases`, `events`,
//! `datasets`) each implement their part of `MetadataStore` on top.

/// Shared row helpers for `$store`, whose transactions run on `$conn`.
macro_rules! impl_sql_helpers {
    ($store:ty, $conn:ty) => {
        impl $store {
            // One argument per column of the audit row, named at each call.
            #[allow(clippy::too_many_arguments)]
            pub(crate) async fn insert_event(
                conn: &mut $conn,
                actor: &str,
                model: &str,
                version: Option<u64>,
                kind: &str,
                from: &str,
                to: &str,
                reason: &str,
            ) -> $crate::error::Result<i64> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO events (at, actor, model, version, kind, from_status, to_status, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(chrono::Utc::now())
                .bind(actor)
                .bind(model)
                .bind(version.map($crate::store::rows::i))
                .bind(kind)
                .bind(from)
                .bind(to)
                .bind(reason)
                .fetch_one(&mut *conn)
                .await?;
                Self::notify_in_tx(conn, id).await?;
                Ok(id)
            }

            pub(crate) async fn model_row(
                conn: &mut $conn,
                name: &str,
            ) -> $crate::error::Result<$crate::store::rows::ModelRow> {
                let sql = format!(
                    "SELECT {} FROM models m WHERE m.name = $1",
                    $crate::store::rows::MODEL_COLUMNS
                );
                sqlx::query_as::<_, $crate::store::rows::ModelRow>(sqlx::AssertSqlSafe(sql))
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| {
                        $crate::error::RegistryError::NotFound(format!("model {name:?} not found"))
                    })
            }

            pub(crate) async fn alias_rows(
                conn: &mut $conn,
                model_id: i64,
            ) -> $crate::error::Result<Vec<$crate::store::rows::AliasRow>> {
                Ok(sqlx::query_as::<_, $crate::store::rows::AliasRow>(
                    "SELECT a.alias, v.version FROM aliases a JOIN versions v ON v.id = a.version_id
                     WHERE a.model_id = $1 ORDER BY a.alias",
                )
                .bind(model_id)
                .fetch_all(&mut *conn)
                .await?)
            }

            /// The version a custom alias points at, if it exists.
            pub(crate) async fn alias_version(
                conn: &mut $conn,
                model_id: i64,
                alias: &str,
            ) -> $crate::error::Result<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "SELECT v.version FROM aliases a JOIN versions v ON v.id = a.version_id
                     WHERE a.model_id = $1 AND a.alias = $2",
                )
                .bind(model_id)
                .bind(alias)
                .fetch_optional(&mut *conn)
                .await?)
            }

            pub(crate) async fn model_record(
                conn: &mut $conn,
                row: $crate::store::rows::ModelRow,
            ) -> $crate::error::Result<$crate::domain::ModelRecord> {
                use $crate::store::rows::{nonzero, u};
                let aliases = Self::alias_rows(conn, row.id)
                    .await?
                    .into_iter()
                    .map(|a| $crate::domain::AliasRecord {
                        model: row.name.clone(),
                        alias: a.alias,
                        version: u(a.version),
                    })
                    .collect();
                let rollout_blocked = match nonzero(row.champion_version) {
                    Some(champion) => sqlx::query_scalar::<_, String>(
                        "SELECT reason FROM events
                         WHERE model = $1 AND kind = 'rollout_blocked' AND version = $2
                         ORDER BY id DESC LIMIT 1",
                    )
                    .bind(&row.name)
                    .bind($crate::store::rows::i(champion))
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|reason| (champion, reason)),
                    None => None,
                };
                Ok($crate::domain::ModelRecord {
                    rollout_blocked,
                    name: row.name,
                    description: row.description,
                    created_at: row.created_at,
                    created_by: row.created_by,
                    latest_version: u(row.latest_version),
                    champion_version: nonzero(row.champion_version),
                    challenger_version: nonzero(row.challenger_version),
                    aliases,
                })
            }

            /// Fetches the version rows matching `cond` (a WHERE clause on
            /// `v`/`m` using `$1` = model name and optionally `$2`).
            pub(crate) async fn version_rows(
                conn: &mut $conn,
                cond: &str,
                model: &str,
                arg: Option<i64>,
            ) -> $crate::error::Result<Vec<$crate::store::rows::VersionRow>> {
                let sql = format!(
                    "SELECT {} FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1 AND {cond}",
                    $crate::store::rows::VERSION_COLUMNS
                );
                let mut q = sqlx::query_as::<_, $crate::store::rows::VersionRow>(sqlx::AssertSqlSafe(sql)).bind(model);
                if let Some(a) = arg {
                    q = q.bind(a);
                }
                Ok(q.fetch_all(&mut *conn).await?)
            }

            pub(crate) async fn version_record(
                conn: &mut $conn,
                row: $crate::store::rows::VersionRow,
            ) -> $crate::error::Result<$crate::domain::VersionRecord> {
                let aliases = Self::alias_rows(conn, row.model_id).await?;
                row.into_record(&aliases)
            }

            pub(crate) async fn one_version(
                conn: &mut $conn,
                model: &str,
                version: u64,
            ) -> $crate::error::Result<$crate::store::rows::VersionRow> {
                Self::model_row(conn, model).await?;
                Self::version_rows(conn, "v.version = $2", model, Some($crate::store::rows::i(version)))
                    .await?
                    .pop()
                    .ok_or_else(|| {
                        $crate::error::RegistryError::NotFound(format!(
                            "model {model:?} has no version {version}"
                        ))
                    })
            }

        }
    };
}
