-- The writer's own record of how far each topic-partition has been projected: the highest Kafka offset whose
-- event is stored (or dead-lettered). Written by the same INSERT as the rows (materialized view), so "rows
-- stored" and "offset recorded" cannot disagree after a writer crash; the writer resumes from here, and Kafka's
-- committed offset is only a hint. ReplacingMergeTree(last_offset) keeps the highest; readers take max().
-- 18.16 does not fill DEFAULT columns of a view's target (the INSERT would fail after storing the rows), so
-- every view selects every column of its target.
CREATE TABLE IF NOT EXISTS {db}.kafka_offsets
(
    kafka_topic     String,
    kafka_partition UInt32,
    last_offset     UInt64,
    updated_at      DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(last_offset)
ORDER BY (kafka_topic, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_offsets_mv TO {db}.kafka_offsets
AS SELECT kafka_topic, kafka_partition, max(kafka_offset) AS last_offset, now() AS updated_at
FROM {db}.completions
GROUP BY kafka_topic, kafka_partition;
