-- Per-minute rollups of a trial's comparison records (PostgreSQL): one row
-- per trial, period and minute (Unix time / 60, floored), both arms' counts,
-- sums and HDR histograms in `state` (registry/src/trials/rollup.rs). Every
-- registry replica merges into the same row inside the transaction that
-- stores the records. Reports read rollups, not records.
--
-- Trials started before this migration keep being reported from their raw
-- records (no backfill: sketches cannot be built in SQL); `first_trial_id`
-- is the first trial whose report reads rollups, and record retention
-- deletes raw records of those trials only.

CREATE TABLE trial_rollups (
    trial_id BIGINT NOT NULL REFERENCES trials(id),
    period   INTEGER NOT NULL CHECK (period >= 0),
    minute   BIGINT NOT NULL,
    state    BYTEA NOT NULL,
    PRIMARY KEY (trial_id, period, minute)
);

CREATE TABLE trial_rollups_from (
    only_row       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    first_trial_id BIGINT NOT NULL
);

INSERT INTO trial_rollups_from (only_row, first_trial_id)
SELECT TRUE, COALESCE(MAX(id), 0) + 1 FROM trials;

CREATE INDEX trial_records_by_time ON trial_records (at);
