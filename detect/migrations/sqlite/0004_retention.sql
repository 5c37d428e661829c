-- Retention (docs/detection.md, "Retention"): every run expires after the
-- run retention whatever it found, anomalies have their own retention and
-- outlive their run, so they no longer reference it and keep a copy of
-- what they need from it (trigger, start, evidence).
-- SQLite cannot drop a foreign key: the table is rebuilt. anomaly_matches
-- references anomalies by name; its check is deferred to the commit, when
-- the rebuilt table holds every id again.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE anomalies_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The run that found it (no foreign key: the run may expire first).
    run_id BIGINT NOT NULL,
    ticker TEXT NOT NULL,
    bar_interval TEXT NOT NULL,
    ts BIGINT NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    -- JSON array of the 14 feature values.
    features TEXT NOT NULL,
    score REAL NOT NULL,
    label BOOLEAN NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    whitelisted BOOLEAN NOT NULL DEFAULT 0,
    run_trigger TEXT NOT NULL DEFAULT '',
    run_started_at_ms BIGINT NOT NULL DEFAULT 0,
    evidence_uri TEXT NOT NULL DEFAULT ''
);
INSERT INTO anomalies_rebuilt (id, run_id, ticker, bar_interval, ts, close, volume, features,
    score, label, model_name, model_version, model_sha256, created_at_ms, whitelisted,
    run_trigger, run_started_at_ms, evidence_uri)
SELECT a.id, a.run_id, a.ticker, a.bar_interval, a.ts, a.close, a.volume, a.features,
    a.score, a.label, a.model_name, a.model_version, a.model_sha256, a.created_at_ms,
    a.whitelisted, COALESCE(r.run_trigger, ''), COALESCE(r.started_at_ms, 0),
    COALESCE(r.evidence_uri, '')
FROM anomalies a LEFT JOIN detection_runs r ON r.id = a.run_id;
DROP TABLE anomalies;
ALTER TABLE anomalies_rebuilt RENAME TO anomalies;
CREATE INDEX anomalies_series_ts ON anomalies (ticker, bar_interval, ts);
CREATE INDEX anomalies_run ON anomalies (run_id);
CREATE INDEX anomalies_created ON anomalies (created_at_ms);
-- The purge's scans: finished runs by completion, stale ones by start.
CREATE INDEX detection_runs_completed ON detection_runs (completed_at_ms);
CREATE INDEX detection_runs_in_progress ON detection_runs (started_at_ms)
    WHERE status = 'in_progress';
