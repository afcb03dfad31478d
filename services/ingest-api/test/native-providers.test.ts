import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import {
  EventCollector,
  MockUpstream,
  anthropicErrorBody,
  anthropicErrorEvent,
  anthropicResponse,
  anthropicStream,
  geminiErrorBody,
  geminiResponse,
  geminiStream,
  openAiResponse,
  openAiStream,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import type { CompletionEvent } from '@maniac-gateway/schemas';
import { IngestApi } from '../src/app.js';

/**
 * The native providers end to end: a gateway with providers of kind anthropic, gemini and azure pointing at a
 * mock that speaks each native protocol, checked through the HTTP API, the unmodified OpenAI SDK and the events.
 */

let mock: MockUpstream;
let gw: TestHost;
let events: EventCollector;

type Obj = Record<string, unknown>;

async function post(body: unknown) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gw.apiKey}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: Obj = {};
  try {
    json = JSON.parse(text) as Obj;
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

interface Chunk {
  id: string;
  model: string;
  provider: string;
  choices: { index: number; delta: Obj; finish_reason: string | null }[];
  usage?: Obj;
}

function chunksOf(text: string): Chunk[] {
  return sseData(text)
    .filter((d) => d !== '[DONE]')
    .map((d) => JSON.parse(d) as Chunk);
}

function toolDeltas(chunks: Chunk[]): Obj[] {
  return chunks.flatMap((c) => c.choices.flatMap((ch) => (ch.delta.tool_calls as Obj[] | undefined) ?? []));
}

function eventFor(id: unknown): Promise<CompletionEvent> {
  return events.waitFor((e) => e.completion_id === id);
}

function assembled(event: CompletionEvent): { message: Obj; finish_reason: string | null } {
  const res = JSON.parse(event.response_json ?? '{}') as {
    choices: { message: Obj; finish_reason: string | null }[];
  };
  return res.choices[0] as { message: Obj; finish_reason: string | null };
}

const msgs = [{ role: 'user', content: 'Say hello' }];
const weatherTools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];
const twoCalls = [
  { id: 'toolu_01Paris', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
  { id: 'toolu_02Time', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
];

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const config = testConfig({
    providers: {
      anthropic: { kind: 'anthropic', base_url: mock.url, api_key: 'sk-ant-test' },
      lenient: { kind: 'anthropic', base_url: mock.url, api_key: 'sk-ant-2', drop_unsupported_params: true },
      gemini: { kind: 'gemini', base_url: mock.url, api_key: 'gem-test' },
      azure: { kind: 'azure', base_url: mock.url, api_key: 'az-test', api_version: '2024-10-21' },
      openai: { base_url: mock.url, api_key: 'sk-openai' },
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

beforeEach(() => mock.reset());

describe('anthropic', () => {
  it('non-streamed: Messages API request, OpenAI answer, provider id, cache usage and spend in the event', async () => {
    mock.script('claude-sonnet-4-5', {
      kind: 'json',
      body: anthropicResponse({
        id: 'msg_01NonStream',
        content: 'Bonjour!',
        usage: {
          input_tokens: 100,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 200,
          output_tokens: 50,
        },
      }),
    });
    const res = await post({
      model: 'anthropic/claude-sonnet-4-5',
      messages: [{ role: 'system', content: 'Be French.' }, ...msgs],
      stop: 'END',
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      object: 'chat.completion',
      model: 'anthropic/claude-sonnet-4-5',
      provider: 'anthropic',
    });
    const choice = (res.json.choices as Obj[])[0];
    expect(choice).toMatchObject({
      message: { role: 'assistant', content: 'Bonjour!' },
      finish_reason: 'stop',
    });
    expect(res.json.usage).toMatchObject({
      prompt_tokens: 1300,
      completion_tokens: 50,
      total_tokens: 1350,
      prompt_tokens_details: { cached_tokens: 1000, cache_creation_tokens: 200 },
    });

    const sent = mock.requests[0];
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-test');
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual({
      model: 'claude-sonnet-4-5',
      system: [{ type: 'text', text: 'Be French.' }],
      messages: [{ role: 'user', content: 'Say hello' }],
      // No max_tokens in the request: the model's output limit from the price book.
      max_tokens: 64000,
      stop_sequences: ['END'],
    });

    const event = await eventFor(res.json.id);
    expect(event).toMatchObject({
      provider: 'anthropic',
      model: 'anthropic/claude-sonnet-4-5',
      upstream_model: 'claude-sonnet-4-5',
      upstream_id: 'msg_01NonStream',
      status: 'success',
      finish_reason: 'stop',
    });
    expect(event.usage).toEqual({
      prompt_tokens: 1300,
      completion_tokens: 50,
      total_tokens: 1350,
      cached_tokens: 1000,
      cache_creation_tokens: 200,
      reasoning_tokens: null,
    });
    // $3/M input, $0.30/M cache reads, $3.75/M cache writes, $15/M output.
    expect(event.spend_nanos).toBe(100 * 3000 + 1000 * 300 + 200 * 3750 + 50 * 15000);
  });

  it('streamed: OpenAI chunks, [DONE], usage reported once, provider id kept in the event', async () => {
    mock.script('claude-haiku-4-5', {
      kind: 'sse',
      events: anthropicStream({
        id: 'msg_01Stream',
        pieces: ['Hello', ' there', '!'],
        usage: { input_tokens: 11, output_tokens: 6 },
      }),
      intervalMs: 2,
    });
    const res = await post({
      model: 'anthropic:claude-haiku-4-5',
      messages: msgs,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
    });
    expect(res.status).toBe(200);
    expect(sseData(res.text).at(-1)).toBe('[DONE]');
    const chunks = chunksOf(res.text);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.model === 'anthropic/claude-haiku-4-5' && c.provider === 'anthropic')).toBe(
      true,
    );
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Hello there!');
    const usage = chunks.filter((c) => c.usage);
    expect(usage).toHaveLength(1);
    expect(usage[0]?.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(mock.requests[0]?.body).toMatchObject({ stream: true, max_tokens: 64 });

    const event = await eventFor(chunks[0]?.id);
    expect(event).toMatchObject({
      stream: true,
      status: 'success',
      upstream_id: 'msg_01Stream',
      finish_reason: 'stop',
    });
    expect(event.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 6, cached_tokens: 0 });
    expect(assembled(event).message.content).toBe('Hello there!');
  });

  it('streamed tool calls: per-tool indexes, arguments split across deltas, round trip with tool results', async () => {
    mock.script('claude-sonnet-4-5', {
      kind: 'sse',
      events: anthropicStream({
        content: 'Checking.',
        toolCalls: twoCalls,
        usage: { input_tokens: 50, output_tokens: 30 },
      }),
    });
    const res = await post({
      model: 'anthropic/claude-sonnet-4-5',
      messages: msgs,
      tools: weatherTools,
      stream: true,
    });
    const chunks = chunksOf(res.text);
    const deltas = toolDeltas(chunks);
    expect(deltas.filter((d) => d.index === 0).length).toBeGreaterThan(2);
    expect(deltas.filter((d) => d.index === 1).length).toBeGreaterThan(2);
    expect(deltas.map((d) => d.index)).not.toContain(2);
    const event = await eventFor(chunks[0]?.id);
    const choice = assembled(event);
    expect(choice.finish_reason).toBe('tool_calls');
    expect(event.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBe('Checking.');
    expect(choice.message.tool_calls).toEqual([
      {
        id: 'toolu_01Paris',
        type: 'function',
        function: { name: 'get_weather', arguments: twoCalls[0]?.arguments },
      },
      {
        id: 'toolu_02Time',
        type: 'function',
        function: { name: 'get_time', arguments: twoCalls[1]?.arguments },
      },
    ]);
    expect(mock.requests[0]?.body.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: weatherTools[0]?.function.parameters,
      },
      { name: 'get_time', input_schema: { type: 'object', properties: {} } },
    ]);

    // Round trip: the tool results go back as tool_result blocks with the same ids, and the answer comes.
    mock.reset();
    mock.script('claude-sonnet-4-5', {
      kind: 'json',
      body: anthropicResponse({ content: '18°C in Paris, 14:00.' }),
    });
    const answer = await post({
      model: 'anthropic/claude-sonnet-4-5',
      tools: weatherTools,
      messages: [
        ...msgs,
        choice.message,
        { role: 'tool', tool_call_id: 'toolu_01Paris', content: '{"temp":18}' },
        { role: 'tool', tool_call_id: 'toolu_02Time', content: '14:00' },
      ],
    });
    expect(answer.status).toBe(200);
    expect((answer.json.choices as Obj[])[0]).toMatchObject({
      message: { content: '18°C in Paris, 14:00.' },
    });
    const sent = mock.requests[0]?.body.messages as Obj[];
    expect(sent[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Checking.' },
        {
          type: 'tool_use',
          id: 'toolu_01Paris',
          name: 'get_weather',
          input: { city: 'Paris', unit: 'celsius' },
        },
        { type: 'tool_use', id: 'toolu_02Time', name: 'get_time', input: { tz: 'Europe/Paris' } },
      ],
    });
    expect(sent[2]).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01Paris', content: '{"temp":18}' },
        { type: 'tool_result', tool_use_id: 'toolu_02Time', content: '14:00' },
      ],
    });
  });

  it('json_schema through a forced tool, unwrapped into message.content (streamed and not)', async () => {
    const format = {
      type: 'json_schema',
      json_schema: { name: 'order', schema: { type: 'object', properties: { total: { type: 'number' } } } },
    };
    mock.script(
      'claude-sonnet-4-5',
      {
        kind: 'json',
        body: anthropicResponse({ toolCalls: [{ name: 'json_response', arguments: '{"total":14}' }] }),
      },
      {
        kind: 'sse',
        events: anthropicStream({ toolCalls: [{ name: 'json_response', arguments: '{"total": 14.5}' }] }),
      },
    );
    const res = await post({ model: 'anthropic/claude-sonnet-4-5', messages: msgs, response_format: format });
    expect((res.json.choices as Obj[])[0]).toMatchObject({
      message: { content: '{"total":14}' },
      finish_reason: 'stop',
    });
    expect(((res.json.choices as Obj[])[0]?.message as Obj).tool_calls).toBeUndefined();
    expect(mock.requests[0]?.body.tool_choice).toEqual({ type: 'tool', name: 'json_response' });
    const streamed = await post({
      model: 'anthropic/claude-sonnet-4-5',
      messages: msgs,
      response_format: format,
      stream: true,
    });
    const chunks = chunksOf(streamed.text);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('{"total": 14.5}');
    expect(toolDeltas(chunks)).toHaveLength(0);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('reasoning: effort → thinking budget; thinking text → message.reasoning', async () => {
    mock.script('claude-sonnet-4-5', {
      kind: 'sse',
      events: anthropicStream({
        thinking: 'Let me think about greetings.',
        content: 'Hi!',
        usage: { input_tokens: 9, output_tokens: 40 },
      }),
    });
    const res = await post({
      model: 'anthropic/claude-sonnet-4-5',
      messages: msgs,
      reasoning: { effort: 'low' },
      stream: true,
    });
    const chunks = chunksOf(res.text);
    expect(chunks.map((c) => c.choices[0]?.delta.reasoning ?? '').join('')).toBe(
      'Let me think about greetings.',
    );
    expect(mock.requests[0]?.body.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    const event = await eventFor(chunks[0]?.id);
    expect(assembled(event).message).toMatchObject({
      content: 'Hi!',
      reasoning: 'Let me think about greetings.',
    });
  });

  it('an overloaded error event mid-stream → error frame then [DONE]; the event records the error', async () => {
    mock.script('claude-sonnet-4-5', {
      kind: 'sse',
      events: [...anthropicStream({ pieces: ['Hel', 'lo'] }).slice(0, 5), anthropicErrorEvent()],
    });
    const res = await post({ model: 'anthropic/claude-sonnet-4-5', messages: msgs, stream: true });
    expect(res.status).toBe(200);
    const data = sseData(res.text);
    expect(data.at(-1)).toBe('[DONE]');
    const frame = JSON.parse(data.at(-2) ?? '{}') as { error?: { code: string; message: string } };
    expect(frame.error).toMatchObject({
      code: 'upstream_stream_error',
      message: 'overloaded_error: Overloaded',
    });
    const id = (JSON.parse(data[0] ?? '{}') as { id: string }).id;
    const event = await eventFor(id);
    expect(event).toMatchObject({
      status: 'error',
      error_code: 'upstream_stream_error',
      finish_reason: 'error',
    });
  });

  it('an error event before any content falls back like an HTTP error would', async () => {
    mock.script('claude-sonnet-4-5', { kind: 'sse', events: [anthropicErrorEvent()] });
    const res = await post({
      model: 'anthropic/claude-sonnet-4-5',
      models: ['gemini/gemini-2.5-flash'],
      messages: msgs,
      stream: true,
    });
    const chunks = chunksOf(res.text);
    expect(chunks[0]?.model).toBe('gemini/gemini-2.5-flash');
    const event = await eventFor(chunks[0]?.id);
    expect(event.attempts.map((a) => [a.model, a.status, a.error_code])).toEqual([
      ['anthropic/claude-sonnet-4-5', 200, 'upstream_stream_error'],
      ['gemini/gemini-2.5-flash', 200, null],
    ]);
  });

  it('529, 429 and 500 fall back; a 400 (context too long) does not, with the provider message in details', async () => {
    mock.script('claude-a', { kind: 'error', status: 529 });
    mock.script('claude-b', { kind: 'error', status: 429, headers: { 'retry-after': '3' } });
    mock.script('claude-c', { kind: 'error', status: 500 });
    const res = await post({
      model: 'anthropic/claude-a',
      models: ['anthropic/claude-b', 'anthropic/claude-c', 'gemini/gemini-2.5-flash'],
      messages: msgs,
    });
    expect(res.status).toBe(200);
    expect(res.json.provider).toBe('gemini');
    const event = await eventFor(res.json.id);
    expect(event.attempts.map((a) => [a.model, a.status, a.error_code, a.message])).toEqual([
      ['anthropic/claude-a', 529, 'upstream_http_529', 'mock error 529'],
      ['anthropic/claude-b', 429, 'upstream_http_429', 'mock error 429'],
      ['anthropic/claude-c', 500, 'upstream_http_500', 'mock error 500'],
      ['gemini/gemini-2.5-flash', 200, null, null],
    ]);

    mock.script('claude-a', {
      kind: 'error',
      status: 400,
      body: anthropicErrorBody('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'),
    });
    const bad = await post({
      model: 'anthropic/claude-a',
      models: ['gemini/gemini-2.5-flash'],
      messages: msgs,
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({
      code: 'upstream_bad_request',
      details: {
        provider: 'anthropic',
        upstream_status: 400,
        upstream_error: {
          type: 'invalid_request_error',
          message: 'prompt is too long: 210000 tokens > 200000 maximum',
        },
      },
    });
    expect(mock.requestsFor('gemini-2.5-flash')).toHaveLength(1);
  });

  it('501 unsupported_parameter naming parameter and provider; skipped inside a plan; dropped when configured', async () => {
    const alone = await post({ model: 'anthropic/claude-sonnet-4-5', messages: msgs, logprobs: true });
    expect(alone.status).toBe(501);
    expect(alone.json.error).toMatchObject({
      code: 'unsupported_parameter',
      details: { param: 'logprobs', provider: 'anthropic' },
    });
    expect(String((alone.json.error as Obj).message)).toContain("'logprobs'");
    expect(mock.requests).toHaveLength(0);

    // seed: Anthropic cannot, Gemini can.
    const plan = await post({
      model: 'anthropic/claude-sonnet-4-5',
      models: ['gemini/gemini-2.5-flash'],
      messages: msgs,
      seed: 7,
    });
    expect(plan.status).toBe(200);
    expect(plan.json.provider).toBe('gemini');
    expect(mock.requests[0]?.body.generationConfig).toMatchObject({ seed: 7 });
    const event = await eventFor(plan.json.id);
    expect(event.attempts[0]).toMatchObject({
      model: 'anthropic/claude-sonnet-4-5',
      status: 501,
      error_code: 'unsupported_parameter',
    });

    mock.reset();
    const lenient = await post({
      model: 'lenient/claude-sonnet-4-5',
      messages: msgs,
      logprobs: true,
      seed: 1,
    });
    expect(lenient.status).toBe(200);
    expect(mock.requests[0]?.body).not.toHaveProperty('logprobs');
    expect(mock.requests[0]?.body).not.toHaveProperty('seed');
    expect(mock.requests[0]?.headers['x-api-key']).toBe('sk-ant-2');
    // A custom-named provider of kind anthropic: the model's output limit and prices are Anthropic's.
    expect(mock.requests[0]?.body.max_tokens).toBe(64000);
    const lenientEvent = await eventFor(lenient.json.id);
    expect(lenientEvent.model).toBe('lenient/claude-sonnet-4-5');
    expect(lenientEvent.spend_nanos).toBe(21 * 3000 + 9 * 15000);
  });
});

describe('gemini', () => {
  it('non-streamed through the google/ alias: generateContent, thoughts as reasoning tokens, cached tokens, spend', async () => {
    mock.script('gemini-2.5-flash', {
      kind: 'json',
      body: geminiResponse({
        responseId: 'resp_nonstream',
        content: 'Paris',
        usage: {
          promptTokenCount: 1000,
          cachedContentTokenCount: 400,
          candidatesTokenCount: 100,
          thoughtsTokenCount: 50,
        },
      }),
    });
    const res = await post({
      model: 'google/gemini-2.5-flash',
      messages: [
        { role: 'system', content: 'One word.' },
        { role: 'user', content: 'Capital of France?' },
      ],
      temperature: 0,
      max_completion_tokens: 20,
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ model: 'gemini/gemini-2.5-flash', provider: 'gemini' });
    expect((res.json.choices as Obj[])[0]).toMatchObject({
      message: { content: 'Paris' },
      finish_reason: 'stop',
    });
    const sent = mock.requests[0];
    expect(sent?.path).toBe('/v1/models/gemini-2.5-flash:generateContent');
    expect(sent?.headers['x-goog-api-key']).toBe('gem-test');
    expect(sent?.body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Capital of France?' }] }],
      systemInstruction: { role: 'user', parts: [{ text: 'One word.' }] },
      generationConfig: { temperature: 0, maxOutputTokens: 20 },
    });
    const event = await eventFor(res.json.id);
    expect(event).toMatchObject({ provider: 'gemini', upstream_id: 'resp_nonstream', finish_reason: 'stop' });
    expect(event.usage).toEqual({
      prompt_tokens: 1000,
      completion_tokens: 150,
      total_tokens: 1150,
      cached_tokens: 400,
      cache_creation_tokens: null,
      reasoning_tokens: 50,
    });
    // $0.30/M input, $0.03/M cached, $2.50/M output and reasoning.
    expect(event.spend_nanos).toBe(600 * 300 + 400 * 30 + 100 * 2500 + 50 * 2500);
  });

  it('streamed: streamGenerateContent?alt=sse, cumulative usage reported once', async () => {
    mock.script('gemini-2.5-pro', {
      kind: 'sse',
      events: geminiStream({
        responseId: 'resp_stream',
        pieces: ['The capital ', 'is ', 'Paris.'],
        usage: { promptTokenCount: 12, candidatesTokenCount: 6, thoughtsTokenCount: 20 },
      }),
    });
    const res = await post({
      model: 'gemini/gemini-2.5-pro',
      messages: msgs,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(mock.requests[0]?.path).toBe('/v1/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
    const chunks = chunksOf(res.text);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('The capital is Paris.');
    const usage = chunks.filter((c) => c.usage);
    expect(usage).toHaveLength(1);
    expect(usage[0]?.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 26, total_tokens: 38 });
    const event = await eventFor(chunks[0]?.id);
    expect(event).toMatchObject({ upstream_id: 'resp_stream', finish_reason: 'stop', status: 'success' });
    expect(event.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 26, reasoning_tokens: 20 });
  });

  it('streamed tool calls with synthesised ids, mapped back to functionResponse by name', async () => {
    mock.script('gemini-2.5-flash', {
      kind: 'sse',
      events: geminiStream({ responseId: 'resp_tools', toolCalls: twoCalls, thoughtSignature: 'c2lnLTE=' }),
    });
    const res = await post({
      model: 'gemini/gemini-2.5-flash',
      messages: msgs,
      tools: weatherTools,
      stream: true,
    });
    const chunks = chunksOf(res.text);
    expect(toolDeltas(chunks).map((d) => d.index)).toEqual([0, 1]);
    const event = await eventFor(chunks[0]?.id);
    const message = assembled(event).message;
    expect(event.finish_reason).toBe('tool_calls');
    const calls = message.tool_calls as { id: string; function: { name: string; arguments: string } }[];
    expect(calls.map((c) => c.function)).toEqual([
      { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
      { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
    ]);
    expect(calls.map((c) => c.id)).toEqual(['call_resp_tools_0__thought__c2lnLTE=', 'call_resp_tools_1']);
    expect(mock.requests[0]?.body.tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Current weather',
            parametersJsonSchema: weatherTools[0]?.function.parameters,
          },
          { name: 'get_time' },
        ],
      },
    ]);

    mock.reset();
    mock.script('gemini-2.5-flash', { kind: 'json', body: geminiResponse({ content: '18°C, 14:00.' }) });
    const answer = await post({
      model: 'gemini/gemini-2.5-flash',
      tools: weatherTools,
      messages: [
        ...msgs,
        message,
        { role: 'tool', tool_call_id: calls[0]?.id, content: '{"temp":18}' },
        { role: 'tool', tool_call_id: calls[1]?.id, content: '14:00' },
      ],
    });
    expect((answer.json.choices as Obj[])[0]).toMatchObject({ message: { content: '18°C, 14:00.' } });
    expect(mock.requests[0]?.body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Say hello' }] },
      {
        role: 'model',
        parts: [
          {
            functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } },
            thoughtSignature: 'c2lnLTE=',
          },
          { functionCall: { name: 'get_time', args: { tz: 'Europe/Paris' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { temp: 18 } } },
          { functionResponse: { name: 'get_time', response: { content: '14:00' } } },
        ],
      },
    ]);
  });

  it('RESOURCE_EXHAUSTED and 500 fall back; an error event mid-stream ends with an error frame', async () => {
    mock.script('gemini-a', {
      kind: 'error',
      status: 429,
      body: geminiErrorBody(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded'),
    });
    mock.script('gemini-b', { kind: 'error', status: 500 });
    const res = await post({
      model: 'gemini/gemini-a',
      models: ['gemini/gemini-b', 'anthropic/claude-sonnet-4-5'],
      messages: msgs,
    });
    expect(res.status).toBe(200);
    expect(res.json.provider).toBe('anthropic');
    const event = await eventFor(res.json.id);
    expect(event.attempts.map((a) => [a.status, a.message])).toEqual([
      [429, 'Quota exceeded'],
      [500, 'mock error 500'],
      [200, null],
    ]);

    const events2 = geminiStream({ pieces: ['a', 'b', 'c'] });
    mock.script('gemini-c', {
      kind: 'sse',
      events: [
        events2[0] ?? {},
        { error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } },
      ],
    });
    const broken = await post({ model: 'gemini/gemini-c', messages: msgs, stream: true });
    const data = sseData(broken.text);
    expect(data.at(-1)).toBe('[DONE]');
    expect(JSON.parse(data.at(-2) ?? '{}')).toMatchObject({
      error: { code: 'upstream_stream_error', message: 'UNAVAILABLE: The model is overloaded.' },
    });
  });

  it('a stream cut before the finish reason is reported as truncated, not as a success', async () => {
    mock.script('gemini-d', { kind: 'sse', events: geminiStream({ pieces: ['a', 'b', 'c'] }).slice(0, 2) });
    const res = await post({ model: 'gemini/gemini-d', messages: msgs, stream: true });
    const data = sseData(res.text);
    expect(JSON.parse(data.at(-2) ?? '{}')).toMatchObject({ error: { code: 'upstream_stream_truncated' } });
  });
});

