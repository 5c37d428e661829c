-- Rules (one threshold per anomaly type), whitelisted series, what each
-- anomaly matched, and per-run records of the rules applied, the whitelist
-- and the evidence artifact. Numbered 0003: 0002 is the backfill queue.
CREATE TABLE detection_rules (
    anomaly_type TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    threshold REAL NOT NULL,
    enabled BOOLEAN NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    updated_at_ms BIGINT NOT NULL DEFAULT 0
);
-- The model's own decision is the one rule on by default (what detection
-- did before rules existed); the feature-derived types are off until set.
INSERT INTO detection_rules (anomaly_type, operator, threshold, enabled, description) VALUES
    ('model_label', 'eq', 1, 1, 'the model labels the bar anomalous'),
    ('model_score', 'gte', 0.65, 0, 'isolation-forest scale; set per model kind'),
    ('price_spike', 'gt', 0.05, 0, 'absolute one-bar return above 5%'),
    ('volume_spike', 'gt', 3, 0, 'log-volume z-score above 3'),
    ('volatility', 'gt', 0.03, 0, '20-bar return volatility above 3%');

CREATE TABLE detection_whitelist (
    ticker TEXT NOT NULL,
    -- '' = every interval of the ticker.
    bar_interval TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (ticker, bar_interval)
);

-- Every rule that fired for an anomaly (at least one per anomaly).
CREATE TABLE anomaly_matches (
    anomaly_id BIGINT NOT NULL REFERENCES anomalies (id),
    anomaly_type TEXT NOT NULL,
    measured REAL NOT NULL,
    operator TEXT NOT NULL,
    threshold REAL NOT NULL,
    PRIMARY KEY (anomaly_id, anomaly_type)
);
CREATE INDEX anomaly_matches_type ON anomaly_matches (anomaly_type);

-- Anomalies found before this migration were the model's labels.
INSERT INTO anomaly_matches (anomaly_id, anomaly_type, measured, operator, threshold)
    SELECT id, 'model_label', 1, 'eq', 1 FROM anomalies WHERE label;

ALTER TABLE anomalies ADD COLUMN whitelisted BOOLEAN NOT NULL DEFAULT 0;

-- JSON array of the enabled rules the run applied.
ALTER TABLE detection_runs ADD COLUMN rules_applied TEXT NOT NULL DEFAULT '[]';
-- Whitelist entries covering the run's series when it ran.
ALTER TABLE detection_runs ADD COLUMN whitelist_entries BIGINT NOT NULL DEFAULT 0;
ALTER TABLE detection_runs ADD COLUMN anomalies_whitelisted BIGINT NOT NULL DEFAULT 0;
-- Where the run's evidence artifact is ('' = none written).
ALTER TABLE detection_runs ADD COLUMN evidence_uri TEXT NOT NULL DEFAULT '';
-- What a verification run found: JSON {anomaly_id, score, label, features,
-- matches}; '' for other runs.
ALTER TABLE detection_runs ADD COLUMN verification TEXT NOT NULL DEFAULT '';
