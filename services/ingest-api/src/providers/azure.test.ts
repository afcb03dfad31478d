import { describe, expect, it } from 'vitest';
import { IDENTITY, chatReq, context, runStream } from '../../test/support/adapter-harness.js';
import type { Json } from './adapter.js';
import { azureAdapter } from './azure.js';

const ctx = (over: Parameters<typeof context>[1] = {}, provider: Parameters<typeof context>[2] = {}) =>
  context('azure', { upstreamModel: 'my-gpt4o', ...over }, provider);

describe('azure adapter', () => {
  it('posts to the deployment URL with api-key and api-version; the body is the OpenAI one without model', () => {
    const messages = [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: 'What is this?' },
          { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
    ];
    const responseFormat = {
      type: 'json_schema' as const,
      json_schema: { name: 'thing', schema: { type: 'object' }, strict: true },
    };
    const call = azureAdapter.request(
      chatReq({
        messages,
        temperature: 0.2,
        seed: 1,
        logprobs: true,
        response_format: responseFormat,
        reasoning: { effort: 'low' },
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      }),
      ctx({}, { api_version: '2025-01-01-preview' }),
    );
    expect(call.path).toBe('/openai/deployments/my-gpt4o/chat/completions?api-version=2025-01-01-preview');
    expect(call.headers).toEqual({ 'api-key': 'key-123' });
    expect(call.body).toEqual({
      messages,
      temperature: 0.2,
      seed: 1,
      logprobs: true,
      response_format: responseFormat,
      reasoning_effort: 'low',
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    });
    const streamed = azureAdapter.request(
      chatReq({}),
      ctx({ stream: true, upstreamModel: 'dep/with space' }),
    );
    expect(streamed.path).toBe(
      '/openai/deployments/dep%2Fwith%20space/chat/completions?api-version=2024-10-21',
    );
    expect(streamed.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('drops the content-filter-only chunk Azure sends first, keeps content and usage chunks', () => {
    const events: Json[] = [
      {
        id: '',
        object: '',
        created: 0,
        model: '',
        choices: [],
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
      },
      {
        id: 'chatcmpl-az1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o',
        choices: [
          {
            index: 0,
            delta: { role: 'assistant', content: 'Hi' },
            finish_reason: null,
            content_filter_results: {},
          },
        ],
      },
      {
        id: 'chatcmpl-az1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      },
      {
        id: 'chatcmpl-az1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o',
        choices: [],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      },
    ];
    const sse = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n';
    const run = runStream(azureAdapter.stream(ctx({ stream: true })), sse);
    expect(run.done).toBe(true);
    expect(run.chunks).toHaveLength(3);
    expect(run.assembler.upstreamId).toBe('chatcmpl-az1');
    const res = run.assembler.toChatRes(IDENTITY);
    expect(res.choices[0]).toMatchObject({ message: { content: 'Hi' }, finish_reason: 'stop' });
    expect(res.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 1 });
  });
});
