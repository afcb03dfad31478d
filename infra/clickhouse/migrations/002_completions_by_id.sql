-- Get-by-id without scanning a project's history: (project_id, completion_id) → the main table's sort key.
-- Fed by the same INSERT as completions (materialized view), so it is exactly as unique as the rows.
CREATE TABLE IF NOT EXISTS {db}.completions_by_id
(
    project_id    String,
    completion_id String,
    created_at    DateTime('UTC'),
    created_ms    UInt64,
    event_id      String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, completion_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.completions_by_id_mv TO {db}.completions_by_id
AS SELECT project_id, completion_id, created_at, created_ms, event_id
FROM {db}.completions;
