//! The one SQL implementation of `MetadataStore`, shared by PostgreSQL and
//! SQLite. The statements are portable (`$N` parameters, `RETURNING`,
//! partial unique indexes); what differs per backend is how a write
//! transaction starts (`begin_write`) and how commits are announced
//! (`notify_in_tx`), which each backend defines as inherent methods.

/// Implements `MetadataStore` for `$store`, whose transactions run on
/// `$conn` connections.
macro_rules! impl_sql_store {
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

            async fn alias_rows(
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
            async fn alias_version(
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

            async fn model_record(
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
                Ok($crate::domain::ModelRecord {
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

            async fn version_record(
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

            pub(crate) async fn set_status(
                conn: &mut $conn,
                id: i64,
                status: $crate::lifecycle::Status,
            ) -> $crate::error::Result<()> {
                sqlx::query("UPDATE versions SET status = $1, status_changed_at = $2 WHERE id = $3")
                    .bind(status.as_str())
                    .bind(chrono::Utc::now())
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        if $crate::error::is_unique_violation(&e) {
                            $crate::error::RegistryError::FailedPrecondition(format!(
                                "the model already has a {status}; a concurrent change won"
                            ))
                        } else {
                            e.into()
                        }
                    })?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::MetadataStore for $store {
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

            async fn transition(
                &self,
                model: &str,
                version: u64,
                to: $crate::lifecycle::Status,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<$crate::domain::VersionRecord> {
                use $crate::lifecycle::Status;
                let mut tx = self.begin_write().await?;
                let row = Self::one_version(&mut tx, model, version).await?;
                let from: Status = row
                    .status
                    .parse()
                    .map_err(|e| $crate::error::RegistryError::Corrupt(format!("{e}")))?;
                $crate::lifecycle::check_transition(from, to)?;
                if to == Status::Champion {
                    let old = Self::version_rows(&mut tx, "v.status = 'champion'", model, None).await?.pop();
                    if let Some(old) = old {
                        Self::set_status(&mut tx, old.id, Status::Retired).await?;
                        Self::insert_event(
                            &mut tx,
                            actor,
                            model,
                            Some($crate::store::rows::u(old.version)),
                            $crate::domain::event_kind::TRANSITION,
                            "champion",
                            "retired",
                            &format!("replaced by version {version}"),
                        )
                        .await?;
                    }
                }
                if to == Status::Challenger {
                    let other = Self::version_rows(&mut tx, "v.status = 'challenger'", model, None).await?.pop();
                    if let Some(other) = other {
                        return Err($crate::error::RegistryError::FailedPrecondition(format!(
                            "model {model:?} already has a challenger (version {}); at most one at a time",
                            other.version
                        )));
                    }
                }
                Self::set_status(&mut tx, row.id, to).await?;
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some(version),
                    $crate::domain::event_kind::TRANSITION,
                    from.as_str(),
                    to.as_str(),
                    reason,
                )
                .await?;
                let row = Self::one_version(&mut tx, model, version).await?;
                let rec = Self::version_record(&mut tx, row).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(rec)
            }

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

            async fn rollback(
                &self,
                model: &str,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<($crate::domain::VersionRecord, $crate::domain::VersionRecord)> {
                use $crate::error::RegistryError::FailedPrecondition;
                use $crate::lifecycle::Status;
                use $crate::store::rows::u;
                let mut tx = self.begin_write().await?;
                Self::model_row(&mut tx, model).await?;
                let current = Self::version_rows(&mut tx, "v.status = 'champion'", model, None)
                    .await?
                    .pop()
                    .ok_or_else(|| {
                        FailedPrecondition(format!("model {model:?} has no champion to roll back"))
                    })?;
                // The most recent champion replaced by a promotion (not by a
                // rollback) that is still retired: rollbacks walk back
                // through the promotion history.
                let previous: Option<i64> = sqlx::query_scalar(
                    "SELECT e.version FROM events e
                     JOIN models m ON m.name = e.model
                     JOIN versions v ON v.model_id = m.id AND v.version = e.version
                     WHERE e.model = $1 AND e.kind = 'transition' AND e.from_status = 'champion'
                       AND e.version <> $2 AND v.status = 'retired'
                     ORDER BY e.id DESC LIMIT 1",
                )
                .bind(model)
                .bind(current.version)
                .fetch_optional(&mut *tx)
                .await?;
                let previous = previous.ok_or_else(|| {
                    FailedPrecondition(format!(
                        "model {model:?} has no previous champion to roll back to (champion is version {})",
                        current.version
                    ))
                })?;
                let target = Self::one_version(&mut tx, model, u(previous)).await?;
                Self::set_status(&mut tx, current.id, Status::Retired).await?;
                Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some(u(current.version)),
                    $crate::domain::event_kind::ROLLBACK,
                    "champion",
                    "retired",
                    reason,
                )
                .await?;
                Self::set_status(&mut tx, target.id, Status::Champion).await?;
                let ev = Self::insert_event(
                    &mut tx,
                    actor,
                    model,
                    Some(u(target.version)),
                    $crate::domain::event_kind::ROLLBACK,
                    "retired",
                    "champion",
                    reason,
                )
                .await?;
                let retired = Self::one_version(&mut tx, model, u(current.version)).await?;
                let retired = Self::version_record(&mut tx, retired).await?;
                let champion = Self::one_version(&mut tx, model, u(target.version)).await?;
                let champion = Self::version_record(&mut tx, champion).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok((retired, champion))
            }

            async fn list_events(
                &self,
                filter: &$crate::domain::EventFilter,
            ) -> $crate::error::Result<Vec<$crate::domain::EventRecord>> {
                let mut conn = self.pool.acquire().await?;
                let limit = i64::from(filter.limit.max(1));
                let after = $crate::store::rows::i(filter.after_id);
                let cols = $crate::store::rows::EVENT_COLUMNS;
                let rows = if let [one] = filter.models.as_slice() {
                    let sql = format!("SELECT {cols} FROM events WHERE id > $1 AND model = $2 ORDER BY id LIMIT $3");
                    sqlx::query_as::<_, $crate::store::rows::EventRow>(sqlx::AssertSqlSafe(sql))
                        .bind(after)
                        .bind(one)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await?
                } else {
                    let sql = format!("SELECT {cols} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
                    let rows = sqlx::query_as::<_, $crate::store::rows::EventRow>(sqlx::AssertSqlSafe(sql))
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await?;
                    if filter.models.is_empty() {
                        rows
                    } else {
                        rows.into_iter().filter(|r| filter.models.contains(&r.model)).collect()
                    }
                };
                Ok(rows.into_iter().map(Into::into).collect())
            }

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

            fn hub(&self) -> &$crate::watch::EventHub {
                &self.hub
            }
        }
    };
}
