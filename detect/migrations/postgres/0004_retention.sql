-- Retention (docs/detection.md, "Retention"): every run expires after the
-- run retention whatever it found, anomalies have their own retention and
-- outlive their run, so they no longer reference it and keep a copy of
-- what they need from it (trigger, start, evidence).
ALTER TABLE anomalies DROP CONSTRAINT IF EXISTS anomalies_run_id_fkey;
ALTER TABLE anomalies ADD COLUMN run_trigger TEXT NOT NULL DEFAULT '';
ALTER TABLE anomalies ADD COLUMN run_started_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE anomalies ADD COLUMN evidence_uri TEXT NOT NULL DEFAULT '';
UPDATE anomalies SET run_trigger = r.run_trigger, run_started_at_ms = r.started_at_ms,
    evidence_uri = r.evidence_uri
    FROM detection_runs r WHERE r.id = anomalies.run_id;
CREATE INDEX anomalies_created ON anomalies (created_at_ms);
-- The purge's scans: finished runs by completion, stale ones by start.
CREATE INDEX detection_runs_completed ON detection_runs (completed_at_ms);
CREATE INDEX detection_runs_in_progress ON detection_runs (started_at_ms)
    WHERE status = 'in_progress';
