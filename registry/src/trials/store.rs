//! Persisting trials and comparison records: the `TrialStore` trait and its
//! one SQL implementation for both backends (`impl_trial_store!`, the same
//! pattern as `store::sql`). Starting and stopping a trial are lifecycle
//! commands: planned by `crate::lifecycle::plan` and applied through the
//! lifecycle store, under the registry's write lock and in one transaction
//! with the version transitions they imply; record ingest does not take the lock and uses
//! `INSERT … SELECT * FROM UNNEST(arrays)` (PostgreSQL) or multi-row
//! `INSERT … VALUES` (SQLite), `ON CONFLICT DO NOTHING`.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::store::{MetadataStore, PgStore, SqliteStore};

use crate::trials::domain::{ComparisonRecord, NewTrial, Outcome, Period, Trial, TrialUpdate};
use crate::trials::ingest::{Loss, Losses};
use crate::trials::report::ReportBuilder;
use crate::trials::timeseries::TimeSeriesBuilder;

/// Records per multi-row INSERT (16 parameters each; within both
/// PostgreSQL's 65,535 and SQLite's 32,766 parameter limits).
pub const INSERT_CHUNK: usize = 1000;

/// Event kinds written for trials (in the registry's `events` table).
pub use joust_proto::wire::event_kind;

