-- Periods of a trial (SQLite): every change of mode, weight or sampling
-- starts a new one, numbered from 0 (the trial's start). Records belong to
-- the period whose start is the latest at or before their time. Trials
-- started before this migration get one period from their start with
-- their current settings.

CREATE TABLE trial_periods (
    trial_id   BIGINT NOT NULL REFERENCES trials(id),
    period     INTEGER NOT NULL CHECK (period >= 0),
    started_at TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('off', 'split', 'shadow')),
    weight     REAL NOT NULL CHECK (weight >= 0 AND weight <= 1),
    sampling   REAL NOT NULL CHECK (sampling >= 0 AND sampling <= 1),
    PRIMARY KEY (trial_id, period)
);

INSERT INTO trial_periods (trial_id, period, started_at, mode, weight, sampling)
SELECT id, 0, started_at, mode, weight, sampling FROM trials;
