import type { CompletionEvent } from '@maniac-gateway/schemas';
import { describe, expect, it } from 'vitest';
import { ProjectionError, projectCompletion, traceIdOf } from './projection.js';

const event: CompletionEvent = {
  event_id: '0b6f1c1e-5f43-4d6b-9a53-0a1f0f7c2a11',
  source: 'completion',
  completion_id: 'chatcmpl-1',
  project_id: 'proj_1',
  key_id: 'key_1',
  request_id: 'req_1',
  container: null,
  model: 'openai/gpt-4o',
  provider: 'openai',
  upstream_model: 'gpt-4o-2024-08-06',
  upstream_id: 'chatcmpl-up',
  stream: true,
  status: 'success',
  http_status: 200,
  error_code: null,
  error_message: null,
  finish_reason: 'stop',
  usage: {
    prompt_tokens: 10,
    completion_tokens: 20,
    total_tokens: 30,
    cached_tokens: null,
    cache_creation_tokens: 3,
    reasoning_tokens: 4,
  },
  spend_nanos: null,
  latency_ms: 812,
  ttft_ms: 120,
  attempts: [
    { provider: 'openai', model: 'gpt-4o', status: 200, error_code: null, message: null, latency_ms: 800 },
  ],
  tags: ['a', 'b'],
  metadata_json: '{"k":"v"}',
  trace_json: '{"id":"tr-1","span_id":"sp"}',
  request_json: '{"model":"openai/gpt-4o","messages":[]}',
  response_json: null,
  created_ms: 1_767_225_600_123,
};
const position = { topic: 'maniac.completions', partition: 3, offset: '9007199254740993' };

describe('projectCompletion', () => {
  it('maps every field and records the Kafka position', () => {
    const row = projectCompletion(event, position, 1_767_225_601_000);
    expect(row).toMatchObject({
      container: '',
      model: 'openai/gpt-4o',
      stream: 1,
      has_usage: 1,
      prompt_tokens: 10,
      cached_tokens: null,
      cache_creation_tokens: 3,
      reasoning_tokens: 4,
      spend_nanos: null,
      attempt_count: 1,
      trace_id: 'tr-1',
      created_at: 1_767_225_600,
      created_ms: 1_767_225_600_123,
      kafka_topic: 'maniac.completions',
      kafka_partition: 3,
      kafka_offset: '9007199254740993',
      inserted_at: 1_767_225_601,
    });
    expect(JSON.parse(row.attempts_json)).toEqual(event.attempts);
  });

  it('stores zeros and a flag when usage is unknown', () => {
    const row = projectCompletion({ ...event, usage: null }, position);
    expect(row).toMatchObject({ has_usage: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    expect(row.cached_tokens).toBeNull();
  });

  it('rejects events that cannot be rows', () => {
    expect(() => projectCompletion({ ...event, event_id: '' }, position)).toThrow(ProjectionError);
    expect(() => projectCompletion({ ...event, created_ms: -1 }, position)).toThrow(ProjectionError);
    expect(() => projectCompletion({ ...event, created_ms: 5e12 }, position)).toThrow(ProjectionError);
    expect(() =>
      projectCompletion({ ...event, usage: { ...event.usage!, prompt_tokens: -1 } }, position),
    ).toThrow(/usage.prompt_tokens/);
  });

  it('extracts the trace id only from valid trace JSON', () => {
    expect(traceIdOf(null)).toBeNull();
    expect(traceIdOf('not json')).toBeNull();
    expect(traceIdOf('{"id":42}')).toBeNull();
    expect(traceIdOf('{"id":"x"}')).toBe('x');
  });
});
