//! The lifecycle aggregate: every status change. A store here only loads
//! the model's [`ModelState`](crate::lifecycle::ModelState) inside the
//! write transaction, asks [`crate::lifecycle::plan`] what to change and
//! applies the changes in the same transaction; the rules live in the plan.
//! The trial store applies its plans (trial start and stop) through the
//! same `load_lifecycle` / `apply_plan`.

use async_trait::async_trait;

use crate::domain::VersionRecord;
use crate::error::Result;
use crate::lifecycle::Status;

#[async_trait]
pub trait LifecycleStore: Send + Sync + 'static {
    /// A planned transition (a promotion when `to` is `champion`);
    /// `force_evaluated` overrides a missing evaluation, audited.
    async fn transition(
        &self,
        model: &str,
        version: u64,
        to: Status,
        reason: &str,
        force_evaluated: bool,
        actor: &str,
    ) -> Result<VersionRecord>;
    /// Retires the champion and makes the champion it replaced (`to:
    /// None`) or the named former champion champion again. Returns
    /// (retired, champion).
    async fn rollback(
        &self,
        model: &str,
        to: Option<u64>,
        reason: &str,
        actor: &str,
    ) -> Result<(VersionRecord, VersionRecord)>;
}

/// What applying a plan produced.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Applied {
    /// Id of the last event written (announced after commit).
    pub last_event: i64,
    /// Id of the trial the plan opened.
    pub opened_trial: Option<i64>,
}

/// The columns the plan's state is read from (`$2` = the model's name).
pub(crate) const STATE_COLUMNS: &str = "v.version, v.status, v.previous_champion, v.annotations,
    EXISTS (SELECT 1 FROM events e WHERE e.model = $2 AND e.version = v.version
            AND e.to_status = 'champion') AS was_champion";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StateRow {
    pub version: i64,
    pub status: String,
    pub previous_champion: Option<i64>,
    pub annotations: String,
    pub was_champion: bool,
}