/// Everything persisted about trials. Validation of values (ranges,
/// formats) is the domain API's job; the store enforces the rules that
/// need the database (statuses, one open trial per model).
#[async_trait]
pub trait TrialStore: crate::trials::rollout_store::RolloutStore + Send + Sync + 'static {
    /// Starts a trial: the challenger version must be `evaluated` and
    /// becomes `challenger`; the model must have a champion and no open
    /// trial.
    async fn start_trial(&self, new: NewTrial, actor: &str) -> Result<Trial>;
    /// Changes the model's open trial.
    async fn update_trial(&self, model: &str, update: TrialUpdate, actor: &str) -> Result<Trial>;
    /// Stops the model's open trial with `outcome`, moving the versions.
    async fn stop_trial(
        &self,
        model: &str,
        outcome: Outcome,
        reason: &str,
        actor: &str,
    ) -> Result<Trial>;
    async fn get_trial(&self, id: u64) -> Result<Trial>;
    /// The model's open trial, else its most recent one.
    async fn current_trial(&self, model: &str) -> Result<Trial>;
    /// Trials ordered by id after `after_id`, optionally of one model
    /// and/or open only.
    async fn list_trials(
        &self,
        model: Option<&str>,
        open_only: bool,
        after_id: u64,
        limit: u32,
    ) -> Result<Vec<Trial>>;
    /// Which of `ids` are trials.
    async fn known_trials(&self, ids: &[u64]) -> Result<BTreeSet<u64>>;
    /// Stores records, ignoring those whose record id is already stored,
    /// and adds `losses` to the trials' lost-record counts, in one
    /// transaction (all or nothing). The trials must exist. Returns how
    /// many records were new.
    async fn insert_records(&self, records: &[ComparisonRecord], losses: &[Loss]) -> Result<u64>;
    /// A trial's lost-record counts, sorted by arm, kind and reason.
    async fn record_losses(&self, trial_id: u64) -> Result<Losses>;
    /// A trial's periods, oldest first (at least period 0).
    async fn trial_periods(&self, trial_id: u64) -> Result<Vec<Period>>;
    /// Feeds a trial's rollups to `builder` (see
    /// [`crate::trials::rollup`]); `false`, feeding nothing, when the trial
    /// started before rollups existed (its report reads raw records).
    async fn scan_rollups(&self, trial_id: u64, builder: &mut ReportBuilder) -> Result<bool>;
    /// Merges minute rollups before minute `before` (Unix time / 60) into
    /// each trial period's compacted totals; returns how many minute rows
    /// were merged.
    async fn compact_rollups(&self, before: i64) -> Result<u64>;
    /// Rebuilds the rollups of one stopped trial that started before
    /// rollups existed from its raw records; the trial and how many
    /// records, or `None` when no trial is due.
    async fn backfill_rollups(&self) -> Result<Option<(u64, u64)>>;
    /// Feeds a trial's minute rollups, oldest first, to `builder` (whose
    /// buckets are whole minutes); `false`, feeding nothing, when the
    /// trial started before rollups existed.
    async fn scan_rollups_bucketed(
        &self,
        trial_id: u64,
        builder: &mut crate::trials::timeseries::TimeSeriesBuilder,
    ) -> Result<bool>;
    /// Deletes up to `batch` raw records older than `before` of the trials
    /// reported from rollups; returns how many.
    async fn delete_records_before(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        batch: u32,
    ) -> Result<u64>;
    /// Creates the missing day partitions of raw records from yesterday to
    /// `partitions::AHEAD_DAYS` after `now` (PostgreSQL; SQLite has none);
    /// returns how many were created.
    async fn ensure_record_partitions(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u32>;
    /// Drops the day partitions of raw records that end by `before` and
    /// hold no record of a trial reported from raw records (PostgreSQL);
    /// returns their names.
    async fn drop_record_partitions_before(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>>;
    /// Feeds every stored record of a trial to `builder`.
    async fn scan_records(&self, trial_id: u64, builder: &mut ReportBuilder) -> Result<()>;
    /// Feeds every stored record of a trial to `builder` with its time
    /// bucket (seconds since the Unix epoch divided by the builder's bucket
    /// width, rounded down; computed by the database), in ascending bucket
    /// order.
    async fn scan_records_bucketed(
        &self,
        trial_id: u64,
        builder: &mut TimeSeriesBuilder,
    ) -> Result<()>;
}

/// Opens the store named by a database URL once and returns it as both
/// the metadata store and the trial store (one pool).
pub async fn open(url: &str) -> Result<(Arc<dyn MetadataStore>, Arc<dyn TrialStore>)> {
    match joust_storage::open(url).await? {
        joust_storage::Database::Postgres(pool) => {
            let s = Arc::new(PgStore::with_pool(pool).await?);
            Ok((s.clone(), s))
        }
        joust_storage::Database::Sqlite(pool) => {
            let s = Arc::new(SqliteStore::with_pool(pool).await?);
            Ok((s.clone(), s))
        }
    }
}

impl PgStore {
    /// Record ingest runs outside the registry's write lock.
    pub(crate) async fn begin_records(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        // Cancel-safe, without the write lock (joust_storage::sql).
        Ok(joust_storage::sql::begin_write_postgres(&self.pool, None).await?)
    }

    /// One chunk as 16 column arrays: `INSERT … SELECT * FROM UNNEST(…)`.
    /// One statement text whatever the chunk size (prepared once per
    /// connection) and 16 binds instead of 16 per record; measured in
    /// BENCHMARKS.md (W10).
    async fn insert_chunk(
        conn: &mut sqlx::PgConnection,
        chunk: &[ComparisonRecord],
    ) -> Result<Vec<String>> {
        use crate::store::rows::i;
        use crate::trials::rows::{ArmColumns, RECORD_COLUMNS, arm_columns, hash_to_db};
        #[derive(Default)]
        struct Arms {
            version: Vec<Option<i64>>,
            scores: Vec<Option<String>>,
            labels: Vec<Option<String>>,
            latency: Vec<Option<i64>>,
            status: Vec<Option<i32>>,
        }
        impl Arms {
            fn push(&mut self, c: ArmColumns) {
                self.version.push(c.0);
                self.scores.push(c.1);
                self.labels.push(c.2);
                self.latency.push(c.3);
                self.status.push(c.4);
            }
        }
        let n = chunk.len();
        let mut record_id = Vec::with_capacity(n);
        let mut trial_id = Vec::with_capacity(n);
        let mut request_id = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        let mut hash = Vec::with_capacity(n);
        let mut served = Vec::with_capacity(n);
        let (mut a, mut b) = (Arms::default(), Arms::default());
        for r in chunk {
            record_id.push(r.record_id.as_str());
            trial_id.push(i(r.trial_id));
            request_id.push(r.request_id.as_str());
            at.push(r.time);
            hash.push(hash_to_db(r.routing_key_hash));
            served.push(r.served.as_str());
            a.push(arm_columns(r.champion.as_ref())?);
            b.push(arm_columns(r.challenger.as_ref())?);
        }
        let sql = format!(
            "INSERT INTO trial_records ({RECORD_COLUMNS}, day)
             SELECT u.*, (u.at AT TIME ZONE 'UTC')::date FROM UNNEST(
               $1::text[], $2::int8[], $3::text[], $4::timestamptz[], $5::int8[], $6::text[],
               $7::int8[], $8::text[], $9::text[], $10::int8[], $11::int4[],
               $12::int8[], $13::text[], $14::text[], $15::int8[], $16::int4[])
               AS u({RECORD_COLUMNS})
             ON CONFLICT (record_id, day) DO NOTHING RETURNING record_id"
        );
        let done = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(record_id)
            .bind(trial_id)
            .bind(request_id)
            .bind(at)
            .bind(hash)
            .bind(served)
            .bind(a.version)
            .bind(a.scores)
            .bind(a.labels)
            .bind(a.latency)
            .bind(a.status)
            .bind(b.version)
            .bind(b.scores)
            .bind(b.labels)
            .bind(b.latency)
            .bind(b.status)
            .fetch_all(conn)
            .await?;
        Ok(done)
    }
}

impl SqliteStore {
    /// SQLite has one writer: take the lock at once (no upgrade deadlock).
    pub(crate) async fn begin_records(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_write().await
    }

    /// One chunk as a multi-row `INSERT … VALUES`.
    async fn insert_chunk(
        conn: &mut sqlx::SqliteConnection,
        chunk: &[ComparisonRecord],
    ) -> Result<Vec<String>> {
        use crate::trials::rows::{RECORD_COLUMNS, arm_columns, hash_to_db};
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            rows.push((
                r,
                arm_columns(r.champion.as_ref())?,
                arm_columns(r.challenger.as_ref())?,
            ));
        }
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "INSERT INTO trial_records ({RECORD_COLUMNS}) "
        ));
        qb.push_values(rows, |mut b, (r, a, c)| {
            b.push_bind(r.record_id.clone())
                .push_bind(crate::store::rows::i(r.trial_id))
                .push_bind(r.request_id.clone())
                .push_bind(r.time)
                .push_bind(hash_to_db(r.routing_key_hash))
                .push_bind(r.served.as_str())
                .push_bind(a.0)
                .push_bind(a.1)
                .push_bind(a.2)
                .push_bind(a.3)
                .push_bind(a.4)
                .push_bind(c.0)
                .push_bind(c.1)
                .push_bind(c.2)
                .push_bind(c.3)
                .push_bind(c.4);
        });
        qb.push(" ON CONFLICT (record_id) DO NOTHING RETURNING record_id");
        Ok(qb.build_query_scalar().fetch_all(conn).await?)
    }
}