describe('azure', () => {
  it('non-streamed: deployment URL, api-key, api-version; the deployment is the model', async () => {
    mock.script('my-gpt4o', { kind: 'json', body: openAiResponse({ content: 'Hi from Azure.' }) });
    const res = await post({ model: 'azure/my-gpt4o', messages: msgs, seed: 3, logprobs: true });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ model: 'azure/my-gpt4o', provider: 'azure' });
    const sent = mock.requests[0];
    expect(sent?.path).toBe('/v1/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21');
    expect(sent?.headers['api-key']).toBe('az-test');
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual({ messages: msgs, seed: 3, logprobs: true });
    const event = await eventFor(res.json.id);
    expect(event).toMatchObject({ provider: 'azure', upstream_model: 'my-gpt4o', finish_reason: 'stop' });
    expect(event.upstream_id).toMatch(/^chatcmpl-UP/);
  });

  it('streamed tool calls (arguments split), the content-filter chunk left out', async () => {
    const filterChunk = { id: '', object: '', created: 0, model: '', choices: [], prompt_filter_results: [] };
    mock.script('my-gpt4o', {
      kind: 'sse',
      events: [
        filterChunk,
        ...openAiStream({ toolCalls: twoCalls.map((t) => ({ ...t, id: t.id.replace('toolu', 'call') })) }),
      ],
    });
    const res = await post({ model: 'azure/my-gpt4o', messages: msgs, tools: weatherTools, stream: true });
    const chunks = chunksOf(res.text);
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    const event = await eventFor(chunks[0]?.id);
    expect(event.upstream_id).toMatch(/^chatcmpl-UP/);
    expect(assembled(event).message.tool_calls).toEqual([
      {
        id: 'call_01Paris',
        type: 'function',
        function: { name: 'get_weather', arguments: twoCalls[0]?.arguments },
      },
      {
        id: 'call_02Time',
        type: 'function',
        function: { name: 'get_time', arguments: twoCalls[1]?.arguments },
      },
    ]);
    expect(event.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5 });
  });

  it('429 from Azure falls back to OpenAI', async () => {
    mock.script('my-gpt4o', { kind: 'error', status: 429 });
    const res = await post({ model: 'azure/my-gpt4o', models: ['openai/gpt-4o-mini'], messages: msgs });
    expect(res.status).toBe(200);
    expect(res.json.provider).toBe('openai');
  });
});

