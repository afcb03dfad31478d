import { describe, expect, it } from 'vitest';
import {
  ChatCompletionChunk,
  ChatListRes,
  ChatReq,
  ChatRes,
  ChatResRelaxedInput,
  ChatResRelaxedOutput,
  CompletionListQuery,
  ErrorResponse,
  HTTPValidationError,
  MANIAC_ONLY_CHAT_REQ_KEYS,
  Message,
  OPENAI_EXTRA_CHAT_REQ_KEYS,
  RegisterReq,
  RegisterRes,
} from './index.js';

describe('ChatReq', () => {
  it('accepts a minimal request and applies defaults', () => {
    const parsed = ChatReq.parse({ messages: [{ role: 'user', content: 'hi' }] });
    expect(parsed).toEqual({ messages: [{ role: 'user', content: 'hi' }], stream: false, store: true });
  });

  it('keeps explicit nulls for nullable defaults', () => {
    expect(ChatReq.parse({ messages: [], stream: null, store: null })).toMatchObject({
      stream: null,
      store: null,
    });
  });

  it('accepts a full OpenAI-style request with Maniac extensions', () => {
    const body = {
      model: 'openai/gpt-4o',
      models: ['anthropic/claude-3-5-sonnet'],
      messages: [
        { role: 'developer', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?', cache_control: { type: 'ephemeral' } },
            { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '42' },
      ],
      frequency_penalty: 0.1,
      logit_bias: { '50256': -100 },
      logprobs: true,
      top_logprobs: 2,
      max_completion_tokens: 100,
      max_tokens: 100,
      metadata: { team: 'x', n: 1 },
      presence_penalty: 0,
      reasoning: { effort: 'low', summary: 'auto', max_tokens: 1000 },
      response_format: {
        type: 'json_schema',
        json_schema: { name: 's', schema: { type: 'object' }, strict: true },
      },
      seed: 7,
      stop: ['\n\n'],
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: false },
      temperature: 0.2,
      tool_choice: { type: 'function', function: { name: 'f' } },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' }, strict: false } }],
      parallel_tool_calls: false,
      top_p: 1,
      tags: ['a'],
      store: false,
      trace: { id: 't1', span_id: 's1', parent_span_id: null, name: 'n', source: 'langchain', metadata: {} },
    };
    const parsed = ChatReq.parse(body);
    expect(parsed).toEqual(body);
  });

  it('keeps unknown keys of non-strict nested objects (lossless forwarding)', () => {
    const parsed = ChatReq.parse({
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral' } }] },
      ],
      stream_options: { include_usage: true, include_obfuscation: false },
    });
    expect(parsed.stream_options).toEqual({ include_usage: true, include_obfuscation: false });
    expect(parsed.messages[0]?.content).toEqual([
      { type: 'text', text: 'x', cache_control: { type: 'ephemeral' } },
    ]);
  });

  it('fills literal defaults of content parts, tools and tool calls', () => {
    const parsed = ChatReq.parse({
      messages: [
        { role: 'user', content: [{ text: 'a' }, { image_url: { url: 'u' } }] },
        { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{}' } }] },
      ],
      tools: [{ function: { name: 'f' } }],
      response_format: {},
    });
    expect(parsed.messages[0]?.content).toEqual([
      { type: 'text', text: 'a' },
      { type: 'image_url', image_url: { url: 'u' } },
    ]);
    expect(parsed.messages[1]?.tool_calls?.[0]?.type).toBe('function');
    expect(parsed.tools?.[0]?.type).toBe('function');
    expect(parsed.response_format).toEqual({ type: 'text' });
  });

  it('accepts the standard OpenAI parameters the spec does not list', () => {
    const extras = {
      n: 2,
      user: 'u-1',
      reasoning_effort: 'minimal',
      service_tier: 'flex',
      modalities: ['text', 'audio'],
      prediction: { type: 'content', content: 'x' },
      audio: { voice: 'alloy', format: 'wav' },
      web_search_options: { search_context_size: 'low' },
      verbosity: 'low',
      safety_identifier: 'hash',
      prompt_cache_key: 'k',
      functions: [{ name: 'f', parameters: {} }],
      function_call: { name: 'f' },
    };
    expect(Object.keys(extras).sort()).toEqual([...OPENAI_EXTRA_CHAT_REQ_KEYS].sort());
    expect(ChatReq.parse({ messages: [], ...extras })).toMatchObject(extras);
    expect(ChatReq.safeParse({ messages: [], function_call: 'auto' }).success).toBe(true);
    expect(ChatReq.safeParse({ messages: [], reasoning_effort: 'xhigh', verbosity: 'high' }).success).toBe(
      true,
    );
  });

  it('still rejects unknown keys and bad extras', () => {
    expect(ChatReq.safeParse({ messages: [], foo: 1 }).success).toBe(false);
    expect(ChatReq.safeParse({ messages: [], n: 0 }).success).toBe(false);
    expect(ChatReq.safeParse({ messages: [], n: 1.5 }).success).toBe(false);
    expect(ChatReq.safeParse({ messages: [], verbosity: 'loud' }).success).toBe(false);
    expect(ChatReq.safeParse({ messages: [], reasoning_effort: 'max' }).success).toBe(false);
    expect(ChatReq.safeParse({ messages: [], functions: ['f'] }).success).toBe(false);
  });

  it('lists the Maniac-only keys, all of them ChatReq fields', () => {
    expect([...MANIAC_ONLY_CHAT_REQ_KEYS]).toEqual(['models', 'tags', 'store', 'trace', 'metadata']);
    for (const key of MANIAC_ONLY_CHAT_REQ_KEYS) expect(Object.keys(ChatReq.shape)).toContain(key);
  });
});

