import { describe, expect, it } from 'vitest';
import { MODEL_ID_NAMESPACE, canonicalModel, modelFilter, modelId, uuidV5 } from './model-id.js';

describe('uuidV5', () => {
  it('matches the RFC test vector', () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'www.example.com')
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
    expect(uuidV5('https://maniac.ai/gateway/models', '6ba7b811-9dad-11d1-80b4-00c04fd430c8')).toBe(
      MODEL_ID_NAMESPACE,
    );
  });
});

describe('model ids and filters', () => {
  it('gives both spellings of a model the same stable id', () => {
    const id = modelId('openai/gpt-4o');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(modelId('openai:gpt-4o')).toBe(id);
    expect(modelId('OpenAI:gpt-4o')).toBe(id);
    expect(modelId('openai/gpt-4o-mini')).not.toBe(id);
    expect(modelId(null)).toBeNull();
    expect(modelId('')).toBeNull();
  });

  it('canonicalises only the first separator', () => {
    expect(canonicalModel('ollama:llama3:8b')).toBe('ollama/llama3:8b');
    expect(canonicalModel('together/meta-llama/Llama-3-70b')).toBe('together/meta-llama/Llama-3-70b');
    expect(canonicalModel('gpt-4o')).toBe('gpt-4o');
  });

  it('matches either spelling, and maps maniac:<label> to the container', () => {
    expect(modelFilter('openai:gpt-4o')).toEqual({
      models: ['openai:gpt-4o', 'openai/gpt-4o'],
      container: null,
    });
    expect(modelFilter('openai/gpt-4o')).toEqual({
      models: ['openai/gpt-4o', 'openai:gpt-4o'],
      container: null,
    });
    expect(modelFilter('llama3:8b').models).toContain('llama3:8b');
    expect(modelFilter('maniac:support-bot')).toEqual({ models: [], container: 'support-bot' });
    expect(modelFilter('maniac/support-bot')).toEqual({ models: [], container: 'support-bot' });
    expect(modelFilter('maniac:support-bot:openai/gpt-4o')).toEqual({
      models: ['openai/gpt-4o', 'openai:gpt-4o'],
      container: 'support-bot',
    });
  });
});
