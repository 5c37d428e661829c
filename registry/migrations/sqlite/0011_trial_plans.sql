-- Progressive rollouts: a trial's plan (JSON, registry/src/trials/plan.rs)
-- and the controller's state. step is the index of the running step
-- (= the number of steps done); every controller action is a
-- compare-and-set on it in the transaction that changes the trial and
-- writes the audit event, so a replica replaced mid-step can neither skip
-- nor repeat a step. approval: '' none, 'pending', 'granted'.

CREATE TABLE trial_plans (
    trial_id        BIGINT PRIMARY KEY REFERENCES trials(id),
    plan            TEXT NOT NULL,
    step            INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),
    step_started_at TEXT NOT NULL,
    paused          BOOLEAN NOT NULL DEFAULT FALSE,
    approval        TEXT NOT NULL DEFAULT '' CHECK (approval IN ('', 'pending', 'granted')),
    note            TEXT NOT NULL DEFAULT ''
);

-- Which registry replica runs a trial's controller, until when. Taken and
-- renewed with a compare-and-set (holder = me OR expires_ms < now).
CREATE TABLE trial_leases (
    trial_id   BIGINT PRIMARY KEY REFERENCES trials(id),
    holder     TEXT NOT NULL,
    -- Unix milliseconds.
    expires_ms BIGINT NOT NULL
);