/// The bucket of a record's `at` for bucket width `$2`, floor division of
/// its Unix time (PostgreSQL).
const PG_BUCKET: &str = "CAST(floor(extract(epoch FROM at) / $2) AS BIGINT)";
/// The same for SQLite, which stores `at` as RFC 3339 text: integer Unix
/// seconds, floored towards −∞ for times before 1970 too.
const SQLITE_BUCKET: &str = "(CAST(strftime('%s', at) AS INTEGER)
    - ((CAST(strftime('%s', at) AS INTEGER) % $2) + $2) % $2) / $2";

macro_rules! impl_trial_store {
    ($store:ty, $conn:ty, $db:ty, $bucket:expr) => {
        impl $store {
            async fn trial_rows(
                conn: &mut $conn,
                cond: &str,
                arg: i64,
            ) -> $crate::error::Result<Vec<$crate::trials::domain::Trial>> {
                let sql = format!(
                    "SELECT {} FROM trials WHERE {cond} ORDER BY id",
                    $crate::trials::rows::TRIAL_COLUMNS
                );
                let rows = sqlx::query_as::<_, $crate::trials::rows::TrialRow>(sqlx::AssertSqlSafe(sql))
                    .bind(arg)
                    .fetch_all(&mut *conn)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            pub(crate) async fn open_trial(
                conn: &mut $conn,
                model: &str,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let m = Self::model_row(conn, model).await?;
                Self::trial_rows(conn, "model_id = $1 AND state = 'open'", m.id)
                    .await?
                    .pop()
                    .ok_or_else(|| {
                        $crate::error::RegistryError::FailedPrecondition(format!(
                            "model {model:?} has no open trial"
                        ))
                    })
            }

            async fn one_trial(
                conn: &mut $conn,
                id: i64,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                Self::trial_rows(conn, "id = $1", id).await?.pop().ok_or_else(|| {
                    $crate::error::RegistryError::NotFound(format!("trial {id} not found"))
                })
            }

            /// Changes the model's open trial inside `conn`'s transaction;
            /// the trial and the audit event's id.
            pub(crate) async fn update_in(
                conn: &mut $conn,
                model: &str,
                update: $crate::trials::domain::TrialUpdate,
                actor: &str,
            ) -> $crate::error::Result<($crate::trials::domain::Trial, i64)> {
                let old = Self::open_trial(&mut *conn, model).await?;
                let mode = update.mode.unwrap_or(old.mode);
                let weight = update.weight.unwrap_or(old.weight);
                let sampling = update.sampling.unwrap_or(old.sampling);
                let gates = update.gates.clone().unwrap_or_else(|| old.gates.clone());
                let mut changes = Vec::new();
                if mode != old.mode {
                    changes.push(format!("mode {} → {mode}", old.mode));
                }
                if weight != old.weight {
                    changes.push(format!("weight {} → {weight}", old.weight));
                }
                if sampling != old.sampling {
                    changes.push(format!("sampling {} → {sampling}", old.sampling));
                }
                let new_period = !changes.is_empty();
                if gates != old.gates {
                    changes.push("gates".to_owned());
                }
                let now = chrono::Utc::now();
                if new_period {
                    sqlx::query(
                        "INSERT INTO trial_periods (trial_id, period, started_at, mode, weight, sampling)
                         SELECT $1, COALESCE(MAX(period), -1) + 1, $2, $3, $4, $5
                         FROM trial_periods WHERE trial_id = $1",
                    )
                    .bind($crate::store::rows::i(old.id))
                    .bind(now)
                    .bind(mode.as_str())
                    .bind(weight)
                    .bind(sampling)
                    .execute(&mut *conn)
                    .await?;
                }
                sqlx::query(
                    "UPDATE trials SET mode = $1, weight = $2, sampling = $3, gates = $4, updated_at = $5
                     WHERE id = $6",
                )
                .bind(mode.as_str())
                .bind(weight)
                .bind(sampling)
                .bind($crate::store::rows::to_json(&gates)?)
                .bind(now)
                .bind($crate::store::rows::i(old.id))
                .execute(&mut *conn)
                .await?;
                let ev = Self::insert_event(
                    &mut *conn, actor, model, Some(old.challenger_version),
                    $crate::trials::store::event_kind::TRIAL_UPDATED, old.mode.as_str(), mode.as_str(),
                    &format!("trial {}: {}; {}", old.id, changes.join(", "), update.reason),
                ).await?;
                let trial = Self::one_trial(&mut *conn, $crate::store::rows::i(old.id)).await?;
                Ok((trial, ev))
            }

            /// Stops the model's open trial inside `conn`'s transaction; the
            /// trial and the last audit event's id.
            pub(crate) async fn stop_in(
                conn: &mut $conn,
                model: &str,
                outcome: $crate::trials::domain::Outcome,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<($crate::trials::domain::Trial, i64)> {
                let command = $crate::lifecycle::Command::StopTrial {
                    outcome,
                    reason: reason.to_owned(),
                };
                let (row, state) = Self::load_lifecycle(&mut *conn, model, &command).await?;
                let id = state.trial.map(|t| t.id);
                let changes = $crate::lifecycle::plan(&state, &command)?;
                let applied = Self::apply_plan(&mut *conn, &row, &changes, actor).await?;
                let id = id.ok_or_else(|| {
                    $crate::error::RegistryError::Corrupt(format!("trial stop of {model:?} planned without a trial"))
                })?;
                let trial = Self::one_trial(&mut *conn, $crate::store::rows::i(id)).await?;
                Ok((trial, applied.last_event))
            }
        }

        #[async_trait::async_trait]
        impl $crate::trials::store::TrialStore for $store {
            async fn start_trial(
                &self,
                new: $crate::trials::domain::NewTrial,
                actor: &str,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let model = new.model.clone();
                let plan = new.plan.clone();
                let mut tx = self.begin_write().await?;
                let command = $crate::lifecycle::Command::StartTrial(new);
                let applied = Self::run_command(&mut tx, &model, &command, actor).await?;
                let id = applied.opened_trial.ok_or_else(|| {
                    $crate::error::RegistryError::Corrupt(format!(
                        "trial start of {model:?} planned without opening a trial"
                    ))
                })?;
                // Period 0: the trial's settings from its start.
                sqlx::query(
                    "INSERT INTO trial_periods (trial_id, period, started_at, mode, weight, sampling)
                     SELECT id, 0, started_at, mode, weight, sampling FROM trials WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let trial = Self::one_trial(&mut tx, id).await?;
                if let Some(plan) = &plan {
                    Self::insert_plan(&mut tx, id, plan, trial.started_at).await?;
                }
                tx.commit().await?;
                self.hub.publish(applied.last_event);
                Ok(trial)
            }

            async fn update_trial(
                &self,
                model: &str,
                update: $crate::trials::domain::TrialUpdate,
                actor: &str,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let mut tx = self.begin_write().await?;
                let (trial, ev) = Self::update_in(&mut tx, model, update, actor).await?;
                // A manual change pauses the trial's plan.
                Self::pause_plan(&mut tx, trial.id).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(trial)
            }

            async fn stop_trial(
                &self,
                model: &str,
                outcome: $crate::trials::domain::Outcome,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let mut tx = self.begin_write().await?;
                let (trial, ev) = Self::stop_in(&mut tx, model, outcome, reason, actor).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(trial)
            }

            async fn get_trial(&self, id: u64) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let mut conn = self.pool.acquire().await?;
                Self::one_trial(&mut conn, $crate::store::rows::i(id)).await
            }

            async fn current_trial(&self, model: &str) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let mut conn = self.pool.acquire().await?;
                let m = Self::model_row(&mut conn, model).await?;
                let all = Self::trial_rows(&mut conn, "model_id = $1", m.id).await?;
                let open = all.iter().position(|t| t.state == $crate::trials::domain::TrialState::Open);
                let mut all = all;
                match open {
                    Some(i) => Ok(all.swap_remove(i)),
                    None => all.pop().ok_or_else(|| {
                        $crate::error::RegistryError::NotFound(format!("model {model:?} has no trials"))
                    }),
                }
            }

            async fn list_trials(
                &self,
                model: Option<&str>,
                open_only: bool,
                after_id: u64,
                limit: u32,
            ) -> $crate::error::Result<Vec<$crate::trials::domain::Trial>> {
                let sql = format!(
                    "SELECT {} FROM trials WHERE id > $1 AND ($2 = '' OR model = $2)
                       AND ($3 = 0 OR state = 'open') ORDER BY id LIMIT $4",
                    $crate::trials::rows::TRIAL_COLUMNS
                );
                let rows = sqlx::query_as::<_, $crate::trials::rows::TrialRow>(sqlx::AssertSqlSafe(sql))
                    .bind($crate::store::rows::i(after_id))
                    .bind(model.unwrap_or(""))
                    .bind(i64::from(open_only))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn known_trials(
                &self,
                ids: &[u64],
            ) -> $crate::error::Result<std::collections::BTreeSet<u64>> {
                let mut conn = self.pool.acquire().await?;
                let mut known = std::collections::BTreeSet::new();
                for &id in ids {
                    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM trials WHERE id = $1")
                        .bind($crate::store::rows::i(id))
                        .fetch_optional(&mut *conn)
                        .await?;
                    if found.is_some() {
                        known.insert(id);
                    }
                }
                Ok(known)
            }

            async fn insert_records(
                &self,
                records: &[$crate::trials::domain::ComparisonRecord],
                losses: &[$crate::trials::ingest::Loss],
            ) -> $crate::error::Result<u64> {
                if records.is_empty() && losses.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.begin_records().await?;
                let mut inserted = 0;
                let mut new: Vec<&$crate::trials::domain::ComparisonRecord> = Vec::new();
                for chunk in records.chunks($crate::trials::store::INSERT_CHUNK) {
                    let ids = Self::insert_chunk(&mut *tx, chunk).await?;
                    inserted += ids.len() as u64;
                    // Only the records new to the database are rolled up
                    // (a retried record is counted once).
                    if ids.len() == chunk.len() {
                        new.extend(chunk);
                    } else {
                        let ids: std::collections::HashSet<&str> =
                            ids.iter().map(String::as_str).collect();
                        new.extend(chunk.iter().filter(|r| ids.contains(r.record_id.as_str())));
                    }
                }
                // After every insert, in key order: concurrent ingests
                // lock rollup rows in one order (no deadlock).
                Self::fold_rollups(&mut *tx, &new).await?;
                for l in losses {
                    sqlx::query(
                        "INSERT INTO trial_record_losses (trial_id, arm, kind, reason, count)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (trial_id, arm, kind, reason)
                         DO UPDATE SET count = trial_record_losses.count + excluded.count",
                    )
                    .bind($crate::store::rows::i(l.trial_id))
                    .bind(l.arm.map_or("", $crate::trials::domain::Arm::as_str))
                    .bind(l.kind.as_str())
                    .bind(l.reason.as_str())
                    .bind($crate::store::rows::i(l.count))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(inserted)
            }

            async fn record_losses(
                &self,
                trial_id: u64,
            ) -> $crate::error::Result<$crate::trials::ingest::Losses> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT arm, kind, reason, count FROM trial_record_losses
                     WHERE trial_id = $1 ORDER BY arm, kind, reason",
                )
                .bind($crate::store::rows::i(trial_id))
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for (arm, kind, reason, count) in rows {
                    let arm = if arm.is_empty() {
                        None
                    } else {
                        Some(arm.parse::<$crate::trials::domain::Arm>().map_err(|e| {
                            $crate::error::RegistryError::Corrupt(format!("stored loss arm: {e}"))
                        })?)
                    };
                    let kind = $crate::trials::ingest::LossKind::parse(&kind).ok_or_else(|| {
                        $crate::error::RegistryError::Corrupt(format!(
                            "stored loss kind: expected refused or dropped, got {kind:?}"
                        ))
                    })?;
                    out.push($crate::trials::ingest::Loss {
                        trial_id,
                        arm,
                        kind,
                        reason,
                        count: $crate::store::rows::u(count),
                    });
                }
                Ok($crate::trials::ingest::Losses { rows: out })
            }

            async fn trial_periods(
                &self,
                trial_id: u64,
            ) -> $crate::error::Result<Vec<$crate::trials::domain::Period>> {
                let mut conn = self.pool.acquire().await?;
                Self::periods_of(&mut conn, trial_id).await
            }

            async fn scan_rollups(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::report::ReportBuilder,
            ) -> $crate::error::Result<bool> {
                self.scan_rollups_impl(trial_id, builder).await
            }

            async fn compact_rollups(&self, before: i64) -> $crate::error::Result<u64> {
                self.compact_rollups_impl(before).await
            }

            async fn backfill_rollups(&self) -> $crate::error::Result<Option<(u64, u64)>> {
                self.backfill_rollups_impl().await
            }

            async fn scan_rollups_bucketed(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::timeseries::TimeSeriesBuilder,
            ) -> $crate::error::Result<bool> {
                self.scan_rollups_bucketed_impl(trial_id, builder).await
            }

            async fn delete_records_before(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                batch: u32,
            ) -> $crate::error::Result<u64> {
                self.delete_records_before_impl(before, batch).await
            }

            async fn ensure_record_partitions(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<u32> {
                self.ensure_record_partitions_impl(now).await
            }

            async fn drop_record_partitions_before(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<Vec<String>> {
                self.drop_record_partitions_before_impl(before).await
            }

            async fn scan_records(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::report::ReportBuilder,
            ) -> $crate::error::Result<()> {
                use futures::TryStreamExt;
                let sql = format!(
                    "SELECT {} FROM trial_records WHERE trial_id = $1",
                    $crate::trials::rows::RECORD_COLUMNS
                );
                let mut rows = sqlx::query_as::<_, $crate::trials::rows::RecordRow>(sqlx::AssertSqlSafe(sql))
                    .bind($crate::store::rows::i(trial_id))
                    .fetch(&self.pool);
                while let Some(row) = rows.try_next().await? {
                    builder.add(&row.try_into()?);
                }
                Ok(())
            }

            async fn scan_records_bucketed(
                &self,
                trial_id: u64,
                builder: &mut $crate::trials::timeseries::TimeSeriesBuilder,
            ) -> $crate::error::Result<()> {
                use futures::TryStreamExt;
                let sql = format!(
                    "SELECT {}, {} AS bucket FROM trial_records WHERE trial_id = $1 ORDER BY bucket",
                    $crate::trials::rows::RECORD_COLUMNS,
                    $bucket
                );
                let mut rows =
                    sqlx::query_as::<_, $crate::trials::rows::BucketedRecordRow>(sqlx::AssertSqlSafe(sql))
                        .bind($crate::store::rows::i(trial_id))
                        .bind(i64::from(builder.bucket_seconds()))
                        .fetch(&self.pool);
                while let Some(row) = rows.try_next().await? {
                    let bucket = row.bucket;
                    builder.add(bucket, &row.record.try_into()?);
                }
                Ok(())
            }
        }
    };
}

impl_trial_store!(PgStore, sqlx::PgConnection, sqlx::Postgres, PG_BUCKET);
impl_trial_store!(
    SqliteStore,
    sqlx::SqliteConnection,
    sqlx::Sqlite,
    SQLITE_BUCKET
);

const _: () = assert!(crate::trials::rows::RECORD_ARITY * INSERT_CHUNK <= 32_766);
