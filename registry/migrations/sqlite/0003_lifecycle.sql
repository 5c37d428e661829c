-- The champion each version replaced when it was promoted: the chain a
-- rollback walks back (NULL: the version replaced none, or was never
-- promoted). Set by the lifecycle plan on every promotion.
ALTER TABLE versions ADD COLUMN previous_champion BIGINT;

-- Promotions made before this column existed: the champion a promotion
-- retired has the event "replaced by version N" (from a transition, or
-- "replaced by version N; …" from a trial stopped with promote).
UPDATE versions SET previous_champion = (
    SELECT e.version FROM events e JOIN models m ON m.name = e.model
    WHERE m.id = versions.model_id AND e.kind = 'transition'
      AND e.from_status = 'champion' AND e.to_status = 'retired'
      AND (e.reason = 'replaced by version ' || versions.version
           OR e.reason LIKE ('replaced by version ' || versions.version || ';%'))
    ORDER BY e.id DESC LIMIT 1
);
