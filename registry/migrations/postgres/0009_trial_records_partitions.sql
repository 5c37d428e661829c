-- Raw comparison records partitioned by `day`, the UTC day of `at`
-- (PostgreSQL; the ingest writes it beside `at`),
-- so record retention drops whole days (DROP TABLE of a partition: no
-- row-by-row DELETE, no dead tuples, no vacuum debt) and an insert touches
-- one day's indexes. Partitions are named `trial_records_pYYYYMMDD` and
-- hold [day 00:00 UTC, next day 00:00 UTC); `trial_records_default` takes
-- what no day partition covers (records far in the past or future). The
-- registry creates the partitions of yesterday to the day after tomorrow
-- at start and at every retention pass (registry/src/trials/partitions.rs),
-- carving rows that already landed in the default out into the new day.
--
-- A partitioned table's primary key must contain the partition key, so it
-- is (record_id, day): a record resent the same UTC day is stored once,
-- and a router's resend (the same record, its time included) always is.
--
-- Existing records move into day partitions (the last 31 days, and up to
-- the latest record; older ones into the default) inside this migration.

ALTER TABLE trial_records RENAME TO trial_records_unpartitioned;
ALTER TABLE trial_records_unpartitioned RENAME CONSTRAINT trial_records_pkey TO trial_records_unpartitioned_pkey;
ALTER TABLE trial_records_unpartitioned RENAME CONSTRAINT trial_records_trial_id_fkey TO trial_records_unpartitioned_trial_id_fkey;
ALTER TABLE trial_records_unpartitioned RENAME CONSTRAINT trial_records_served_check TO trial_records_unpartitioned_served_check;
ALTER INDEX trial_records_by_trial RENAME TO trial_records_unpartitioned_by_trial;
ALTER INDEX trial_records_by_time RENAME TO trial_records_unpartitioned_by_time;

CREATE TABLE trial_records (
    record_id                TEXT NOT NULL,
    trial_id                 BIGINT NOT NULL REFERENCES trials(id),
    request_id               TEXT NOT NULL,
    at                       TIMESTAMPTZ NOT NULL,
    routing_key_hash         BIGINT NOT NULL,
    served                   TEXT NOT NULL CHECK (served IN ('champion', 'challenger')),
    champion_version         BIGINT,
    champion_scores          TEXT,
    champion_labels          TEXT,
    champion_latency_us      BIGINT,
    champion_status          INTEGER,
    challenger_version       BIGINT,
    challenger_scores        TEXT,
    challenger_labels        TEXT,
    challenger_latency_us    BIGINT,
    challenger_status        INTEGER,
    day                      DATE NOT NULL,
    PRIMARY KEY (record_id, day)
) PARTITION BY RANGE (day);
CREATE INDEX trial_records_by_trial ON trial_records (trial_id);
CREATE INDEX trial_records_by_time ON trial_records (at);
CREATE TABLE trial_records_default PARTITION OF trial_records DEFAULT;

DO $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    first date;
    last date;
    d date;
BEGIN
    SELECT GREATEST(COALESCE(MIN((at AT TIME ZONE 'UTC')::date), today), today - 31),
           GREATEST(COALESCE(MAX((at AT TIME ZONE 'UTC')::date), today), today + 2)
      INTO first, last
      FROM trial_records_unpartitioned;
    d := first;
    WHILE d <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF trial_records FOR VALUES FROM (%L) TO (%L)',
            'trial_records_p' || to_char(d, 'YYYYMMDD'),
            d, d + 1);
        d := d + 1;
    END LOOP;
END $$;

INSERT INTO trial_records (
    record_id, trial_id, request_id, at, routing_key_hash, served,
    champion_version, champion_scores, champion_labels, champion_latency_us, champion_status,
    challenger_version, challenger_scores, challenger_labels, challenger_latency_us, challenger_status,
    day)
SELECT
    record_id, trial_id, request_id, at, routing_key_hash, served,
    champion_version, champion_scores, champion_labels, champion_latency_us, champion_status,
    challenger_version, challenger_scores, challenger_labels, challenger_latency_us, challenger_status,
    (at AT TIME ZONE 'UTC')::date
FROM trial_records_unpartitioned;

DROP TABLE trial_records_unpartitioned;
