import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import {
  EventCollector,
  MockUpstream,
  openAiResponse,
  openAiStream,
  pollUntil,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

let mock: MockUpstream;
let backup: MockUpstream;
let gw: TestHost;
let events: EventCollector;

async function post(body: unknown, opts: { key?: string | null; path?: string; raw?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = opts.key === undefined ? gw.apiKey : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${gw.url}${opts.path ?? '/v1/chat/completions'}`, {
    method: 'POST',
    headers,
    body: opts.raw ?? JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { status: res.status, headers: res.headers, json, text };
}

function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .map((block) => block.trim())
    .filter((b) => b.startsWith('data: '))
    .map((b) => b.slice('data: '.length));
}

const msgs = [{ role: 'user', content: 'Say hello' }];

beforeAll(async () => {
  mock = new MockUpstream();
  backup = new MockUpstream();
  await mock.start();
  await backup.start();
  const config = testConfig({
    providers: {
      openai: { base_url: mock.url, api_key: 'sk-test-openai' },
      groq: { base_url: backup.url, api_key: 'gsk-test', timeouts: { first_byte_ms: 1_000 } },
    },
    containers: [
      {
        label: 'support-bot',
        model: 'openai/gpt-4o-mini',
        fallback_models: ['groq/llama-3.1-8b-instant'],
        system_prompt: 'You are the support bot.',
        params: { temperature: 0.1, max_tokens: 50 },
      },
    ],
  });
  gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
  events = new EventCollector(config.kafka.topics.completions);
  await events.start();
});

afterAll(async () => {
  await events?.stop();
  await gw?.stop();
  await mock?.stop();
  await backup?.stop();
});

beforeEach(() => {
  mock.reset();
  backup.reset();
});

describe('POST /v1/chat/completions (non-streaming)', () => {
  it('serves a ChatRes with provider, container and canonical model, and emits one event', async () => {
    const res = await post({ model: 'openai:gpt-4o-mini', messages: msgs, tags: ['t1'], metadata: { a: 1 } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = res.json;
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('openai/gpt-4o-mini');
    expect(body.provider).toBe('openai');
    expect(body.container).toBeNull();
    expect(String(body.id)).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(body).not.toHaveProperty('system_fingerprint');
    const choice = (body.choices as Record<string, unknown>[])[0] as Record<string, unknown>;
    expect(choice.finish_reason).toBe('stop');
    expect((choice.message as Record<string, unknown>).content).toBe('Hello from the mock upstream.');
    expect(body.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });

    const sent = mock.requests[0]?.body ?? {};
    expect(sent.model).toBe('gpt-4o-mini');
    expect(sent).not.toHaveProperty('tags');
    expect(sent).not.toHaveProperty('metadata');
    expect(sent).not.toHaveProperty('store');
    expect(mock.requests[0]?.headers.authorization).toBe('Bearer sk-test-openai');

    const event = await events.waitFor((e) => e.completion_id === body.id);
    expect(event).toMatchObject({
      source: 'completion',
      project_id: gw.projectId,
      model: 'openai/gpt-4o-mini',
      provider: 'openai',
      upstream_model: 'gpt-4o-mini',
      status: 'success',
      http_status: 200,
      stream: false,
      tags: ['t1'],
      finish_reason: 'stop',
    });
    expect(event.usage).toMatchObject({
      prompt_tokens: 12,
      completion_tokens: 7,
      total_tokens: 19,
      cached_tokens: 0,
    });
    expect(event.upstream_id).toMatch(/^chatcmpl-UP/);
    expect(JSON.parse(event.metadata_json ?? 'null')).toEqual({ a: 1 });
    expect(JSON.parse(event.response_json ?? '{}').id).toBe(body.id);
    expect(event.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('forwards every OpenAI parameter with its meaning intact', async () => {
    const tools = [
      {
        type: 'function',
        function: { name: 'get_weather', description: 'w', parameters: { type: 'object' } },
      },
    ];
    const req = {
      model: 'openai/gpt-4o',
      messages: [
        { role: 'developer', content: 'dev' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hi' },
            { type: 'image_url', image_url: { url: 'https://x/y.png' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 's', schema: { type: 'object' }, strict: true },
      },
      logprobs: true,
      top_logprobs: 2,
      logit_bias: { '50256': -100 },
      frequency_penalty: 0.5,
      presence_penalty: 0.2,
      seed: 7,
      stop: ['\n\n'],
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 20,
      max_completion_tokens: 30,
      reasoning: { effort: 'low' },
      n: 1,
      user: 'u-1',
      service_tier: 'auto',
      temperature_unused: undefined,
    };
    const res = await post(req);
    expect(res.status).toBe(200);
    const sent = mock.requests[0]?.body ?? {};
    for (const k of [
      'messages',
      'tools',
      'tool_choice',
      'parallel_tool_calls',
      'response_format',
      'logprobs',
      'top_logprobs',
      'logit_bias',
      'frequency_penalty',
      'presence_penalty',
      'seed',
      'stop',
      'temperature',
      'top_p',
      'max_tokens',
      'max_completion_tokens',
      'n',
      'user',
      'service_tier',
    ] as const) {
      expect(sent[k], k).toEqual((req as Record<string, unknown>)[k]);
    }
    expect(sent.reasoning_effort).toBe('low');
    expect(sent).not.toHaveProperty('reasoning');
    expect(sent.model).toBe('gpt-4o');
  });

  it('routes containers: model, system prompt, default params the request may override', async () => {
    const res = await post({ model: 'maniac:support-bot', messages: msgs, max_tokens: 99 });
    expect(res.status).toBe(200);
    expect(res.json.container).toBe('support-bot');
    expect(res.json.model).toBe('openai/gpt-4o-mini');
    const sent = mock.requests[0]?.body ?? {};
    expect(sent.messages).toEqual([{ role: 'system', content: 'You are the support bot.' }, ...msgs]);
    expect(sent.temperature).toBe(0.1);
    expect(sent.max_tokens).toBe(99);

    mock.reset();
    const own = await post({
      model: 'maniac/support-bot',
      messages: [{ role: 'system', content: 'mine' }, ...msgs],
    });
    expect(own.status).toBe(200);
    expect((mock.requests[0]?.body.messages as unknown[]).length).toBe(2);
  });

  it('pins a model inside a container with maniac:<label>:<slug>', async () => {
    const res = await post({ model: 'maniac:support-bot:groq/llama-3.3-70b', messages: msgs });
    expect(res.status).toBe(200);
    expect(res.json.model).toBe('groq/llama-3.3-70b');
    expect(res.json.container).toBe('support-bot');
    expect(backup.requests[0]?.body.model).toBe('llama-3.3-70b');
  });

  it('falls back on 5xx, 429, timeouts and resets, listing the attempts', async () => {
    mock.script('gpt-4o', { kind: 'error', status: 500 });
    backup.script('llama-a', { kind: 'reset' });
    backup.script('llama-b', { kind: 'hang' });
    backup.script('llama-c', { kind: 'error', status: 429 });
    const res = await post({
      model: 'openai/gpt-4o',
      models: ['groq/llama-a', 'groq/llama-b', 'groq/llama-c', 'openai/gpt-4o-mini'],
      messages: msgs,
    });
    expect(res.status).toBe(200);
    expect(res.json.model).toBe('openai/gpt-4o-mini');
    const event = await events.waitFor((e) => e.completion_id === res.json.id);
    expect(event.attempts.map((a) => [a.model, a.status, a.error_code])).toEqual([
      ['openai/gpt-4o', 500, 'upstream_http_500'],
      ['groq/llama-a', null, 'upstream_reset'],
      ['groq/llama-b', null, 'upstream_timeout'],
      ['groq/llama-c', 429, 'upstream_http_429'],
      ['openai/gpt-4o-mini', 200, null],
    ]);
  });

  it('does not fall back on upstream 400 and reports it', async () => {
    mock.script('gpt-4o', { kind: 'error', status: 400, body: { error: { message: 'bad tool schema' } } });
    const res = await post({ model: 'openai/gpt-4o', models: ['groq/llama-a'], messages: msgs });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'upstream_bad_request' });
    expect(String((res.json.error as Record<string, unknown>).message)).toContain('bad tool schema');
    expect(backup.requests).toHaveLength(0);
  });

  it('503 upstream_unavailable when every attempt fails, with details.attempts', async () => {
    mock.script('gpt-4o', { kind: 'error', status: 502 });
    backup.script('llama-a', { kind: 'error', status: 503 });
    const res = await post({ model: 'openai/gpt-4o', models: ['groq/llama-a'], messages: msgs });
    expect(res.status).toBe(503);
    const error = res.json.error as { code: string; details: { attempts: unknown[]; request_id: string } };
    expect(error.code).toBe('upstream_unavailable');
    expect(error.details.attempts).toHaveLength(2);
    expect(error.details.request_id).toBe(res.headers.get('x-request-id'));
    const event = await events.waitFor((e) => e.request_id === error.details.request_id);
    expect(event).toMatchObject({ status: 'error', http_status: 503, error_code: 'upstream_unavailable' });
  });

  it('429 upstream_rate_limited with Retry-After when every attempt was rate limited', async () => {
    mock.script('gpt-4o', { kind: 'error', status: 429, headers: { 'retry-after': '7' } });
    backup.script('llama-a', { kind: 'error', status: 429 });
    const res = await post({ model: 'openai/gpt-4o', models: ['groq/llama-a'], messages: msgs });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect((res.json.error as Record<string, unknown>).code).toBe('upstream_rate_limited');
  });

  it('404 model_not_found for unknown providers and containers', async () => {
    for (const model of ['nope/gpt', 'maniac:missing', 'gpt-4o']) {
      const res = await post({ model, messages: msgs });
      expect(res.status, model).toBe(404);
      expect((res.json.error as Record<string, unknown>).code).toBe('model_not_found');
    }
  });

  it('usage no event can hold (beyond 2^53, negative) is recorded as unknown, never a 500', async () => {
    mock.script('gpt-4o', {
      kind: 'json',
      body: openAiResponse({ usage: { prompt_tokens: 2 ** 60, completion_tokens: -3 } }),
    });
    const res = await post({ model: 'openai/gpt-4o', messages: msgs });
    expect(res.status).toBe(200);
    const event = await events.waitFor((e) => e.completion_id === res.json.id);
    expect(event.usage).toBeNull();
    expect(event.spend_nanos).toBeNull();
  });

  it('store:false produces no event', async () => {
    const res = await post({ model: 'openai/gpt-4o-mini', messages: msgs, store: false });
    expect(res.status).toBe(200);
    const marker = await post({ model: 'openai/gpt-4o-mini', messages: msgs });
    await events.waitFor((e) => e.completion_id === marker.json.id);
    expect(events.byCompletionId(String(res.json.id))).toHaveLength(0);
  });
});

describe('POST /v1/chat/completions (streaming)', () => {
  it('keeps the upstream connection alive across streamed requests (the body is drained after [DONE])', async () => {
    // Regression: the body was destroyed once [DONE] was read, which closes the socket — a new TCP (in
    // production, TLS) handshake before every streamed request.
    // The body ends a little after [DONE], as it can over a real network.
    mock.script('gpt-4o-keepalive', {
      kind: 'sse',
      events: openAiStream({ pieces: ['Hel', 'lo'] }),
      endDelayMs: 30,
    });
    await post({ model: 'openai/gpt-4o-keepalive', messages: msgs, stream: true });
    const before = mock.connectionsAccepted;
    for (let i = 0; i < 8; i++) {
      await pollUntil(() => (mock.activeResponses === 0 ? true : undefined), { timeoutMs: 5_000 });
      const res = await post({ model: 'openai/gpt-4o-keepalive', messages: msgs, stream: true });
      expect(sseData(res.text).at(-1)).toBe('[DONE]');
    }
    expect(mock.connectionsAccepted - before).toBeLessThanOrEqual(1);
  });

  it('streams chunks with our id/model/provider and [DONE], and emits the assembled message', async () => {
    const res = await post({ model: 'openai/gpt-4o-mini', messages: msgs, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const data = sseData(res.text);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>);
    const id = chunks[0]?.id;
    expect(String(id)).toMatch(/^chatcmpl-/);
    for (const c of chunks) {
      expect(c).toMatchObject({
        id,
        object: 'chat.completion.chunk',
        model: 'openai/gpt-4o-mini',
        provider: 'openai',
      });
      expect(c).not.toHaveProperty('usage');
    }
    expect(chunks.every((c) => (c.choices as unknown[]).length > 0)).toBe(true);
    expect(mock.requests[0]?.body.stream_options).toEqual({ include_usage: true });
    const event = await events.waitFor((e) => e.completion_id === id);
    expect(event.stream).toBe(true);
    expect(event.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5 });
    const assembled = JSON.parse(event.response_json ?? '{}') as {
      choices: { message: { content: string } }[];
    };
    expect(assembled.choices[0]?.message.content).toBe('Hello from the mock.');
    expect(event.ttft_ms).not.toBeNull();
  });

  it('passes the usage chunk through when the client asks for it', async () => {
    const res = await post({
      model: 'openai/gpt-4o-mini',
      messages: msgs,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = sseData(res.text)
      .slice(0, -1)
      .map((d) => JSON.parse(d) as Record<string, unknown>);
    const last = chunks.at(-1) as Record<string, unknown>;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 });
  });

  it('assembles streamed tool calls', async () => {
    mock.script('gpt-4o', {
      kind: 'sse',
      events: openAiStream({
        toolCalls: [
          { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'call_b', name: 'get_time', arguments: '{"tz":"CET"}' },
        ],
      }),
      intervalMs: 2,
    });
    const res = await post({ model: 'openai/gpt-4o', messages: msgs, stream: true });
    const chunks = sseData(res.text)
      .slice(0, -1)
      .map((d) => JSON.parse(d) as { id: string; choices: { finish_reason: string | null }[] });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    const event = await events.waitFor((e) => e.completion_id === chunks[0]?.id);
    const message = (
      JSON.parse(event.response_json ?? '{}') as { choices: { message: { tool_calls: unknown[] } }[] }
    ).choices[0]?.message;
    expect(message?.tool_calls).toEqual([
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
    ]);
    expect(event.finish_reason).toBe('tool_calls');
  });

  it('falls back before the first byte (error status, reset, empty stream)', async () => {
    mock.script('gpt-4o', { kind: 'error', status: 503 });
    backup.script('llama-a', { kind: 'sse', events: [], done: false });
    const res = await post({
      model: 'openai/gpt-4o',
      models: ['groq/llama-a', 'openai/gpt-4o-mini'],
      messages: msgs,
      stream: true,
    });
    expect(res.status).toBe(200);
    const first = JSON.parse(sseData(res.text)[0] ?? '{}') as Record<string, unknown>;
    expect(first.model).toBe('openai/gpt-4o-mini');
  });

  it('all attempts failing before the first byte is a normal JSON error', async () => {
    mock.script('gpt-4o', { kind: 'error', status: 500 });
    const res = await post({ model: 'openai/gpt-4o', messages: msgs, stream: true });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect((res.json.error as Record<string, unknown>).code).toBe('upstream_unavailable');
  });

  it('a mid-stream disconnect ends with an error frame then [DONE], never a silent truncation', async () => {
    mock.script('gpt-4o', {
      kind: 'sse',
      events: openAiStream({ pieces: ['a', 'b', 'c', 'd'] }),
      cutAfter: 3,
    });
    const res = await post({ model: 'openai/gpt-4o', messages: msgs, stream: true });
    expect(res.status).toBe(200);
    const data = sseData(res.text);
    expect(data.at(-1)).toBe('[DONE]');
    const errorFrame = JSON.parse(data.at(-2) ?? '{}') as { error?: { code: string; message: string } };
    expect(errorFrame.error?.code).toMatch(/^upstream_/);
    const id = (JSON.parse(data[0] ?? '{}') as { id: string }).id;
    const event = await events.waitFor((e) => e.completion_id === id);
    expect(event.status).toBe('error');
    expect(event.finish_reason).toBe('error');
  });

  it('an upstream stream that ends without finish or [DONE] is reported as truncated', async () => {
    mock.script('gpt-4o', { kind: 'sse', events: openAiStream().slice(0, 3), done: false });
    const res = await post({ model: 'openai/gpt-4o', messages: msgs, stream: true });
    const data = sseData(res.text);
    expect(JSON.parse(data.at(-2) ?? '{}')).toMatchObject({ error: { code: 'upstream_stream_truncated' } });
  });

  it('client disconnect aborts the upstream request and records client_cancelled', async () => {
    mock.script('gpt-4o', {
      kind: 'sse',
      events: openAiStream({ pieces: Array.from({ length: 200 }, () => 'x') }),
      intervalMs: 20,
    });
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: msgs, stream: true }),
      signal: controller.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    const id = (
      JSON.parse(new TextDecoder().decode(first.value).split('\n')[0]?.slice(6) ?? '{}') as { id: string }
    ).id;
    controller.abort();
    const event = await events.waitFor((e) => e.completion_id === id);
    expect(event.status).toBe('client_cancelled');
    expect(event.latency_ms).toBeLessThan(4_000);
  });
});

describe('the unmodified OpenAI SDK', () => {
  it('gets completions, streams and tool calls through the gateway', async () => {
    const client = new OpenAI({ apiKey: gw.apiKey, baseURL: `${gw.url}/v1` });
    const done = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(done.choices[0]?.message.content).toBe('Hello from the mock upstream.');

    mock.script('gpt-4o', {
      kind: 'json',
      body: openAiResponse({ toolCalls: [{ id: 'call_1', name: 'f', arguments: '{"x":1}' }] }),
    });
    const tool = await client.chat.completions.create({
      model: 'openai:gpt-4o',
      messages: [{ role: 'user', content: 'call f' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    });
    expect(tool.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      id: 'call_1',
      function: { name: 'f', arguments: '{"x":1}' },
    });

    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello from the mock.');

    mock.script('gpt-4o', { kind: 'sse', events: openAiStream({ pieces: ['a', 'b'] }), cutAfter: 2 });
    const broken = await client.chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    await expect(async () => {
      for await (const _ of broken) {
        // drain
      }
    }).rejects.toThrow();
  });
});

describe('auth, validation and errors', () => {
  it('401 for missing, malformed and unknown keys, in the envelope', async () => {
    for (const [key, reason] of [
      [null, 'missing'],
      ['mgw_nope', 'unknown'],
    ] as const) {
      const res = await post({ model: 'openai/gpt-4o', messages: msgs }, { key });
      expect(res.status).toBe(401);
      expect(res.json.error).toMatchObject({ code: 'unauthorized', details: { reason } });
    }
    const malformed = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Token abc', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(malformed.status).toBe(401);
  });

  it('a revoked key stops working on the running instance', async () => {
    const { apiKey, keyId } = await gw.newProjectKey();
    expect((await post({ model: 'openai/gpt-4o-mini', messages: msgs }, { key: apiKey })).status).toBe(200);
    await gw.ctx.controlPlane.revokeKey(keyId);
    const res = await post({ model: 'openai/gpt-4o-mini', messages: msgs }, { key: apiKey });
    expect(res.status).toBe(401);
    expect(res.json.error).toMatchObject({ details: { reason: 'revoked' } });
  });

  it('422 in FastAPI shape for invalid bodies and invalid JSON', async () => {
    const res = await post({
      model: 'openai/gpt-4o',
      messages: [{ role: 'robot', content: 1 }],
      bogus: true,
    });
    expect(res.status).toBe(422);
    const detail = res.json.detail as { loc: (string | number)[]; type: string }[];
    expect(detail.map((d) => d.type)).toEqual(expect.arrayContaining(['extra_forbidden', 'literal_error']));
    expect(detail.find((d) => d.type === 'extra_forbidden')?.loc).toEqual(['body', 'bogus']);

    const missing = await post({ model: 'openai/gpt-4o' });
    expect(missing.json).toEqual({
      detail: [
        expect.objectContaining({ loc: ['body', 'messages'], msg: 'Field required', type: 'missing' }),
      ],
    });

    const invalid = await post(null, { raw: '{"model": ' });
    expect(invalid.status).toBe(422);
    expect((invalid.json.detail as { type: string }[])[0]?.type).toBe('json_invalid');
  });

  it('413 payload_too_large beyond the body limit', async () => {
    const big = 'x'.repeat(21 * 1024 * 1024);
    const res = await post(null, {
      raw: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: big }] }),
    });
    expect(res.status).toBe(413);
    expect((res.json.error as Record<string, unknown>).code).toBe('payload_too_large');
  });

  it('serves /api/v1 too, and JSON 404 for unknown routes', async () => {
    expect(
      (await post({ model: 'openai/gpt-4o-mini', messages: msgs }, { path: '/api/v1/chat/completions' }))
        .status,
    ).toBe(200);
    const res = await fetch(`${gw.url}/v1/nothing`, { headers: { authorization: `Bearer ${gw.apiKey}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('/healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(
      ((await ready.json()) as { checks: Record<string, { ok: boolean }> }).checks.control_plane?.ok,
    ).toBe(true);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('maniac_completions_total');
    // Read from the provider pools at the scrape (earlier tests of this file have used the openai pool).
    expect(metrics).toMatch(/^maniac_upstream_connections\{provider="openai"\} \d+$/m);
    expect(metrics).toMatch(/^maniac_upstream_queued_requests\{provider="openai"\} 0$/m);
    expect(metrics).not.toContain(gw.apiKey);
  });
});
