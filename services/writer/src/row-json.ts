import fastJson from 'fast-json-stringify';
import type { CompletionRow } from './projection.js';

/**
 * A `completions` row as one JSONEachRow line, by a serializer compiled from the row's shape
 * (fast-json-stringify): the same JSON as `JSON.stringify(row)` at ~25 % less CPU per row, measured on 1.6-KB
 * rows. Every column is listed (the Record type makes a column missing here a compile error, and a test checks
 * the output against `JSON.stringify` for rows with nulls, escapes and non-BMP text).
 */
const text = { type: 'string' } as const;
const optionalText = { type: ['string', 'null'] } as const;
const int = { type: 'integer' } as const;
const optionalInt = { type: ['integer', 'null'] } as const;

const columns: Record<keyof CompletionRow, object> = {
  event_id: text,
  source: text,
  completion_id: text,
  project_id: text,
  key_id: optionalText,
  request_id: optionalText,
  container: text,
  model: text,
  provider: text,
  upstream_model: optionalText,
  upstream_id: optionalText,
  stream: int,
  status: text,
  http_status: int,
  error_code: optionalText,
  error_message: optionalText,
  finish_reason: optionalText,
  has_usage: int,
  prompt_tokens: int,
  completion_tokens: int,
  total_tokens: int,
  cached_tokens: optionalInt,
  cache_creation_tokens: optionalInt,
  reasoning_tokens: optionalInt,
  spend_nanos: optionalInt,
  latency_ms: int,
  ttft_ms: optionalInt,
  attempt_count: int,
  attempts_json: text,
  tags: { type: 'array', items: text },
  metadata_json: optionalText,
  trace_json: optionalText,
  trace_id: optionalText,
  request_json: text,
  response_json: optionalText,
  created_at: int,
  created_ms: int,
  kafka_topic: text,
  kafka_partition: int,
  kafka_offset: text,
  inserted_at: int,
};

export const completionRowJson: (row: CompletionRow) => string = fastJson({
  type: 'object',
  properties: columns,
});
