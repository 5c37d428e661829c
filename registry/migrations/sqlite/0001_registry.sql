-- joust registry schema (SQLite).

CREATE TABLE models (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE versions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id          BIGINT NOT NULL REFERENCES models(id),
    version           BIGINT NOT NULL CHECK (version >= 1),
    kind              TEXT NOT NULL,
    artifact_uri      TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    size_bytes        BIGINT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('candidate', 'evaluated', 'challenger', 'champion', 'retired')),
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    annotations       TEXT NOT NULL DEFAULT '{}',
    metrics           TEXT NOT NULL DEFAULT '{}',
    status_changed_at TEXT NOT NULL,
    UNIQUE (model_id, version)
);

-- At most one champion and one challenger per model, enforced by the database.
CREATE UNIQUE INDEX versions_one_champion ON versions (model_id) WHERE status = 'champion';
CREATE UNIQUE INDEX versions_one_challenger ON versions (model_id) WHERE status = 'challenger';
CREATE INDEX versions_by_digest ON versions (model_id, sha256);

CREATE TABLE aliases (
    model_id   BIGINT NOT NULL REFERENCES models(id),
    alias      TEXT NOT NULL,
    version_id BIGINT NOT NULL REFERENCES versions(id),
    PRIMARY KEY (model_id, alias)
);

CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL CHECK (version >= 1),
    uri         TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    row_count   BIGINT NOT NULL,
    schema      TEXT NOT NULL DEFAULT '[]',
    annotations TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX datasets_by_digest ON datasets (name, sha256);

-- The audit log: append-only, enforced by a trigger.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    model       TEXT NOT NULL,
    version     BIGINT,
    kind        TEXT NOT NULL,
    from_status TEXT NOT NULL DEFAULT '',
    to_status   TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_by_model ON events (model, id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
