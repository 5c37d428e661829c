//! Background upkeep of trial records. Retention: every [`INTERVAL`],
//! remove the raw records older than the retention of the trials reported
//! from rollups: on PostgreSQL the day partitions that ended before the
//! cutoff are dropped whole (`partitions`), then what remains older is
//! deleted in batches (`DELETE … WHERE (record_id, at) IN (SELECT … LIMIT
//! 10000)`, index on `at`); reports stay complete: they read rollups.
//! Partitions: the compaction task creates the coming days' partitions at
//! start and every pass.
//! Compaction: every [`COMPACT_INTERVAL`], merge the minute rollups that
//! ended into each trial period's totals, so a report reads one row per
//! period plus the last minutes. Every replica may run both; concurrent
//! passes are harmless (deletes of the same rows; compaction under the
//! totals row's lock). The compaction pass also rebuilds, from their raw
//! records, the rollups of stopped trials that started before rollups
//! existed (a few per pass), so their reports read rollups too.

use std::time::Duration;

use crate::trials::{RecordsPurged, Trials};

/// Time between retention passes.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// Stopped pre-rollup trials backfilled per compaction pass at most.
pub const BACKFILL_PER_PASS: usize = 10;

/// Time between compaction passes.
pub const COMPACT_INTERVAL: Duration = Duration::from_secs(60);

/// Runs compaction passes until dropped. A failed pass is logged and
/// retried at the next interval.
pub async fn compact(trials: Trials) {
    // The day partitions of raw records exist before the first records of
    // the day (PostgreSQL): at start, then at every pass.
    ensure_partitions(&trials).await;
    // The first pass one interval after start (nothing is due sooner).
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + COMPACT_INTERVAL,
        COMPACT_INTERVAL,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        ensure_partitions(&trials).await;
        match trials.compact_rollups(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(merged) => tracing::debug!(merged, "minute rollups compacted"),
            Err(error) => tracing::warn!(%error, "trial rollup compaction failed"),
        }
        // Stopped trials from before rollups existed, a few per pass.
        for _ in 0..BACKFILL_PER_PASS {
            match trials.backfill_rollups().await {
                Ok(None) => break,
                Ok(Some((trial, records))) => {
                    tracing::info!(trial, records, "trial rollups rebuilt from its raw records");
                }
                Err(error) => {
                    tracing::warn!(%error, "trial rollup backfill failed");
                    break;
                }
            }
        }
    }
}

/// Creates the missing day partitions of raw records; a failure is logged
/// (records then land in the default partition and are still kept).
async fn ensure_partitions(trials: &Trials) {
    match trials.ensure_record_partitions(chrono::Utc::now()).await {
        Ok(0) => {}
        Ok(created) => tracing::info!(created, "trial record day partitions created"),
        Err(error) => tracing::warn!(%error, "trial record partitions not created"),
    }
}

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
            Ok(purged) if purged == RecordsPurged::default() => {}
            Ok(RecordsPurged {
                partitions,
                records,
            }) => tracing::info!(
                ?partitions,
                deleted = records,
                %before,
                "raw trial records removed (day partitions dropped, rows deleted)"
            ),
            Err(error) => tracing::warn!(%error, "raw trial record retention failed"),
        }
    }
}
