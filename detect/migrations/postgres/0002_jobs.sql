-- The backfill job queue (docs/detection.md, "Backfill jobs").

-- Oldest bar of the series' detected range (the range ends at
-- last_detected_ts). NULL with last_detected_ts set: from the first bar.
ALTER TABLE series ADD COLUMN detected_from_ts BIGINT;

CREATE TABLE backfill_jobs (
    id BIGSERIAL PRIMARY KEY,
    ticker TEXT NOT NULL,
    bar_interval TEXT NOT NULL,
    backfill_period TEXT NOT NULL,
    force_rescore BOOLEAN NOT NULL,
    -- 0 = high, 1 = normal, 2 = low: claimed in (priority, id) order.
    priority INTEGER NOT NULL,
    -- pending, processing, retrying, completed, failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    -- Unix ms from which a pending or retrying job may be claimed.
    next_attempt_at_ms BIGINT NOT NULL,
    -- The claim: worker id, fencing token, lease expiry (unix ms).
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_token TEXT NOT NULL DEFAULT '',
    lease_expires_at_ms BIGINT,
    -- Detection run of the current or last attempt (no foreign key: the
    -- retention purge may delete the run).
    run_id BIGINT,
    rows_loaded BIGINT NOT NULL DEFAULT 0,
    rows_to_score BIGINT NOT NULL DEFAULT 0,
    rows_scored BIGINT NOT NULL DEFAULT 0,
    anomalies_found BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    completed_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL
);
-- At most one active job per series: a second backfill is refused.
CREATE UNIQUE INDEX backfill_jobs_active ON backfill_jobs (ticker, bar_interval)
    WHERE status IN ('pending', 'processing', 'retrying');
CREATE INDEX backfill_jobs_claim ON backfill_jobs (priority, id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX backfill_jobs_series ON backfill_jobs (ticker, bar_interval, id);