describe('Message', () => {
  it('accepts the documented OpenAI message extras', () => {
    const message = {
      role: 'assistant',
      content: null,
      refusal: null,
      audio: { id: 'audio_1' },
      function_call: { name: 'f', arguments: '{}' },
      reasoning: 'thinking',
      reasoning_content: 'thinking',
    };
    expect(Message.parse(message)).toEqual(message);
  });

  it('rejects other unknown keys and roles', () => {
    expect(Message.safeParse({ role: 'user', content: 'x', annotations: [] }).success).toBe(false);
    expect(Message.safeParse({ role: 'function', content: 'x' }).success).toBe(false);
  });
});

describe('responses', () => {
  const chatRes = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1727346168,
    model: 'openai/gpt-4o',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'hi', refusal: null, annotations: [] },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: 1,
      completion_tokens: 2,
      total_tokens: 3,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
    provider: 'openai',
    container: null,
  };

  it('ChatRes parses a served completion and is strict at the top level', () => {
    expect(ChatRes.parse(chatRes)).toEqual(chatRes);
    expect(ChatRes.safeParse({ ...chatRes, system_fingerprint: 'fp' }).success).toBe(false);
    expect(ChatRes.parse({ ...chatRes, object: undefined }).object).toBe('chat.completion');
  });

  it('ChatCompletionChunk parses OpenAI stream chunks, including the usage-only one', () => {
    const chunks = [
      {
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o',
        system_fingerprint: 'fp',
        choices: [
          {
            index: 0,
            delta: { role: 'assistant', content: '', refusal: null },
            logprobs: null,
            finish_reason: null,
          },
        ],
      },
      {
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o',
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] },
            finish_reason: null,
          },
        ],
        obfuscation: 'xyz',
      },
      {
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o',
        choices: [],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        provider: 'openai',
        container: 'c',
      },
    ];
    for (const chunk of chunks) expect(ChatCompletionChunk.parse(chunk)).toEqual(chunk);
    expect(ChatCompletionChunk.safeParse({ ...chunks[2], object: 'chat.completion' }).success).toBe(false);
  });

  it('ChatListRes and relaxed items: output strips unknown keys, input keeps them', () => {
    const item = {
      id: null,
      choices: [{ message: { role: 'assistant', content: [{ type: 'text', text: 'x' }], extra: 1 } }],
      created: '2024-01-01',
      system_fingerprint: 'fp',
    };
    expect(ChatResRelaxedInput.parse(item)).toEqual({ ...item, object: 'chat.completion' });
    const { system_fingerprint: _dropped, ...kept } = item;
    expect(ChatResRelaxedOutput.parse(item)).toEqual({ ...kept, object: 'chat.completion' });
    const list = ChatListRes.parse({ data: [item], total: 1 });
    expect(list.object).toBe('list');
    expect(ChatListRes.safeParse({ data: [], total: -1 }).success).toBe(false);
    expect(ChatListRes.safeParse({ data: [], total: 0, has_more: false }).success).toBe(false);
  });

  it('RegisterReq / RegisterRes / ErrorResponse / HTTPValidationError', () => {
    const req = {
      container: 'c',
      items: [
        {
          input: { messages: [{ role: 'user', content: 'q' }] },
          output: { choices: [{ message: { role: 'assistant' } }] },
        },
        { input: { messages: [] }, tags: ['t'], metadata: null },
      ],
    };
    expect(RegisterReq.safeParse(req).success).toBe(true);
    expect(RegisterReq.safeParse({ items: [] }).success).toBe(false);
    expect(RegisterReq.safeParse({ ...req, items: [{ input: { messages: [] }, extra: 1 }] }).success).toBe(
      false,
    );
    expect(
      RegisterRes.safeParse({ ok: true, container: 'c', summary: { inserted: 1 }, errors: [] }).success,
    ).toBe(true);
    expect(
      ErrorResponse.safeParse({ error: { code: 'x', message: 'y', details: { request_id: 'r' } } }).success,
    ).toBe(true);
    expect(ErrorResponse.safeParse({ error: { code: 'x' } }).success).toBe(false);
    expect(
      HTTPValidationError.safeParse({
        detail: [{ type: 'missing', loc: ['body', 'messages', 0], msg: 'Field required' }],
      }).success,
    ).toBe(true);
  });
});

