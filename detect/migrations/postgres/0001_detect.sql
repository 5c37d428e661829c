-- Series, bars, detection runs and anomalies of the detection service.
CREATE TABLE series (
    id BIGSERIAL PRIMARY KEY,
    ticker TEXT NOT NULL,
    bar_interval TEXT NOT NULL,
    -- Unix seconds of the newest bar already detected; NULL = never.
    last_detected_ts BIGINT,
    model_version TEXT NOT NULL DEFAULT '',
    UNIQUE (ticker, bar_interval)
);

CREATE TABLE bars (
    series_id BIGINT NOT NULL REFERENCES series (id),
    ts BIGINT NOT NULL,
    open DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, ts)
);

CREATE TABLE detection_runs (
    id BIGSERIAL PRIMARY KEY,
    run_trigger TEXT NOT NULL,
    ticker TEXT NOT NULL,
    bar_interval TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL DEFAULT '',
    model_sha256 TEXT NOT NULL DEFAULT '',
    started_at_ms BIGINT NOT NULL,
    completed_at_ms BIGINT,
    rows_loaded BIGINT NOT NULL DEFAULT 0,
    rows_preprocessed BIGINT NOT NULL DEFAULT 0,
    rows_scored BIGINT NOT NULL DEFAULT 0,
    anomalies_found BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    warnings TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX detection_runs_series ON detection_runs (ticker, bar_interval, id);

CREATE TABLE anomalies (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES detection_runs (id),
    ticker TEXT NOT NULL,
    bar_interval TEXT NOT NULL,
    ts BIGINT NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    -- JSON array of the 14 feature values.
    features TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    label BOOLEAN NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX anomalies_series_ts ON anomalies (ticker, bar_interval, ts);
CREATE INDEX anomalies_run ON anomalies (run_id);
