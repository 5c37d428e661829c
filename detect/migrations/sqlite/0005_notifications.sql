-- Notifications (docs/detection.md, "Notifications"): the outbox of webhook
-- events (one per run with new anomalies, and queue alerts), written in
-- the run's transaction and delivered at least once, and each anomaly's
-- notification state.
CREATE TABLE detection_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- X-Joust-Delivery: the same on every attempt (receivers dedupe by it).
    delivery_id TEXT NOT NULL UNIQUE,
    -- detect.anomalies or detect.queue_alert.
    kind TEXT NOT NULL,
    -- The run whose anomalies it carries (NULL for a queue alert).
    run_id BIGINT,
    -- The JSON body, fixed when the event is written.
    body TEXT NOT NULL,
    -- pending, sent, failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Unix ms from which the next attempt may start (a claim moves it).
    next_attempt_at_ms BIGINT NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX detection_notifications_due ON detection_notifications (next_attempt_at_ms)
    WHERE status = 'pending';
CREATE INDEX detection_notifications_run ON detection_notifications (run_id);

-- '' = not notified (whitelisted, or no webhook configured when found);
-- pending, sent, failed: the state of its run's notification.
ALTER TABLE anomalies ADD COLUMN notification_state TEXT NOT NULL DEFAULT '';
