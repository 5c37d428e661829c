-- Webhook deliveries (registry/src/webhooks): the delivery worker tails
-- the audit log by id (one cursor per configured endpoint) and queues one
-- row per (endpoint, event) it subscribes to; the unique key makes a
-- delivery exist once per endpoint whatever number of replicas enqueue.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE webhook_cursors (
    endpoint      TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL CHECK (last_event_id >= 0)
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint        TEXT NOT NULL,
    event_id        INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    last_http_status INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    finished_ms     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (endpoint, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint, status, next_attempt_ms);