describe('mixed fallback plans', () => {
  it('anthropic → openai → gemini: the first two fail, gemini serves, attempts listed in order', async () => {
    mock.script('claude-sonnet-4-5', { kind: 'error', status: 529 });
    mock.script('gpt-4o', { kind: 'error', status: 503 });
    mock.script('gemini-2.5-flash', {
      kind: 'sse',
      events: geminiStream({ pieces: ['Served ', 'by Gemini.'] }),
    });
    const res = await post({
      model: 'anthropic/claude-sonnet-4-5',
      models: ['openai/gpt-4o', 'gemini/gemini-2.5-flash'],
      messages: msgs,
      stream: true,
    });
    const chunks = chunksOf(res.text);
    expect(chunks[0]?.provider).toBe('gemini');
    const event = await eventFor(chunks[0]?.id);
    expect(event.attempts.map((a) => [a.provider, a.status])).toEqual([
      ['anthropic', 529],
      ['openai', 503],
      ['gemini', 200],
    ]);
    expect(assembled(event).message.content).toBe('Served by Gemini.');
  });

  it('every attempt unsupported → 501 with details.attempts', async () => {
    const res = await post({
      model: 'anthropic/claude-sonnet-4-5',
      models: ['gemini/gemini-2.5-flash'],
      messages: msgs,
      logit_bias: { '42': 3 },
    });
    expect(res.status).toBe(501);
    const error = res.json.error as { code: string; details: { attempts: Obj[]; param: string } };
    expect(error.code).toBe('unsupported_parameter');
    expect(error.details.param).toBe('logit_bias');
    expect(error.details.attempts.map((a) => [a.provider, a.status, a.error_code])).toEqual([
      ['anthropic', 501, 'unsupported_parameter'],
      ['gemini', 501, 'unsupported_parameter'],
    ]);
    expect(mock.requests).toHaveLength(0);
  });
});

