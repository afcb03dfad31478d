-- One row per completion event (captured by ingest-api, or registered). The projection of the completions topic.
--
-- ReplacingMergeTree keyed on the event: a replayed event collapses onto its first copy at merge time. That is
-- only the safety net; the writer's offset bookkeeping (kafka_offsets) keeps inserts unique, so reads need no
-- FINAL. Ordered for project-scoped time listing; a small granularity because rows are wide (request/response
-- bodies) and reads fetch a page of adjacent rows. container/model/provider are '' when absent (a container
-- label and a model slug are never empty), so filters and rollup keys need no Nullable handling.
CREATE TABLE IF NOT EXISTS {db}.completions
(
    event_id              String,
    source                String,
    completion_id         String,
    project_id            String,
    key_id                Nullable(String),
    request_id            Nullable(String),
    container             String,
    model                 String,
    provider              String,
    upstream_model        Nullable(String),
    upstream_id           Nullable(String),
    stream                UInt8,
    status                String,
    http_status           Int32,
    error_code            Nullable(String),
    error_message         Nullable(String),
    finish_reason         Nullable(String),
    has_usage             UInt8,
    prompt_tokens         UInt64,
    completion_tokens     UInt64,
    total_tokens          UInt64,
    cached_tokens         Nullable(UInt64),
    cache_creation_tokens Nullable(UInt64),
    reasoning_tokens      Nullable(UInt64),
    spend_nanos           Nullable(Int64),
    latency_ms            UInt64,
    ttft_ms               Nullable(UInt64),
    attempt_count         UInt16,
    attempts_json         String,
    tags                  Array(String),
    metadata_json         Nullable(String),
    trace_json            Nullable(String),
    trace_id              Nullable(String),
    request_json          String,
    response_json         Nullable(String),
    created_at            DateTime('UTC'),
    created_ms            UInt64,
    kafka_topic           String,
    kafka_partition       UInt32,
    kafka_offset          UInt64,
    inserted_at           DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, created_at, completion_id, event_id)
SETTINGS index_granularity = 1024;
