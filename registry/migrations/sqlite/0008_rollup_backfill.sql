-- Trials started before migration 0006 (no rollups) whose rollups were
-- rebuilt from their raw records once they stopped (the registry's
-- compaction task, registry/src/trials/rollup_store.rs): their report then
-- reads rollups, and raw-record retention applies to them too.

CREATE TABLE trial_rollups_backfilled (
    trial_id BIGINT PRIMARY KEY REFERENCES trials(id),
    records  BIGINT NOT NULL CHECK (records >= 0)
);
