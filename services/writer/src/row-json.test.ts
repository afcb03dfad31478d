import type { CompletionEvent } from '@maniac-gateway/schemas';
import { sampleCompletionEvent } from '@maniac-gateway/testkit';
import { describe, expect, it } from 'vitest';
import { projectCompletion, type CompletionRow } from './projection.js';
import { completionRowJson } from './row-json.js';

const event: CompletionEvent = sampleCompletionEvent(1, {
  key_id: 'key_1',
  request_id: 'req_1',
  container: 'support-bot',
  upstream_id: 'chatcmpl-up',
  stream: true,
  usage: {
    prompt_tokens: 10,
    completion_tokens: 20,
    total_tokens: 30,
    cached_tokens: null,
    cache_creation_tokens: 3,
    reasoning_tokens: 4,
  },
  spend_nanos: -5,
  ttft_ms: 120,
  attempts: [
    { provider: 'openai', model: 'gpt-4o', status: 200, error_code: null, message: null, latency_ms: 800 },
  ],
  tags: ['a', 'b'],
  metadata_json: '{"k":"v"}',
  trace_json: '{"id":"tr-1","span_id":"sp"}',
  response_json: '{"id":"chatcmpl-1"}',
});

const position = { topic: 'maniac.completions', partition: 3, offset: '18446744073709551615' };

/** The row's JSON the old way, parsed: what ClickHouse received before this serializer. */
const reference = (row: CompletionRow): unknown => JSON.parse(JSON.stringify(row));

describe('completionRowJson', () => {
  it('writes every column of a row exactly as JSON.stringify does', () => {
    const row = projectCompletion(event, position, 1_767_225_601_000);
    const json = completionRowJson(row);
    expect(JSON.parse(json)).toStrictEqual(reference(row));
    expect(Object.keys(JSON.parse(json) as object)).toEqual(Object.keys(row));
    expect(json).toBe(JSON.stringify(row));
  });

  it('nulls, an empty tag list, and no usage', () => {
    const row = projectCompletion(
      {
        ...event,
        key_id: null,
        request_id: null,
        container: null,
        upstream_model: null,
        upstream_id: null,
        usage: null,
        spend_nanos: null,
        ttft_ms: null,
        tags: [],
        metadata_json: null,
        trace_json: null,
        response_json: null,
        status: 'error',
        error_code: 'upstream_error',
        error_message: 'boom',
        finish_reason: null,
      },
      position,
    );
    expect(JSON.parse(completionRowJson(row))).toStrictEqual(reference(row));
  });

  it('escapes: quotes, backslashes, control characters, lone surrogates, non-BMP text, U+2028', () => {
    const awkward = 'say "hi"\\ \n\t\u0000\u001f \ud800 lone \udfff 😀 \u2028 é ' + 'x'.repeat(100);
    const row = projectCompletion(
      {
        ...event,
        error_message: awkward,
        tags: [awkward, ''],
        request_json: JSON.stringify({ messages: [{ role: 'user', content: awkward }] }),
        metadata_json: JSON.stringify({ k: awkward }),
      },
      position,
    );
    const json = completionRowJson(row);
    expect(JSON.parse(json)).toStrictEqual(reference(row));
    // Well-formed JSON text: a lone surrogate is escaped, never written raw.
    expect(json).not.toMatch(/[\ud800-\udfff]/u);
    expect(json).toBe(JSON.stringify(row));
  });
});
