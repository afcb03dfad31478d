import { describe, expect, it } from 'vitest';
import type { StoredCompletion } from './completion-store.js';
import { modelId } from './model-id.js';
import { renderCompletion } from './render.js';

const base: StoredCompletion = {
  completion_id: 'chatcmpl-1',
  event_id: 'e1',
  source: 'completion',
  model: 'openai/gpt-4o',
  provider: 'openai',
  container: 'support-bot',
  has_usage: 1,
  prompt_tokens: '10',
  completion_tokens: '5',
  total_tokens: '15',
  cached_tokens: '4',
  cache_creation_tokens: null,
  reasoning_tokens: '2',
  spend_nanos: '123456789',
  tags: ['a'],
  metadata_json: '{"user":"u1"}',
  trace_json: '{"id":"tr","span_id":"s","extra":"dropped"}',
  response_json: JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1767225600,
    model: 'openai/gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { audio_tokens: 0 },
    },
    provider: 'openai',
    container: 'support-bot',
    system_fingerprint: 'fp',
  }),
  created_ms: '1767225600123',
};

describe('renderCompletion', () => {
  it('builds a ChatResRelaxed item from the stored response and the event columns', () => {
    expect(renderCompletion(base)).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1767225600,
      model: 'openai/gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        prompt_tokens_details: { audio_tokens: 0, cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 2 },
      },
      provider: 'openai',
      container: 'support-bot',
      model_id: modelId('openai/gpt-4o'),
      spend: 0.123456789,
      tags: ['a'],
      metadata: { user: 'u1' },
      trace: { id: 'tr', span_id: 's' },
    });
  });

  it('renders a registered example without output: no choices, null usage and spend', () => {
    const item = renderCompletion({
      ...base,
      source: 'register',
      model: '',
      provider: '',
      container: 'support-bot',
      has_usage: 0,
      prompt_tokens: '0',
      completion_tokens: '0',
      total_tokens: '0',
      cached_tokens: null,
      reasoning_tokens: null,
      spend_nanos: null,
      response_json: null,
      metadata_json: null,
      trace_json: 'not json',
      tags: [],
    });
    expect(item).toMatchObject({
      id: 'chatcmpl-1',
      created: 1767225600,
      model: null,
      choices: [],
      usage: null,
      provider: null,
      model_id: null,
      spend: null,
      metadata: null,
      trace: null,
    });
  });
});
