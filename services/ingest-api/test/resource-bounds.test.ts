import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventCollector,
  MockUpstream,
  openAiResponse,
  openAiStream,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

/**
 * Resource bounds of the request path, each configurable (README "Reliability and security"): body size (413),
 * header size (431, Node's limit), messages and tools per request (422 too_long), stream duration (the
 * provider's `timeouts.total_ms`: the stream ends with an error frame), and values an event cannot hold
 * (register: a per-item error, found by fuzzing — it was a 500).
 */

let mock: MockUpstream;
let gw: TestHost;
let events: EventCollector;
const MAX_MESSAGES = 5;
const MAX_TOOLS = 2;

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // SSE
  }
  return { status: res.status, json, text };
}

const msgs = (n: number) => Array.from({ length: n }, (_, i) => ({ role: 'user', content: `m${i}` }));
const tools = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'function',
    function: { name: `f${i}`, parameters: { type: 'object', properties: {} } },
  }));

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const config = testConfig({
    providers: {
      openai: { base_url: mock.url, api_key: 'sk-bounds' },
      slow: { base_url: mock.url, api_key: 'sk-bounds', timeouts: { total_ms: 600 } },
    },
    containers: [{ label: 'math', model: 'openai/gpt-4o-mini' }],
    extra: {
      server: {
        host: '127.0.0.1',
        port: 0,
        body_limit_mb: 0.05,
        max_messages: MAX_MESSAGES,
        max_tools: MAX_TOOLS,
        max_upstream_response_mb: 0.02,
      },
    },
  });
  gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
  events = new EventCollector(config.kafka.topics.completions);
  await events.start();
});

afterAll(async () => {
  await events?.stop();
  await gw?.stop();
  await mock?.stop();
});

describe('request size', () => {
  it('a body beyond server.body_limit_mb is 413 payload_too_large', async () => {
    const big = 'x'.repeat(60 * 1024);
    const res = await post('/v1/chat/completions', {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: big }],
    });
    expect(res.status).toBe(413);
    expect(res.json.error).toMatchObject({ code: 'payload_too_large' });
  });

  it('headers beyond 16 KB are refused by the HTTP server (431)', async () => {
    const res = await post(
      '/v1/chat/completions',
      { model: 'openai/gpt-4o-mini', messages: msgs(1) },
      { 'x-padding': 'y'.repeat(20 * 1024) },
    );
    expect(res.status).toBe(431);
  });

  it('more messages or tools than configured are 422 too_long, before any upstream call', async () => {
    mock.reset();
    const tooMany = await post('/v1/chat/completions', { model: 'openai/gpt-4o-mini', messages: msgs(6) });
    expect(tooMany.status).toBe(422);
    expect(tooMany.json.detail).toEqual([
      {
        type: 'too_long',
        loc: ['body', 'messages'],
        msg: `List should have at most ${MAX_MESSAGES} items after validation, not 6`,
        ctx: { field_type: 'List', max_length: MAX_MESSAGES, actual_length: 6 },
      },
    ]);
    const tooManyTools = await post('/v1/chat/completions', {
      model: 'openai/gpt-4o-mini',
      messages: msgs(1),
      tools: tools(3),
    });
    expect(tooManyTools.status).toBe(422);
    expect((tooManyTools.json.detail as { loc: string[] }[])[0]?.loc).toEqual(['body', 'tools']);
    expect(mock.requests).toHaveLength(0);
    // At the limit: served.
    const atLimit = await post('/v1/chat/completions', {
      model: 'openai/gpt-4o-mini',
      messages: msgs(MAX_MESSAGES),
      tools: tools(MAX_TOOLS),
    });
    expect(atLimit.status).toBe(200);
  });

  it('authentication comes first: no key with too many messages is 401', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: msgs(50) }),
    });
    expect(res.status).toBe(401);
  });
});

describe('stream duration', () => {
  it('a stream longer than the provider timeouts.total_ms ends with an error frame and [DONE]', async () => {
    mock.script('long', {
      kind: 'sse',
      events: openAiStream({ pieces: Array.from({ length: 30 }, (_, i) => `p${i}`) }),
      intervalMs: 50,
    });
    const started = Date.now();
    const res = await post('/v1/chat/completions', { model: 'slow/long', messages: msgs(1), stream: true });
    expect(res.status).toBe(200);
    const frames = res.text
      .split('\n\n')
      .filter((f) => f.startsWith('data: '))
      .map((f) => f.slice(6));
    expect(frames.at(-1)).toBe('[DONE]');
    const error = JSON.parse(frames.at(-2) ?? '{}') as { error?: { code: string } };
    expect(error.error?.code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('upstream response size', () => {
  it('a JSON answer beyond server.max_upstream_response_mb fails the attempt (503, upstream_too_large)', async () => {
    mock.script('huge', { kind: 'json', body: openAiResponse({ content: 'z'.repeat(40_000) }) });
    const res = await post('/v1/chat/completions', { model: 'openai/huge', messages: msgs(1) });
    expect(res.status).toBe(503);
    expect(res.json.error).toMatchObject({
      code: 'upstream_unavailable',
      details: { attempts: [expect.objectContaining({ error_code: 'upstream_too_large' })] },
    });
  });

  it('a stream beyond it ends with an upstream_too_large error frame and [DONE]', async () => {
    mock.script('huge-stream', {
      kind: 'sse',
      events: openAiStream({ pieces: Array.from({ length: 60 }, () => 'w'.repeat(1_000)) }),
    });
    const res = await post('/v1/chat/completions', {
      model: 'openai/huge-stream',
      messages: msgs(1),
      stream: true,
    });
    expect(res.status).toBe(200);
    const frames = res.text
      .split('\n\n')
      .filter((f) => f.startsWith('data: '))
      .map((f) => f.slice(6));
    expect(frames.at(-1)).toBe('[DONE]');
    expect((JSON.parse(frames.at(-2) ?? '{}') as { error?: { code: string } }).error?.code).toBe(
      'upstream_too_large',
    );
  });
});

describe('values an event cannot hold', () => {
  it('register: a token count beyond a 64-bit long fails that item only (was a 500)', async () => {
    const item = (id: string, promptTokens: number) => ({
      input: { model: 'openai/gpt-4o-mini', messages: msgs(1) },
      output: {
        id,
        model: 'openai/gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: 1, total_tokens: promptTokens + 1 },
      },
    });
    const res = await post('/v1/chat/completions/register', {
      container: 'math',
      items: [item('rb-ok', 3), item('rb-huge', 26_272_256_687_521_428)],
    });
    expect(res.status).toBe(200);
    expect(res.json.summary).toMatchObject({ received: 2, inserted: 1, failed: 1 });
    expect(res.json.errors).toEqual([
      expect.objectContaining({ index: 1, loc: ['body', 'items', 1], type: 'value_error' }),
    ]);
    await events.waitFor((e) => e.completion_id === 'rb-ok');
    expect(events.byCompletionId('rb-huge')).toHaveLength(0);
  });
});
