//! Persisting plans, the controller's state and its leases (both SQL
//! backends, one macro). Every controller action is applied in one
//! transaction: a compare-and-set on the plan's step index and approval
//! state, the trial change (through the same code as `trial update` /
//! `trial stop`, so the lifecycle engine plans a promotion or rejection)
//! and the audit events. A replica replaced mid-step finds the step index
//! moved and applies nothing twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{RegistryError, Result};
use crate::trials::domain::Trial;
use crate::trials::rollout::{Action, Approval, Plan, PlanState};

/// What the controller and the approval commands need from the store.
#[async_trait]
pub trait RolloutStore: Send + Sync + 'static {
    /// The trial's plan and where it is (`None`: the trial has no plan).
    async fn trial_plan(&self, trial_id: u64) -> Result<Option<PlanState>>;
    /// Takes or renews the trial's controller lease for `holder` until
    /// `now_ms + ttl_ms`; `false` when another holder's lease runs.
    async fn take_lease(
        &self,
        trial_id: u64,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool>;
    /// Applies `action` if the plan is still at `expected` (step and
    /// approval, not paused); `false` when it moved (nothing applied). A
    /// promotion with `watch` (ms) starts a rollback watch in the same
    /// transaction.
    async fn apply_action(
        &self,
        trial: &Trial,
        expected: &PlanState,
        action: &Action,
        watch_ms: Option<u64>,
    ) -> Result<bool>;
    /// Stops the model's open trial with `promote` (a person's StopTrial)
    /// and starts a rollback watch of `watch_ms` in the same transaction.
    async fn promote_watched(
        &self,
        model: &str,
        reason: &str,
        actor: &str,
        watch_ms: u64,
    ) -> Result<Trial>;
    /// Keeps the controller's explanation of why it waits.
    async fn set_plan_note(&self, trial_id: u64, note: &str) -> Result<()>;
    /// Grants (the plan continues) or denies (the challenger is rejected)
    /// the model's pending approval.
    async fn decide_approval(
        &self,
        model: &str,
        grant: bool,
        reason: &str,
        actor: &str,
    ) -> Result<Trial>;
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PlanRow {
    pub plan: String,
    pub step: i32,
    pub step_started_at: DateTime<Utc>,
    pub paused: bool,
    pub approval: String,
    pub note: String,
}

impl TryFrom<PlanRow> for PlanState {
    type Error = RegistryError;
    fn try_from(r: PlanRow) -> Result<Self> {
        let corrupt = |what: &str, e: String| RegistryError::Corrupt(format!("stored {what}: {e}"));
        Ok(PlanState {
            plan: serde_json::from_str::<Plan>(&r.plan)
                .map_err(|e| corrupt("plan", e.to_string()))?,
            step: usize::try_from(r.step).map_err(|e| corrupt("plan step", e.to_string()))?,
            step_started_at: r.step_started_at,
            paused: r.paused,
            approval: Approval::parse(&r.approval).map_err(|e| corrupt("plan approval", e))?,
            note: r.note,
        })
    }
}

fn step_i32(step: usize) -> i32 {
    i32::try_from(step).unwrap_or(i32::MAX)
}

macro_rules! impl_rollout_store {
    ($store:ty, $conn:ty) => {
        impl $store {
            pub(crate) async fn insert_plan(
                conn: &mut $conn,
                trial_id: i64,
                plan: &$crate::trials::rollout::Plan,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<()> {
                sqlx::query(
                    "INSERT INTO trial_plans (trial_id, plan, step, step_started_at) VALUES ($1, $2, 0, $3)",
                )
                .bind(trial_id)
                .bind($crate::store::rows::to_json(plan)?)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Opens the rollback watch of `promoted` (just stopped with
            /// promote) inside `conn`'s transaction: its old champion in
            /// shadow against the new one, with its gates, for `watch_ms`;
            /// the last audit event's id.
            pub(crate) async fn start_watch_in(
                conn: &mut $conn,
                promoted: &$crate::trials::domain::Trial,
                watch_ms: u64,
                actor: &str,
            ) -> $crate::error::Result<i64> {
                let new = $crate::trials::domain::NewTrial {
                    model: promoted.model.clone(),
                    challenger_version: promoted.champion_version,
                    mode: $crate::trials::domain::Mode::Shadow,
                    weight: 0.0,
                    sampling: 1.0,
                    sticky: false,
                    gates: promoted.gates.clone(),
                    reason: format!(
                        "trial {} promoted version {}; watching it for {:.1}s",
                        promoted.id,
                        promoted.challenger_version,
                        watch_ms as f64 / 1000.0
                    ),
                    plan: None,
                };
                let command = $crate::lifecycle::Command::StartWatch(new);
                let applied = Self::run_command(&mut *conn, &promoted.model, &command, actor).await?;
                let id = applied.opened_trial.ok_or_else(|| {
                    $crate::error::RegistryError::Corrupt(format!(
                        "watch of {:?} planned without opening a trial", promoted.model
                    ))
                })?;
                sqlx::query(
                    "INSERT INTO trial_periods (trial_id, period, started_at, mode, weight, sampling)
                     SELECT id, 0, started_at, mode, weight, sampling FROM trials WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *conn)
                .await?;
                let started: chrono::DateTime<chrono::Utc> =
                    sqlx::query_scalar("SELECT started_at FROM trials WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await?;
                Self::insert_plan(&mut *conn, id, &$crate::trials::rollout::Plan::watch(watch_ms), started)
                    .await?;
                Ok(applied.last_event)
            }

            /// A manual change pauses the plan (no-op without one).
            pub(crate) async fn pause_plan(conn: &mut $conn, trial_id: u64) -> $crate::error::Result<()> {
                sqlx::query("UPDATE trial_plans SET paused = TRUE, note = 'paused by a manual change' WHERE trial_id = $1")
                    .bind($crate::store::rows::i(trial_id))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::trials::rollout_store::RolloutStore for $store {
            async fn trial_plan(
                &self,
                trial_id: u64,
            ) -> $crate::error::Result<Option<$crate::trials::rollout::PlanState>> {
                let row = sqlx::query_as::<_, $crate::trials::rollout_store::PlanRow>(
                    "SELECT plan, step, step_started_at, paused, approval, note FROM trial_plans WHERE trial_id = $1",
                )
                .bind($crate::store::rows::i(trial_id))
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn take_lease(
                &self,
                trial_id: u64,
                holder: &str,
                now_ms: i64,
                ttl_ms: i64,
            ) -> $crate::error::Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO trial_leases (trial_id, holder, expires_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (trial_id) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                     WHERE trial_leases.holder = excluded.holder OR trial_leases.expires_ms < $4",
                )
                .bind($crate::store::rows::i(trial_id))
                .bind(holder)
                .bind(now_ms.saturating_add(ttl_ms))
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_plan_note(&self, trial_id: u64, note: &str) -> $crate::error::Result<()> {
                sqlx::query("UPDATE trial_plans SET note = $1 WHERE trial_id = $2")
                    .bind(note)
                    .bind($crate::store::rows::i(trial_id))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn apply_action(
                &self,
                trial: &$crate::trials::domain::Trial,
                expected: &$crate::trials::rollout::PlanState,
                action: &$crate::trials::rollout::Action,
                watch_ms: Option<u64>,
            ) -> $crate::error::Result<bool> {
                use $crate::trials::rollout::{Action, CONTROLLER_ACTOR};
                use $crate::trials::store::event_kind;
                let (step, approval) = match action {
                    Action::Wait(_) => return Ok(false),
                    Action::Advance { from, .. } => (from + 1, ""),
                    Action::RequestApproval { at, .. } => (*at, "pending"),
                    Action::Promote { at, .. } => (at + 1, ""),
                    Action::Abort { at, .. } => (*at, ""),
                    Action::RollBack { .. } | Action::EndWatch { .. } => (expected.step + 1, ""),
                };
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                let moved = sqlx::query(
                    "UPDATE trial_plans SET step = $1, approval = $2, note = '',
                       step_started_at = CASE WHEN step = $1 THEN step_started_at ELSE $3 END
                     WHERE trial_id = $4 AND step = $5 AND approval = $6 AND NOT paused",
                )
                .bind($crate::trials::rollout_store::step_i32(step))
                .bind(approval)
                .bind(now)
                .bind($crate::store::rows::i(trial.id))
                .bind($crate::trials::rollout_store::step_i32(expected.step))
                .bind(expected.approval.as_str())
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() != 1 {
                    return Ok(false);
                }
                let model = trial.model.as_str();
                let version = Some(trial.challenger_version);
                let ev = match action {
                    Action::Wait(_) => return Ok(false),
                    Action::Advance { from, figures } => {
                        let (mode, weight, sampling) =
                            expected.plan.settings(from + 1).ok_or_else(|| {
                                $crate::error::RegistryError::Corrupt(format!(
                                    "trial {}: plan has no step {}", trial.id, from + 1
                                ))
                            })?;
                        let update = $crate::trials::domain::TrialUpdate {
                            mode: Some(mode),
                            weight: Some(weight),
                            sampling: Some(sampling),
                            gates: None,
                            reason: format!("plan step {from} → {}", from + 1),
                        };
                        Self::update_in(&mut tx, model, update, CONTROLLER_ACTOR).await?;
                        Self::insert_event(
                            &mut tx, CONTROLLER_ACTOR, model, version, event_kind::TRIAL_STEP_ADVANCED,
                            &format!("step {from}"), &format!("step {}", from + 1),
                            &format!("trial {}: {figures}", trial.id),
                        ).await?
                    }
                    Action::RequestApproval { at, figures } => {
                        Self::insert_event(
                            &mut tx, CONTROLLER_ACTOR, model, version, event_kind::APPROVAL_REQUESTED,
                            &format!("step {at}"), "pending",
                            &format!("trial {}: {figures}", trial.id),
                        ).await?
                    }
                    Action::Promote { at, figures } => {
                        let reason = format!("plan complete at step {at}: {figures}");
                        let (promoted, _) = Self::stop_in(&mut tx, model, $crate::trials::domain::Outcome::Promote, &reason, CONTROLLER_ACTOR).await?;
                        let ev = Self::insert_event(
                            &mut tx, CONTROLLER_ACTOR, model, version, event_kind::TRIAL_PROMOTED,
                            &format!("step {at}"), "promoted", &format!("trial {}: {reason}", trial.id),
                        ).await?;
                        match watch_ms {
                            Some(ms) => Self::start_watch_in(&mut tx, &promoted, ms, CONTROLLER_ACTOR).await?,
                            None => ev,
                        }
                    }
                    Action::RollBack { figures } | Action::EndWatch { figures } => {
                        let rollback = matches!(action, Action::RollBack { .. });
                        let reason = if rollback {
                            format!("the new champion is worse than the one it replaced: {figures}")
                        } else {
                            format!("no harm proven in the watch period: {figures}")
                        };
                        let command = $crate::lifecycle::Command::EndWatch { rollback, reason };
                        Self::run_command(&mut tx, model, &command, CONTROLLER_ACTOR).await?.last_event
                    }
                    Action::Abort { at, figures } => {
                        let reason = format!("guardrail violated at step {at}: {figures}");
                        Self::stop_in(&mut tx, model, $crate::trials::domain::Outcome::Reject, &reason, CONTROLLER_ACTOR).await?;
                        Self::insert_event(
                            &mut tx, CONTROLLER_ACTOR, model, version, event_kind::TRIAL_ABORTED,
                            &format!("step {at}"), "aborted", &format!("trial {}: {reason}", trial.id),
                        ).await?
                    }
                };
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(true)
            }

            async fn promote_watched(
                &self,
                model: &str,
                reason: &str,
                actor: &str,
                watch_ms: u64,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                let mut tx = self.begin_write().await?;
                let (trial, _) = Self::stop_in(
                    &mut tx, model, $crate::trials::domain::Outcome::Promote, reason, actor,
                ).await?;
                let ev = Self::start_watch_in(&mut tx, &trial, watch_ms, actor).await?;
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(trial)
            }

            async fn decide_approval(
                &self,
                model: &str,
                grant: bool,
                reason: &str,
                actor: &str,
            ) -> $crate::error::Result<$crate::trials::domain::Trial> {
                use $crate::trials::store::event_kind;
                let mut tx = self.begin_write().await?;
                let trial = Self::open_trial(&mut tx, model).await?;
                let to = if grant { "granted" } else { "" };
                let moved = sqlx::query(
                    "UPDATE trial_plans SET approval = $1 WHERE trial_id = $2 AND approval = 'pending'",
                )
                .bind(to)
                .bind($crate::store::rows::i(trial.id))
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() != 1 {
                    return Err($crate::error::RegistryError::FailedPrecondition(format!(
                        "trial {} of model {model:?} has no pending approval", trial.id
                    )));
                }
                let version = Some(trial.challenger_version);
                let (kind, status) = if grant {
                    (event_kind::APPROVAL_GRANTED, "granted")
                } else {
                    (event_kind::APPROVAL_DENIED, "denied")
                };
                let mut ev = Self::insert_event(
                    &mut tx, actor, model, version, kind, "pending", status,
                    &format!("trial {}: {reason}", trial.id),
                ).await?;
                let trial = if grant {
                    trial
                } else {
                    let (t, e) = Self::stop_in(
                        &mut tx, model, $crate::trials::domain::Outcome::Reject,
                        &format!("approval denied: {reason}"), actor,
                    ).await?;
                    ev = e;
                    t
                };
                tx.commit().await?;
                self.hub.publish(ev);
                Ok(trial)
            }
        }
    };
}

impl_rollout_store!(crate::store::PgStore, sqlx::PgConnection);
impl_rollout_store!(crate::store::SqliteStore, sqlx::SqliteConnection);