impl StateRow {
    pub(crate) fn into_state(self) -> Result<(u64, crate::lifecycle::VersionState)> {
        use crate::store::rows::{parse_map, u};
        let status: Status = self
            .status
            .parse()
            .map_err(|e| crate::error::RegistryError::Corrupt(format!("{e}")))?;
        let annotations = parse_map("annotations", &self.annotations)?;
        let evaluation_passed = annotations
            .get(crate::lifecycle::EVAL_PASSED_KEY)
            .is_some_and(|v| v == "true");
        Ok((
            u(self.version),
            crate::lifecycle::VersionState {
                status,
                previous_champion: self.previous_champion.map(u),
                was_champion: self.was_champion || status == Status::Champion,
                evaluation_passed,
            },
        ))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OpenTrialRow {
    pub id: i64,
    pub champion_version: i64,
    pub challenger_version: i64,
}

/// Implements `LifecycleStore` for `$store` (transactions on `$conn`);
/// `$lock` is appended to the statement that reads the model row in a
/// lifecycle transaction (`" FOR UPDATE"` on PostgreSQL, so concurrent
/// commands on one model serialise even without the store's write lock;
/// empty on SQLite, whose writers are serialised by `BEGIN IMMEDIATE`).
macro_rules! impl_lifecycle_store {
    ($store:ty, $conn:ty, $lock:expr) => {
        impl $store {
            /// Loads, inside the write transaction, the state `command` is
            /// planned from (see `lifecycle::ModelState`), locking the model
            /// row.
            pub(crate) async fn load_lifecycle(
                conn: &mut $conn,
                model: &str,
                command: &$crate::lifecycle::Command,
            ) -> $crate::error::Result<($crate::store::rows::ModelRow, $crate::lifecycle::ModelState)> {
                use $crate::store::lifecycle::{OpenTrialRow, STATE_COLUMNS, StateRow};
                use $crate::store::rows::{i, u};
                let row = Self::model_row(conn, model).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM models WHERE id = $1{}", $lock)))
                    .bind(row.id)
                    .execute(&mut *conn)
                    .await?;
                let mut state = $crate::lifecycle::ModelState {
                    model: model.to_owned(),
                    ..Default::default()
                };
                let current = sqlx::query_as::<_, StateRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {STATE_COLUMNS} FROM versions v
                     WHERE v.model_id = $1 AND v.status IN ('champion', 'challenger')"
                )))
                .bind(row.id)
                .bind(model)
                .fetch_all(&mut *conn)
                .await?;
                for r in current {
                    let (n, v) = r.into_state()?;
                    state.versions.insert(n, v);
                }
                let trial = sqlx::query_as::<_, OpenTrialRow>(
                    "SELECT id, champion_version, challenger_version FROM trials
                     WHERE model_id = $1 AND state = 'open'",
                )
                .bind(row.id)
                .fetch_optional(&mut *conn)
                .await?;
                state.trial = trial.map(|t| $crate::lifecycle::OpenTrial {
                    id: u(t.id),
                    champion: u(t.champion_version),
                    challenger: u(t.challenger_version),
                });
                let mut wanted = command.named_versions();
                wanted.extend(state.champion().and_then(|(_, c)| c.previous_champion));
                wanted.extend(state.trial.iter().flat_map(|t| [t.champion, t.challenger]));
                for n in wanted {
                    if state.versions.contains_key(&n) {
                        continue;
                    }
                    let found = sqlx::query_as::<_, StateRow>(sqlx::AssertSqlSafe(format!(
                        "SELECT {STATE_COLUMNS} FROM versions v WHERE v.model_id = $1 AND v.version = $3"
                    )))
                    .bind(row.id)
                    .bind(model)
                    .bind(i(n))
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(r) = found {
                        let (n, v) = r.into_state()?;
                        state.versions.insert(n, v);
                    }
                }
                Ok((row, state))
            }

            /// Applies a plan's changes, in order, on the open transaction.
            pub(crate) async fn apply_plan(
                conn: &mut $conn,
                model: &$crate::store::rows::ModelRow,
                changes: &[$crate::lifecycle::Change],
                actor: &str,
            ) -> $crate::error::Result<$crate::store::lifecycle::Applied> {
                use $crate::error::RegistryError::FailedPrecondition;
                use $crate::lifecycle::Change;
                use $crate::store::rows::i;
                let mut applied = $crate::store::lifecycle::Applied::default();
                for change in changes {
                    match change {
                        Change::Status { version, from, to } => {
                            let done = sqlx::query(
                                "UPDATE versions SET status = $1, status_changed_at = $2
                                 WHERE model_id = $3 AND version = $4 AND status = $5",
                            )
                            .bind(to.as_str())
                            .bind(chrono::Utc::now())
                            .bind(model.id)
                            .bind(i(*version))
                            .bind(from.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| {
                                if $crate::error::is_unique_violation(&e) {
                                    FailedPrecondition(format!(
                                        "model {:?} already has a {to}; a concurrent change won",
                                        model.name
                                    ))
                                } else {
                                    e.into()
                                }
                            })?;
                            if done.rows_affected() != 1 {
                                return Err(FailedPrecondition(format!(
                                    "version {version} of {:?} is no longer {from}; a concurrent change won",
                                    model.name
                                )));
                            }
                        }
                        Change::PreviousChampion { version, previous } => {
                            sqlx::query(
                                "UPDATE versions SET previous_champion = $1 WHERE model_id = $2 AND version = $3",
                            )
                            .bind(previous.map(i))
                            .bind(model.id)
                            .bind(i(*version))
                            .execute(&mut *conn)
                            .await?;
                        }
                        Change::Event(e) => {
                            applied.last_event = Self::insert_event(
                                conn, actor, &model.name, Some(e.version), e.kind, &e.from, &e.to, &e.reason,
                            )
                            .await?;
                        }
                        Change::OpenTrial { champion, trial, event } => {
                            let res = sqlx::query_scalar::<_, i64>(
                                "INSERT INTO trials (model_id, model, champion_version, challenger_version, mode,
                                    weight, sampling, sticky, gates, state, started_at, updated_at, started_by, reason)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $10, $11, $12) RETURNING id",
                            )
                            .bind(model.id)
                            .bind(&model.name)
                            .bind(i(*champion))
                            .bind(i(trial.challenger_version))
                            .bind(trial.mode.as_str())
                            .bind(trial.weight)
                            .bind(trial.sampling)
                            .bind(trial.sticky)
                            .bind($crate::store::rows::to_json(&trial.gates)?)
                            .bind(chrono::Utc::now())
                            .bind(actor)
                            .bind(&trial.reason)
                            .fetch_one(&mut *conn)
                            .await;
                            let id = match res {
                                Err(e) if $crate::error::is_unique_violation(&e) => {
                                    return Err(FailedPrecondition(format!(
                                        "model {:?} already has an open trial; a concurrent start won",
                                        model.name
                                    )));
                                }
                                r => r?,
                            };
                            applied.opened_trial = Some(id);
                            applied.last_event = Self::insert_event(
                                conn, actor, &model.name, Some(event.version), event.kind, &event.from,
                                &event.to, &format!("trial {id}: {}", event.reason),
                            )
                            .await?;
                        }
                        Change::CloseTrial { id, outcome } => {
                            let now = chrono::Utc::now();
                            sqlx::query(
                                "UPDATE trials SET state = 'stopped', outcome = $1, stopped_at = $2, updated_at = $2,
                                    stopped_by = $3 WHERE id = $4 AND state = 'open'",
                            )
                            .bind(outcome.as_str())
                            .bind(now)
                            .bind(actor)
                            .bind(i(*id))
                            .execute(&mut *conn)
                            .await?;
                        }
                    }
                }
                Ok(applied)
            }

            /// Loads, plans and applies `command` on the open transaction.
            pub(crate) async fn run_command(
                conn: &mut $conn,
                model: &str,
                command: &$crate::lifecycle::Command,
                actor: &str,
            ) -> $crate::error::Result<$crate::store::lifecycle::Applied> {
                let (row, state) = Self::load_lifecycle(conn, model, command).await?;
                let changes = $crate::lifecycle::plan(&state, command)?;
                Self::apply_plan(conn, &row, &changes, actor).await
            }

            async fn record_of(
                conn: &mut $conn,
                model: &str,
                version: u64,
            ) -> $crate::error::Result<$crate::domain::VersionRecord> {
                let row = Self::one_version(conn, model, version).await?;
                Self::version_record(conn, row).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::LifecycleStore for $store {
            async fn transition(
                &self,
                model: &str,
                version: u64,
                to: $crate::lifecycle::Status,
                reason: &str,
                force_evaluated: bool,
                actor: &str,
            ) -> $crate::error::Result<$crate::domain::VersionRecord> {
                let command = $crate::lifecycle::Command::Transition {
                    version,
                    to,
                    reason: reason.to_owned(),
                    force_evaluated,
                };
                let mut tx = self.begin_write().await?;
                let applied = Self::run_command(&mut tx, model, &command, actor).await?;
                let rec = Self::record_of(&mut tx, model, version).await?;
                tx.commit().await?;
                self.hub.publish(applied.last_event);
                Ok(rec)
            }

            async fn rollback(
                &self,
                model: &str,
                to: Option<u64>,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<($crate::domain::VersionRecord, $crate::domain::VersionRecord)> {
                use $crate::lifecycle::Status;
                let mut tx = self.begin_write().await?;
                let command = $crate::lifecycle::Command::Rollback { to, reason: reason.to_owned() };
                let (row, state) = Self::load_lifecycle(&mut tx, model, &command).await?;
                let changes = $crate::lifecycle::plan(&state, &command)?;
                let applied = Self::apply_plan(&mut tx, &row, &changes, actor).await?;
                let moved = |target: Status| {
                    changes.iter().find_map(|c| match c {
                        $crate::lifecycle::Change::Status { version, to, .. } if *to == target => Some(*version),
                        _ => None,
                    })
                };
                let (Some(retired), Some(champion)) = (moved(Status::Retired), moved(Status::Champion)) else {
                    return Err($crate::error::RegistryError::Corrupt(format!(
                        "rollback of {model:?} planned without a retired and a new champion"
                    )));
                };
                let retired = Self::record_of(&mut tx, model, retired).await?;
                let champion = Self::record_of(&mut tx, model, champion).await?;
                tx.commit().await?;
                self.hub.publish(applied.last_event);
                Ok((retired, champion))
            }
        }
    };
}
