import type { CompletionEvent } from '@maniac-gateway/schemas';

/**
 * A completion event → one row of `completions` (column names as in infra/clickhouse/migrations/001). Pure: the
 * Kafka position is passed in and recorded on the row, which is what makes the writer's resume exact.
 */

export interface KafkaPosition {
  topic: string;
  partition: number;
  /** The message offset (kafkajs gives a decimal string). */
  offset: string;
}

export interface CompletionRow {
  event_id: string;
  source: string;
  completion_id: string;
  project_id: string;
  key_id: string | null;
  request_id: string | null;
  container: string;
  model: string;
  provider: string;
  upstream_model: string | null;
  upstream_id: string | null;
  stream: number;
  status: string;
  http_status: number;
  error_code: string | null;
  error_message: string | null;
  finish_reason: string | null;
  has_usage: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number | null;
  cache_creation_tokens: number | null;
  reasoning_tokens: number | null;
  spend_nanos: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  attempt_count: number;
  attempts_json: string;
  tags: string[];
  metadata_json: string | null;
  trace_json: string | null;
  trace_id: string | null;
  request_json: string;
  response_json: string | null;
  /** Unix seconds (DateTime). */
  created_at: number;
  created_ms: number;
  kafka_topic: string;
  kafka_partition: number;
  /** Decimal string: UInt64 does not fit a JS number in general. */
  kafka_offset: string;
  /** Unix seconds; set by the writer (ClickHouse 18.16 does not apply DEFAULT to fields omitted in JSONEachRow). */
  inserted_at: number;
}

/** The event is decodable but cannot be a row (it goes to the dead-letter topic with this reason). */
export class ProjectionError extends Error {
  override name = 'ProjectionError';
}

/** DateTime covers 1970-01-01 … 2105-12-31. */
const MAX_DATETIME_MS = 4_291_747_199_000;

function nonEmpty(value: string, field: string): string {
  if (value.length === 0) throw new ProjectionError(`${field} is empty`);
  return value;
}

function count(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ProjectionError(`${field} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

function optionalCount(value: number | null | undefined, field: string): number | null {
  return value === null || value === undefined ? null : count(value, field);
}

/** The `id` of a TraceContext stored as JSON, or null. */
export function traceIdOf(traceJson: string | null): string | null {
  if (traceJson === null) return null;
  try {
    const trace: unknown = JSON.parse(traceJson);
    if (typeof trace === 'object' && trace !== null && 'id' in trace && typeof trace.id === 'string') {
      return trace.id;
    }
  } catch {
    // Stored as received; the read side tolerates invalid JSON too.
  }
  return null;
}

export function projectCompletion(
  event: CompletionEvent,
  position: KafkaPosition,
  nowMs: number = Date.now(),
): CompletionRow {
  if (!Number.isSafeInteger(event.created_ms) || event.created_ms < 0 || event.created_ms > MAX_DATETIME_MS) {
    throw new ProjectionError(`created_ms out of range: ${String(event.created_ms)}`);
  }
  if (!/^\d+$/.test(position.offset)) throw new ProjectionError(`bad Kafka offset ${position.offset}`);
  const usage = event.usage;
  return {
    event_id: nonEmpty(event.event_id, 'event_id'),
    source: event.source,
    completion_id: nonEmpty(event.completion_id, 'completion_id'),
    project_id: nonEmpty(event.project_id, 'project_id'),
    key_id: event.key_id,
    request_id: event.request_id,
    container: event.container ?? '',
    model: event.model ?? '',
    provider: event.provider ?? '',
    upstream_model: event.upstream_model,
    upstream_id: event.upstream_id,
    stream: event.stream ? 1 : 0,
    status: event.status,
    http_status: event.http_status,
    error_code: event.error_code,
    error_message: event.error_message,
    finish_reason: event.finish_reason,
    has_usage: usage ? 1 : 0,
    prompt_tokens: usage ? count(usage.prompt_tokens, 'usage.prompt_tokens') : 0,
    completion_tokens: usage ? count(usage.completion_tokens, 'usage.completion_tokens') : 0,
    total_tokens: usage ? count(usage.total_tokens, 'usage.total_tokens') : 0,
    cached_tokens: optionalCount(usage?.cached_tokens, 'usage.cached_tokens'),
    cache_creation_tokens: optionalCount(usage?.cache_creation_tokens, 'usage.cache_creation_tokens'),
    reasoning_tokens: optionalCount(usage?.reasoning_tokens, 'usage.reasoning_tokens'),
    spend_nanos: event.spend_nanos,
    latency_ms: Math.max(0, Math.trunc(event.latency_ms)),
    ttft_ms: event.ttft_ms === null ? null : Math.max(0, Math.trunc(event.ttft_ms)),
    attempt_count: Math.min(event.attempts.length, 65_535),
    attempts_json: JSON.stringify(event.attempts),
    tags: event.tags,
    metadata_json: event.metadata_json,
    trace_json: event.trace_json,
    trace_id: traceIdOf(event.trace_json),
    request_json: event.request_json,
    response_json: event.response_json,
    created_at: Math.floor(event.created_ms / 1000),
    created_ms: event.created_ms,
    kafka_topic: position.topic,
    kafka_partition: position.partition,
    kafka_offset: position.offset,
    inserted_at: Math.floor(nowMs / 1000),
  };
}
