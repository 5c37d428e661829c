-- Comparison records of a trial lost on the way (SQLite): refused by
-- the registry (invalid) or dropped by a router (never sent), counted per
-- trial, arm, kind and reason. `arm` is '' when the record named no valid
-- arm.

CREATE TABLE trial_record_losses (
    trial_id  INTEGER NOT NULL REFERENCES trials(id),
    arm       TEXT NOT NULL CHECK (arm IN ('', 'champion', 'challenger')),
    kind      TEXT NOT NULL CHECK (kind IN ('refused', 'dropped')),
    reason    TEXT NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (trial_id, arm, kind, reason)
);