describe('the unmodified OpenAI SDK', () => {
  const client = () => new OpenAI({ apiKey: gw.apiKey, baseURL: `${gw.url}/v1` });

  for (const [slug, model, json, stream] of [
    ['anthropic/claude-sonnet-4-5', 'claude-sonnet-4-5', anthropicResponse, anthropicStream],
    ['gemini/gemini-2.5-flash', 'gemini-2.5-flash', geminiResponse, geminiStream],
  ] as const) {
    it(`works unchanged through ${slug}: completions, streams, tool calls, structured output`, async () => {
      const sdk = client();
      mock.script(model, { kind: 'json', body: json({ content: 'Plain answer.' }) });
      const done = await sdk.chat.completions.create({
        model: slug,
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(done.choices[0]?.message.content).toBe('Plain answer.');
      expect(done.usage?.total_tokens).toBeGreaterThan(0);

      mock.script(model, { kind: 'sse', events: stream({ pieces: ['Str', 'eamed', '.'] }) });
      const s = await sdk.chat.completions.create({
        model: slug,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage = 0;
      for await (const chunk of s) {
        text += chunk.choices[0]?.delta.content ?? '';
        usage += chunk.usage ? 1 : 0;
      }
      expect(text).toBe('Streamed.');
      expect(usage).toBe(1);

      mock.script(model, { kind: 'sse', events: stream({ toolCalls: twoCalls }) });
      const runner = sdk.chat.completions.stream({
        model: slug,
        messages: [{ role: 'user', content: 'weather?' }],
        tools: weatherTools as OpenAI.Chat.Completions.ChatCompletionTool[],
      });
      const final = await runner.finalChatCompletion();
      expect(final.choices[0]?.finish_reason).toBe('tool_calls');
      const calls = final.choices[0]?.message.tool_calls ?? [];
      expect(calls.map((c) => (c.type === 'function' ? JSON.parse(c.function.arguments) : null))).toEqual([
        { city: 'Paris', unit: 'celsius' },
        { tz: 'Europe/Paris' },
      ]);

      const structured = slug.startsWith('anthropic')
        ? anthropicResponse({
            toolCalls: [{ name: 'json_response', arguments: '{"city":"Paris","temp":18}' }],
          })
        : geminiResponse({ content: '{"city":"Paris","temp":18}' });
      mock.script(model, { kind: 'json', body: structured });
      const parsed = await sdk.chat.completions.parse({
        model: slug,
        messages: [{ role: 'user', content: 'weather as JSON' }],
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'weather',
            strict: true,
            schema: {
              type: 'object',
              properties: { city: { type: 'string' }, temp: { type: 'number' } },
              required: ['city', 'temp'],
              additionalProperties: false,
            },
          },
        },
      });
      expect(parsed.choices[0]?.message.parsed).toEqual({ city: 'Paris', temp: 18 });
    });
  }
});
