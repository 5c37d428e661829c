//! The rollout controller: every `interval`, for each open trial with a
//! plan whose lease this replica holds (or takes, once the holder's lapsed),
//! reads the trial's report, decides with [`rollout::decide`] and applies
//! the action through the store (compare-and-set on the step index, in one
//! transaction with the trial change and its audit events, actor
//! `controller`).

use std::time::Duration;

use tracing::{info, warn};

use crate::error::Result;
use crate::trials::rollout::{self, Action};
use crate::trials::{Trial, Trials};

/// How the controller runs (`joust registry --controller-interval`,
/// `--controller-lease`).
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Time between evaluations of every open trial.
    pub interval: Duration,
    /// How long a replica holds a trial's controller without renewing; a
    /// replacement takes over once it lapses.
    pub lease: Duration,
    /// This replica's name in the lease table.
    pub holder: String,
    /// After a promotion, keep the replaced champion in shadow this long
    /// and roll back if the new one is proven worse (`--rollback-watch`;
    /// `None`: off).
    pub rollback_watch: Option<Duration>,
}

/// Default time between controller passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default lease: three passes.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

impl Default for ControllerConfig {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL, DEFAULT_LEASE)
    }
}

impl ControllerConfig {
    /// Checks the interval and lease (the lease must outlast a pass, or
    /// two replicas would take turns on every trial).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.interval.is_zero() {
            return Err("controller interval: expected more than 0s, got 0s".to_owned());
        }
        if self.lease <= self.interval {
            return Err(format!(
                "controller lease: expected longer than the interval ({:?}), got {:?}",
                self.interval, self.lease
            ));
        }
        Ok(())
    }

    pub fn new(interval: Duration, lease: Duration) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Self {
            interval,
            lease,
            holder: format!("registry-{}-{nanos:08x}", std::process::id()),
            rollback_watch: None,
        }
    }
}

/// Runs until `shutdown` resolves.
pub async fn run(
    trials: Trials,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        if let Err(error) = once(&trials, &config).await {
            warn!(%error, "rollout controller pass failed");
        }
    }
}

/// One pass over the open trials; returns how many actions were applied.
/// A trial whose step fails (a store error) is logged and left for the
/// next pass; the others go on.
pub async fn once(trials: &Trials, config: &ControllerConfig) -> Result<usize> {
    let mut applied = 0;
    let mut after = 0;
    loop {
        let open = trials.list(None, true, after, 1000).await?;
        let Some(last) = open.last() else {
            return Ok(applied);
        };
        after = last.id;
        for trial in open {
            match step(trials, config, &trial).await {
                Ok(true) => applied += 1,
                Ok(false) => {}
                Err(error) => {
                    warn!(%error, model = %trial.model, trial = trial.id, "rollout controller step failed");
                }
            }
        }
    }
}

/// Decides and applies one trial's action; `true` when one was applied.
async fn step(trials: &Trials, config: &ControllerConfig, trial: &Trial) -> Result<bool> {
    let store = trials.store();
    let Some(state) = store.trial_plan(trial.id).await? else {
        return Ok(false);
    };
    if state.paused {
        return Ok(false);
    }
    let now = chrono::Utc::now();
    let ttl = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
    if !store
        .take_lease(trial.id, &config.holder, now.timestamp_millis(), ttl)
        .await?
    {
        return Ok(false);
    }
    let action = if state.plan.watch {
        let (_, reversed) = trials.report_reversed(trial.id).await?;
        rollout::decide_watch(&state, &reversed, chrono::Utc::now())
    } else {
        let (_, report) = trials.report(trial.id, "").await?;
        rollout::decide(&state, &report, chrono::Utc::now())
    };
    if let Action::Wait(note) = &action {
        if *note != state.note {
            store.set_plan_note(trial.id, note).await?;
        }
        return Ok(false);
    }
    let watch_ms = config
        .rollback_watch
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let done = store.apply_action(trial, &state, &action, watch_ms).await?;
    if done {
        info!(model = %trial.model, trial = trial.id, step = state.step, holder = %config.holder, ?action, "rollout controller acted");
    }
    Ok(done)
}
