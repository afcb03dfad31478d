-- Usage rollups per project, source, container, model and provider, by hour and by day. Fed only by the inserts
-- into completions (materialized views), which the writer keeps unique: the sums are exact.
-- Measures are named *_sum so that the view's aggregates never alias a source column of the same name
-- (ClickHouse 18.16 resolves `sum(x) AS x` recursively).
CREATE TABLE IF NOT EXISTS {db}.usage_hourly
(
    project_id                String,
    hour                      DateTime('UTC'),
    source                    String,
    container                 String,
    model                     String,
    provider                  String,
    requests                  UInt64,
    errors                    UInt64,
    cancelled                 UInt64,
    prompt_tokens_sum         UInt64,
    completion_tokens_sum     UInt64,
    total_tokens_sum          UInt64,
    cached_tokens_sum         UInt64,
    cache_creation_tokens_sum UInt64,
    reasoning_tokens_sum      UInt64,
    spend_nanos_sum           Int64,
    spend_unknown             UInt64,
    latency_ms_sum            UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project_id, hour, source, container, model, provider);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.usage_hourly_mv TO {db}.usage_hourly
AS SELECT
    project_id,
    toStartOfHour(created_at) AS hour,
    source,
    container,
    model,
    provider,
    count() AS requests,
    countIf(status = 'error') AS errors,
    countIf(status = 'client_cancelled') AS cancelled,
    sum(prompt_tokens) AS prompt_tokens_sum,
    sum(completion_tokens) AS completion_tokens_sum,
    sum(total_tokens) AS total_tokens_sum,
    sum(ifNull(cached_tokens, 0)) AS cached_tokens_sum,
    sum(ifNull(cache_creation_tokens, 0)) AS cache_creation_tokens_sum,
    sum(ifNull(reasoning_tokens, 0)) AS reasoning_tokens_sum,
    sum(ifNull(spend_nanos, 0)) AS spend_nanos_sum,
    countIf(isNull(spend_nanos)) AS spend_unknown,
    sum(latency_ms) AS latency_ms_sum
FROM {db}.completions
GROUP BY project_id, hour, source, container, model, provider;

CREATE TABLE IF NOT EXISTS {db}.usage_daily
(
    project_id                String,
    day                       Date,
    source                    String,
    container                 String,
    model                     String,
    provider                  String,
    requests                  UInt64,
    errors                    UInt64,
    cancelled                 UInt64,
    prompt_tokens_sum         UInt64,
    completion_tokens_sum     UInt64,
    total_tokens_sum          UInt64,
    cached_tokens_sum         UInt64,
    cache_creation_tokens_sum UInt64,
    reasoning_tokens_sum      UInt64,
    spend_nanos_sum           Int64,
    spend_unknown             UInt64,
    latency_ms_sum            UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (project_id, day, source, container, model, provider);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.usage_daily_mv TO {db}.usage_daily
AS SELECT
    project_id,
    toDate(created_at) AS day,
    source,
    container,
    model,
    provider,
    count() AS requests,
    countIf(status = 'error') AS errors,
    countIf(status = 'client_cancelled') AS cancelled,
    sum(prompt_tokens) AS prompt_tokens_sum,
    sum(completion_tokens) AS completion_tokens_sum,
    sum(total_tokens) AS total_tokens_sum,
    sum(ifNull(cached_tokens, 0)) AS cached_tokens_sum,
    sum(ifNull(cache_creation_tokens, 0)) AS cache_creation_tokens_sum,
    sum(ifNull(reasoning_tokens, 0)) AS reasoning_tokens_sum,
    sum(ifNull(spend_nanos, 0)) AS spend_nanos_sum,
    countIf(isNull(spend_nanos)) AS spend_unknown,
    sum(latency_ms) AS latency_ms_sum
FROM {db}.completions
GROUP BY project_id, day, source, container, model, provider;
