-- The writer's event-id fence: which events are stored, by creation time. The same event re-sent at another
-- offset (a produce whose outcome was unknown, replayed from the spool) has the same event_id and created_ms, and
-- the events of one writer batch were created close together, so a lookup reads the few granules around the
-- batch's time range — its cost does not grow with the table (a lookup by (project_id, completion_id) touches a
-- granule per id, nearly the whole of completions_by_id at millions of rows).
-- Fed by the same INSERT as completions (materialized view). Membership is all that is asked of it, so a repeated
-- backfill (a migration interrupted half-way and applied again) is harmless.
CREATE TABLE IF NOT EXISTS {db}.event_ids
(
    created_ms UInt64,
    event_id   String,
    created_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (created_ms, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_ids_mv TO {db}.event_ids
AS SELECT created_ms, event_id, created_at
FROM {db}.completions;

-- Events stored before this table existed (the view above is created first, so nothing falls in between).
INSERT INTO {db}.event_ids SELECT created_ms, event_id, created_at FROM {db}.completions;
