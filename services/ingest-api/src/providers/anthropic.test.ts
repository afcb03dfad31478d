import { describe, expect, it } from 'vitest';
import { ApiError } from '@maniac-gateway/runtime';
import {
  IDENTITY,
  RECORDINGS_AVAILABLE,
  chatReq,
  context,
  runStream,
  usageChunks,
  wireFormat,
} from '../../test/support/adapter-harness.js';
import { StreamProtocolError, type Json } from './adapter.js';
import {
  AnthropicStreamTranslator,
  FALLBACK_MAX_TOKENS,
  JSON_TOOL_NAME,
  anthropicAdapter,
  anthropicError,
  anthropicToOpenAi,
  anthropicUsage,
} from './anthropic.js';
import { toChatRes } from './openai.js';

const ctx = (over: Parameters<typeof context>[1] = {}, provider: Parameters<typeof context>[2] = {}) =>
  context('anthropic', { upstreamModel: 'claude-sonnet-4-5', defaultMaxTokens: 64000, ...over }, provider);

function body(input: Parameters<typeof chatReq>[0], c = ctx()): Json {
  return anthropicAdapter.request(chatReq(input), c).body as Json;
}

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

/** The recorded SSE examples, one string per numbered section of the fixture file. */
function recordedStreams(): string[] {
  const text = wireFormat('anthropic_stream_example.txt');
  return text
    .split(/^# ---- \d+\).*$/m)
    .slice(1)
    .map((section) =>
      section
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n'),
    );
}

/** The recorded non-streamed request/response pair in anthropic_messages.md. */
function recordedExchange(): { request_body: Json; response_body: Json } {
  const md = wireFormat('anthropic_messages.md');
  const json = /```json\n([\s\S]*?)\n```/.exec(md)?.[1];
  if (!json) throw new Error('no recorded exchange');
  return JSON.parse(json) as { request_body: Json; response_body: Json };
}

describe('anthropic request translation', () => {
  it('calls POST /messages with x-api-key and anthropic-version', () => {
    const call = anthropicAdapter.request(chatReq({}), ctx({}, { anthropic_version: '2024-01-01' }));
    expect(call.path).toBe('/messages');
    expect(call.headers).toEqual({ 'x-api-key': 'key-123', 'anthropic-version': '2024-01-01' });
    expect(
      anthropicAdapter.request(chatReq({}), ctx({}, { anthropic_version: undefined })).headers,
    ).toMatchObject({
      'anthropic-version': '2023-06-01',
    });
    expect((call.body as Json).stream).toBeUndefined();
    expect((anthropicAdapter.request(chatReq({}), ctx({ stream: true })).body as Json).stream).toBe(true);
  });

  it.skipIf(!RECORDINGS_AVAILABLE)('reproduces the recorded request body for the same conversation', () => {
    const { request_body: recorded } = recordedExchange();
    const messages = recorded.messages as { role: 'user'; content: string }[];
    const translated = body({ messages, max_tokens: recorded.max_tokens as number });
    expect(translated).toMatchObject({ model: recorded.model, max_tokens: 1024, messages });
  });

  it('moves system and developer messages to `system`, merges same-role turns, keeps tool ids', () => {
    const out = body({
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'developer',
          content: [{ type: 'text', text: 'Use metric units.', cache_control: { type: 'ephemeral' } }],
        },
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { role: 'user', content: [{ type: 'text', text: 'Thanks!' }] },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '21C' }] },
        { role: 'user', content: 'And tomorrow?' },
      ],
    });
    expect(out.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Use metric units.', cache_control: { type: 'ephemeral' } },
    ]);
    expect(out.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather in Paris and Rome?' },
          { type: 'text', text: 'Thanks!' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '21C' },
          { type: 'text', text: 'And tomorrow?' },
        ],
      },
    ]);
  });

  it('translates data-URL and http images', () => {
    const out = body({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    });
    expect((out.messages as Json[])[0]?.content).toEqual([
      { type: 'text', text: 'Compare' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
    const bad = refusal(() =>
      body({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }],
      }),
    );
    expect(bad.status).toBe(400);
  });

  it('translates tools, tool_choice and parallel_tool_calls=false', () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'Weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
      { type: 'function' as const, function: { name: 'now' } },
    ];
    const out = body({ tools, tool_choice: 'required', parallel_tool_calls: false });
    expect(out.tools).toEqual([
      { name: 'get_weather', description: 'Weather', input_schema: tools[0]?.function.parameters },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(out.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(body({ tools, tool_choice: 'auto' }).tool_choice).toEqual({ type: 'auto' });
    expect(body({ tools, tool_choice: 'none' }).tool_choice).toEqual({ type: 'none' });
    expect(body({ tools, tool_choice: { type: 'function', function: { name: 'now' } } }).tool_choice).toEqual(
      {
        type: 'tool',
        name: 'now',
      },
    );
    expect(body({ tools, parallel_tool_calls: false }).tool_choice).toEqual({
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    expect(body({ tools }).tool_choice).toBeUndefined();
  });

  it('maps stop, temperature, top_p, user, max tokens (explicit, model default, fallback)', () => {
    const out = body({
      stop: '\n\n',
      temperature: 0.2,
      top_p: 0.9,
      user: 'u-1',
      max_completion_tokens: 300,
      max_tokens: 10,
    });
    expect(out).toMatchObject({
      stop_sequences: ['\n\n'],
      temperature: 0.2,
      top_p: 0.9,
      metadata: { user_id: 'u-1' },
      max_tokens: 300,
    });
    expect(body({ stop: ['a', 'b'] }).stop_sequences).toEqual(['a', 'b']);
    expect(body({}).max_tokens).toBe(64000);
    expect(body({}, ctx({ defaultMaxTokens: null })).max_tokens).toBe(FALLBACK_MAX_TOKENS);
  });

  it('applies container params and system prompt, the request winning', () => {
    const container = {
      label: 'bot',
      model: 'anthropic/claude-sonnet-4-5',
      fallback_models: [],
      system_prompt: 'You are the bot.',
      params: { temperature: 0.1, max_tokens: 50, top_k: 5 },
    };
    const out = body({ max_tokens: 99 }, ctx({ container }));
    expect(out).toMatchObject({
      system: [{ type: 'text', text: 'You are the bot.' }],
      temperature: 0.1,
      max_tokens: 99,
      top_k: 5,
    });
  });

  it('refuses what Anthropic cannot honour with 501 naming parameter and provider', () => {
    for (const [param, input] of [
      ['logprobs', { logprobs: true }],
      ['top_logprobs', { top_logprobs: 3 }],
      ['logit_bias', { logit_bias: { '50256': -100 } }],
      ['n', { n: 2 }],
      ['seed', { seed: 7 }],
      ['frequency_penalty', { frequency_penalty: 0.5 }],
      ['presence_penalty', { presence_penalty: 0.5 }],
      ['audio', { audio: { voice: 'alloy' } }],
      ['service_tier', { service_tier: 'flex' }],
    ] as const) {
      const err = refusal(() => body(input));
      expect(err.status, param).toBe(501);
      expect(err.code).toBe('unsupported_parameter');
      expect(err.details).toMatchObject({ param, provider: 'anthropic' });
      expect(err.message).toContain(`'${param}'`);
      expect(err.message).toContain("'anthropic'");
    }
    // OpenAI defaults are not "parameters".
    expect(() =>
      body({ n: 1, logprobs: false, logit_bias: {}, frequency_penalty: 0, service_tier: 'auto' }),
    ).not.toThrow();
  });

  it('drops unsupported parameters instead when drop_unsupported_params is set', () => {
    const out = body(
      { logprobs: true, seed: 7, n: 2, temperature: 0.5 },
      ctx({}, { drop_unsupported_params: true }),
    );
    expect(out).not.toHaveProperty('logprobs');
    expect(out).not.toHaveProperty('seed');
    expect(out).not.toHaveProperty('n');
    expect(out.temperature).toBe(0.5);
  });

  it('response_format json_schema / json_object → a forced tool', () => {
    const schema = { type: 'object', properties: { total: { type: 'number' } }, required: ['total'] };
    const out = body({
      response_format: { type: 'json_schema', json_schema: { name: 'order', schema, strict: true } },
    });
    expect(out.tools).toEqual([
      {
        name: JSON_TOOL_NAME,
        description: expect.stringContaining("'order'") as unknown,
        input_schema: schema,
      },
    ]);
    expect(out.tool_choice).toEqual({ type: 'tool', name: JSON_TOOL_NAME });
    const obj = body({ response_format: { type: 'json_object' } });
    expect((obj.tools as Json[])[0]?.input_schema).toEqual({ type: 'object', additionalProperties: true });
    expect(body({ response_format: { type: 'text' } })).not.toHaveProperty('tools');
    expect(
      refusal(() => body({ tools: [{ type: 'function', function: { name: JSON_TOOL_NAME } }] })).status,
    ).toBe(400);
  });

  it('reasoning.effort → thinking budget (clamped below max_tokens), incompatible settings refused', () => {
    expect(body({ reasoning: { effort: 'medium' } }).thinking).toEqual({
      type: 'enabled',
      budget_tokens: 8192,
    });
    expect(body({ reasoning_effort: 'high', max_tokens: 5000 }).thinking).toEqual({
      type: 'enabled',
      budget_tokens: 4999,
    });
    expect(body({ reasoning: { effort: 'none' } }).thinking).toEqual({ type: 'disabled' });
    expect(refusal(() => body({ reasoning: { effort: 'low' }, temperature: 0.3 })).details).toMatchObject({
      param: 'temperature',
    });
    expect(refusal(() => body({ reasoning: { effort: 'low' }, max_tokens: 500 })).details).toMatchObject({
      param: 'reasoning',
    });
    expect(
      refusal(() => body({ reasoning: { effort: 'low' }, response_format: { type: 'json_object' } })).details,
    ).toMatchObject({ param: 'reasoning' });
    const dropped = body(
      { reasoning: { effort: 'low' }, temperature: 0.3 },
      ctx({}, { drop_unsupported_params: true }),
    );
    expect(dropped.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(dropped).not.toHaveProperty('temperature');
  });

  it('leaves thinking off while continuing a tool loop (signed thinking blocks cannot round-trip)', () => {
    const out = body({
      reasoning: { effort: 'low' },
      messages: [
        { role: 'user', content: 'x' },
        {
          role: 'assistant',
          tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 't1', content: 'ok' },
      ],
    });
    expect(out).not.toHaveProperty('thinking');
  });
});

describe('anthropic response translation', () => {
  it.skipIf(!RECORDINGS_AVAILABLE)('translates the recorded response: text, id, finish reason, usage', () => {
    const { response_body } = recordedExchange();
    const res = anthropicToOpenAi(response_body);
    expect(res.id).toBe('msg_01T4jd6NyD9xGGtTPDC4ogy5');
    const chat = toChatRes(res, IDENTITY);
    expect(chat.choices[0]?.message.content).toBe((response_body.content as { text: string }[])[0]?.text);
    expect(chat.choices[0]?.finish_reason).toBe('stop');
    expect(chat.usage).toMatchObject({
      prompt_tokens: 406,
      completion_tokens: 50,
      total_tokens: 456,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
    });
  });

  it('tool calls (arguments as JSON strings), thinking as reasoning, cache usage', () => {
    const res = anthropicToOpenAi({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [
        { type: 'thinking', thinking: 'Need weather.', signature: 'sig' },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_b', name: 'now', input: {} },
      ],
      stop_reason: 'tool_use',
      usage: {
        input_tokens: 100,
        cache_read_input_tokens: 50,
        cache_creation_input_tokens: 25,
        output_tokens: 40,
        output_tokens_details: { thinking_tokens: 12 },
      },
    });
    const choice = (res.choices as Json[])[0] as Json;
    expect(choice.message).toEqual({
      role: 'assistant',
      content: 'Let me check.',
      reasoning: 'Need weather.',
      tool_calls: [
        { id: 'toolu_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'toolu_b', type: 'function', function: { name: 'now', arguments: '{}' } },
      ],
    });
    expect(choice.finish_reason).toBe('tool_calls');
    expect(res.usage).toEqual({
      prompt_tokens: 175,
      completion_tokens: 40,
      total_tokens: 215,
      prompt_tokens_details: { cached_tokens: 50, cache_creation_tokens: 25 },
      completion_tokens_details: { reasoning_tokens: 12 },
    });
  });

  it('maps every stop_reason onto the OpenAI enum', () => {
    const finish = (stop_reason: string) =>
      ((anthropicToOpenAi({ content: [], stop_reason }).choices as Json[])[0] as Json).finish_reason;
    expect(finish('end_turn')).toBe('stop');
    expect(finish('stop_sequence')).toBe('stop');
    expect(finish('pause_turn')).toBe('stop');
    expect(finish('max_tokens')).toBe('length');
    expect(finish('model_context_window_exceeded')).toBe('length');
    expect(finish('tool_use')).toBe('tool_calls');
    expect(finish('refusal')).toBe('content_filter');
    expect(finish('something_new')).toBe('stop');
  });

  it('unwraps the response_format tool into message.content', () => {
    const res = anthropicToOpenAi({
      id: 'msg_2',
      content: [{ type: 'tool_use', id: 'toolu_j', name: JSON_TOOL_NAME, input: { total: 14 } }],
      stop_reason: 'tool_use',
      usage: { input_tokens: 5, output_tokens: 6 },
    });
    const choice = (res.choices as Json[])[0] as Json;
    expect(choice.message).toEqual({ role: 'assistant', content: '{"total":14}' });
    expect(choice.finish_reason).toBe('stop');
  });

  it('usage needs both counts', () => {
    expect(anthropicUsage({ input_tokens: 3 })).toBeNull();
    expect(anthropicUsage(null)).toBeNull();
  });
});

describe('anthropic stream translation (recorded streams)', () => {
  // Loaded only when present, so that collecting this file never throws; the tests that use them skip otherwise.
  const [basic, toolUse, thinking, errorStream] = RECORDINGS_AVAILABLE ? recordedStreams() : [];

  it.skipIf(!RECORDINGS_AVAILABLE)(
    'basic text: role chunk, deltas, finish, one usage report, ping ignored',
    () => {
      const run = runStream(new AnthropicStreamTranslator(), basic ?? '');
      expect(run.done).toBe(true);
      const res = run.assembler.toChatRes(IDENTITY);
      expect(res.choices[0]?.message.content).toBe('Hello there!');
      expect(res.choices[0]?.finish_reason).toBe('stop');
      expect(run.assembler.upstreamId).toBe('msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK');
      expect(usageChunks(run.chunks)).toHaveLength(1);
      expect(res.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
      expect(run.chunks.every((c) => c.id === 'msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK')).toBe(true);
      // The finish reason rides on the last content chunk, before the usage chunk.
      expect(((run.chunks.at(-2)?.choices as Json[])[0] as Json).finish_reason).toBe('stop');
    },
  );

  it.skipIf(!RECORDINGS_AVAILABLE)(
    'text + tool_use: per-tool index 0 (not the block index 1), arguments from input_json_delta fragments',
    () => {
      const run = runStream(new AnthropicStreamTranslator(), toolUse ?? '');
      const res = run.assembler.toChatRes(IDENTITY);
      expect(res.choices[0]?.message.content).toBe("I'll check the current weather in Paris for you.");
      expect(res.choices[0]?.message.tool_calls).toEqual([
        {
          id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"location": "Paris"}' },
        },
      ]);
      const toolDeltas = run.chunks.flatMap((c) =>
        (c.choices as Json[]).flatMap((ch) => ((ch.delta as Json).tool_calls as Json[] | undefined) ?? []),
      );
      expect(toolDeltas.every((t) => t.index === 0)).toBe(true);
      expect(toolDeltas.length).toBe(5);
      expect(res.choices[0]?.finish_reason).toBe('tool_calls');
      expect(res.usage).toMatchObject({
        prompt_tokens: 377,
        completion_tokens: 65,
        prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
      });
    },
  );

  it.skipIf(!RECORDINGS_AVAILABLE)(
    'thinking: reasoning deltas, refusal → content_filter, cumulative usage never double counted',
    () => {
      const run = runStream(new AnthropicStreamTranslator(), thinking ?? '');
      const res = run.assembler.toChatRes(IDENTITY);
      expect(res.choices[0]?.message.reasoning).toMatch(
        /^Simple educational question.*roll with it politely\.$/,
      );
      expect(res.choices[0]?.message.content).toBe('Hi');
      expect(res.choices[0]?.finish_reason).toBe('content_filter');
      // message_start and message_delta both report input_tokens 28: it counts once.
      expect(res.usage).toEqual({
        prompt_tokens: 28,
        completion_tokens: 106,
        total_tokens: 134,
        prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 67 },
      });
      expect(usageChunks(run.chunks)).toHaveLength(1);
    },
  );

  it.skipIf(!RECORDINGS_AVAILABLE)(
    'an error event → StreamProtocolError upstream_stream_error with the provider message',
    () => {
      const translator = new AnthropicStreamTranslator();
      runStream(translator, (basic ?? '').split('event: content_block_stop')[0] ?? '');
      let caught: unknown;
      try {
        runStream(translator, errorStream ?? '');
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(StreamProtocolError);
      expect(caught).toMatchObject({
        code: 'upstream_stream_error',
        message: 'overloaded_error: Overloaded',
      });
    },
  );

  it('a stream that does not start with message_start is malformed', () => {
    expect(() =>
      runStream(
        new AnthropicStreamTranslator(),
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}\n\n',
      ),
    ).toThrow(StreamProtocolError);
  });

  it('several tools get OpenAI indexes 0, 1; the response_format tool streams as content', () => {
    const sse = (events: Json[]) =>
      events.map((e) => `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join('');
    const start = {
      type: 'message_start',
      message: { id: 'msg_x', model: 'm', usage: { input_tokens: 3, output_tokens: 1 } },
    };
    const tools = runStream(
      new AnthropicStreamTranslator(),
      sse([
        start,
        {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'tool_use', id: 'a', name: 'f', input: {} },
        },
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"x":' } },
        {
          type: 'content_block_start',
          index: 1,
          content_block: { type: 'tool_use', id: 'b', name: 'g', input: {} },
        },
        { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{}' } },
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '1}' } },
        { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } },
        { type: 'message_stop' },
      ]),
    );
    expect(tools.assembler.toChatRes(IDENTITY).choices[0]?.message.tool_calls).toEqual([
      { id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
      { id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } },
    ]);
    const json = runStream(
      new AnthropicStreamTranslator(),
      sse([
        start,
        {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'tool_use', id: 'j', name: JSON_TOOL_NAME, input: {} },
        },
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '' } },
        {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '{"total"' },
        },
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: ': 14}' } },
        { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } },
        { type: 'message_stop' },
      ]),
    );
    const res = json.assembler.toChatRes(IDENTITY);
    expect(res.choices[0]?.message).toEqual({ role: 'assistant', content: '{"total": 14}' });
    expect(res.choices[0]?.finish_reason).toBe('stop');
  });
});

describe('anthropic errors', () => {
  it('classifies error bodies: overloaded and rate limits retry, invalid requests do not, billing does', () => {
    const body = (type: string, message: string) =>
      JSON.stringify({ type: 'error', error: { type, message } });
    expect(anthropicError(529, body('overloaded_error', 'Overloaded'))).toEqual({
      message: 'Overloaded',
      type: 'overloaded_error',
      retryable: true,
    });
    expect(anthropicError(429, body('rate_limit_error', 'slow down')).retryable).toBe(true);
    expect(anthropicError(401, body('authentication_error', 'invalid x-api-key')).retryable).toBe(true);
    expect(
      anthropicError(
        400,
        body('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'),
      ),
    ).toEqual({
      message: 'prompt is too long: 210000 tokens > 200000 maximum',
      type: 'invalid_request_error',
      retryable: false,
    });
    expect(anthropicError(400, body('billing_error', 'credit balance too low')).retryable).toBe(true);
  });
});
