//! The rollout controller: every `interval`, for each open trial with a
//! plan whose lease this replica holds (or takes, once the holder's lapsed),
//! reads the trial's report, decides with [`rollout::decide`] and applies
//! the action through the store (compare-and-set on the step index, in one
//! transaction with the trial change and its audit events, actor
//! `controller`).

use std::time::Duration;

use tracing::{info, warn};

use crate::error::Result;
use crate::trials::Trials;
use crate::trials::rollout::{self, Action};

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
}

impl ControllerConfig {
    pub fn new(interval: Duration, lease: Duration) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Self {
            interval,
            lease,
            holder: format!("registry-{}-{nanos:08x}", std::process::id()),
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
            let store = trials.store();
            let Some(state) = store.trial_plan(trial.id).await? else {
                continue;
            };
            if state.paused {
                continue;
            }
            let now = chrono::Utc::now();
            let ttl = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
            if !store
                .take_lease(trial.id, &config.holder, now.timestamp_millis(), ttl)
                .await?
            {
                continue;
            }
            let (trial, report) = trials.report(trial.id, "").await?;
            let action = rollout::decide(&state, &report, chrono::Utc::now());
            match &action {
                Action::Wait(note) => {
                    if *note != state.note {
                        store.set_plan_note(trial.id, note).await?;
                    }
                }
                _ => {
                    if store.apply_action(&trial, &state, &action).await? {
                        applied += 1;
                        info!(model = %trial.model, trial = trial.id, step = state.step, ?action, "rollout controller acted");
                    }
                }
            }
        }
    }
}