describe('CompletionListQuery', () => {
  it('applies defaults', () => {
    expect(CompletionListQuery.parse({})).toEqual({ limit: 20, offset: 0, order: 'desc' });
  });

  it('coerces query strings like FastAPI', () => {
    expect(
      CompletionListQuery.parse({ limit: '5', offset: '10', model: 'm', container: 'c', order: 'asc' }),
    ).toEqual({
      limit: 5,
      offset: 10,
      model: 'm',
      container: 'c',
      order: 'asc',
    });
    expect(CompletionListQuery.parse({ limit: ' 7 ', offset: '+3' })).toMatchObject({ limit: 7, offset: 3 });
    expect(CompletionListQuery.parse({ limit: '5.0', offset: '1_0' })).toMatchObject({
      limit: 5,
      offset: 10,
    });
    expect(CompletionListQuery.parse({ limit: 9 })).toMatchObject({ limit: 9 });
  });

  it('uses the last value of a repeated parameter and ignores unknown parameters', () => {
    expect(CompletionListQuery.parse({ limit: ['1', '2'], order: ['desc', 'asc'], foo: 'bar' })).toEqual({
      limit: 2,
      offset: 0,
      order: 'asc',
    });
  });

  it('rejects non-integers and out-of-range values', () => {
    for (const limit of ['1.5', 'abc', '', '1e2', '0x10', '0', '101', '-1']) {
      expect(CompletionListQuery.safeParse({ limit }).success).toBe(false);
    }
    expect(CompletionListQuery.safeParse({ offset: '-1' }).success).toBe(false);
    expect(CompletionListQuery.safeParse({ order: 'up' }).success).toBe(false);
  });
});
