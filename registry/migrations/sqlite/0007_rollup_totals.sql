-- Compacted rollups (SQLite): per trial and period, the merge of every
-- minute rollup before `through_minute` (NULL state: nothing merged yet).
-- A report reads this row plus the minute rows from `through_minute` on,
-- so its cost does not grow with the trial's age. Minute rows are kept
-- (the dashboard's time series reads them). A record that arrives for a
-- minute already compacted is merged into both, under this row's lock
-- (registry/src/trials/rollup_store.rs).

CREATE TABLE trial_rollup_totals (
    trial_id       BIGINT NOT NULL REFERENCES trials(id),
    period         INTEGER NOT NULL CHECK (period >= 0),
    through_minute BIGINT NOT NULL,
    state          BLOB,
    PRIMARY KEY (trial_id, period)
);

INSERT INTO trial_rollup_totals (trial_id, period, through_minute, state)
SELECT DISTINCT trial_id, period, 0, NULL FROM trial_rollups;
