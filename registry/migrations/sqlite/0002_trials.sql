-- Champion/challenger trials and their comparison records (SQLite).

CREATE TABLE trials (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id           BIGINT NOT NULL REFERENCES models(id),
    model              TEXT NOT NULL,
    champion_version   BIGINT NOT NULL,
    challenger_version BIGINT NOT NULL,
    mode               TEXT NOT NULL CHECK (mode IN ('off', 'split', 'shadow')),
    weight             REAL             NOT NULL CHECK (weight >= 0 AND weight <= 1),
    sampling           REAL             NOT NULL CHECK (sampling >= 0 AND sampling <= 1),
    sticky             BOOLEAN NOT NULL,
    gates              TEXT NOT NULL DEFAULT '{}',
    state              TEXT NOT NULL CHECK (state IN ('open', 'stopped')),
    outcome            TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'promote', 'reject', 'abort')),
    started_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    stopped_at         TEXT,
    started_by         TEXT NOT NULL,
    stopped_by         TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL DEFAULT ''
);

-- At most one open trial per model, enforced by the database.
CREATE UNIQUE INDEX trials_one_open ON trials (model_id) WHERE state = 'open';
CREATE INDEX trials_by_model ON trials (model, id);

-- One row per compared request. Per-arm columns are NULL when that arm did
-- not see the request; scores are a JSON array of numbers, labels a string
-- of '0'/'1' (one character per scored row, '1' = anomaly).
CREATE TABLE trial_records (
    record_id                TEXT PRIMARY KEY,
    trial_id                 BIGINT NOT NULL REFERENCES trials(id),
    request_id               TEXT NOT NULL,
    at                       TEXT NOT NULL,
    routing_key_hash         BIGINT NOT NULL,
    served                   TEXT NOT NULL CHECK (served IN ('champion', 'challenger')),
    champion_version         BIGINT,
    champion_scores          TEXT,
    champion_labels          TEXT,
    champion_latency_us      BIGINT,
    champion_status          INTEGER,
    challenger_version       BIGINT,
    challenger_scores        TEXT,
    challenger_labels        TEXT,
    challenger_latency_us    BIGINT,
    challenger_status        INTEGER
);
CREATE INDEX trial_records_by_trial ON trial_records (trial_id);
