//! Raw record retention: every [`INTERVAL`], delete the raw records older
//! than the retention of the trials reported from rollups, in batches
//! (`DELETE … WHERE record_id IN (SELECT … LIMIT 10000)`, index on `at`).
//! Reports stay complete: they read rollups. Every replica may run it;
//! concurrent deletes of the same rows are harmless.

use std::time::Duration;

use crate::trials::Trials;

/// Time between retention passes.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// Runs retention passes until dropped (the server aborts the task on
/// shutdown). A failed pass is logged and retried at the next interval.
pub async fn run(trials: Trials, keep: Duration) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(keep) = chrono::TimeDelta::from_std(keep) else {
            return;
        };
        let before = chrono::Utc::now() - keep;
        match trials.delete_records_before(before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, %before, "raw trial records deleted"),
            Err(error) => tracing::warn!(%error, "raw trial record retention failed"),
        }
    }
}
