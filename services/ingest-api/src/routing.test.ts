import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ApiError, type ContainerConfig } from '@maniac-gateway/runtime';
import { parseSlug, planRoute, type RoutingTable } from './routing.js';

const container: ContainerConfig = {
  label: 'support-bot',
  model: 'openai/gpt-4o-mini',
  fallback_models: ['groq:llama-3.1-8b-instant'],
  system_prompt: 'Be brief.',
  params: {},
};
const table: RoutingTable = {
  hasProvider: (p) => ['openai', 'groq', 'openrouter', 'ollama'].includes(p),
  container: (label) => (label === 'support-bot' ? container : undefined),
};

function status(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? err.status : -1;
  }
  return undefined;
}

describe('parseSlug', () => {
  it('treats / and : as equivalent and keeps the rest intact', () => {
    expect(parseSlug('openai/gpt-4o')).toEqual({ provider: 'openai', model: 'gpt-4o' });
    expect(parseSlug('openai:gpt-4o')).toEqual({ provider: 'openai', model: 'gpt-4o' });
    expect(parseSlug('openrouter/meta-llama/llama-3-70b')).toEqual({
      provider: 'openrouter',
      model: 'meta-llama/llama-3-70b',
    });
    expect(parseSlug('ollama/llama3:8b')).toEqual({ provider: 'ollama', model: 'llama3:8b' });
    expect(parseSlug('ollama:llama3:8b')).toEqual({ provider: 'ollama', model: 'llama3:8b' });
  });

  it('rejects slugs without a provider or model', () => {
    for (const bad of ['gpt-4o', '/gpt-4o', 'openai/', ':', '']) expect(parseSlug(bad)).toBeNull();
  });

  it('round-trips any provider and model (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9_-]{0,15}$/),
        fc.string({ minLength: 1 }).filter((m) => m.trim() === m && m.length > 0),
        fc.constantFrom('/', ':'),
        (provider, model, sep) => {
          expect(parseSlug(`${provider}${sep}${model}`)).toEqual({ provider, model });
        },
      ),
    );
  });
});

describe('planRoute', () => {
  it('orders model, then models, without duplicates', () => {
    const plan = planRoute('openai:gpt-4o', ['groq/llama-3.1-8b-instant', 'openai/gpt-4o'], table);
    expect(plan.attempts.map((a) => a.slug)).toEqual(['openai/gpt-4o', 'groq/llama-3.1-8b-instant']);
    expect(plan.container).toBeNull();
  });

  it('uses models[0] when model is absent', () => {
    expect(planRoute(null, ['groq/x', 'openai/y'], table).attempts.map((a) => a.slug)).toEqual([
      'groq/x',
      'openai/y',
    ]);
  });

  it('resolves containers and pinned models, then the container fallbacks', () => {
    const plan = planRoute('maniac:support-bot', ['openai/gpt-4o'], table);
    expect(plan.container?.label).toBe('support-bot');
    expect(plan.attempts.map((a) => a.slug)).toEqual([
      'openai/gpt-4o-mini',
      'openai/gpt-4o',
      'groq/llama-3.1-8b-instant',
    ]);
    const pinned = planRoute('maniac/support-bot:ollama/llama3:8b', null, table);
    expect(pinned.attempts[0]).toEqual({ provider: 'ollama', model: 'llama3:8b', slug: 'ollama/llama3:8b' });
  });

  it('404s unknown providers and containers, 400s a missing model', () => {
    expect(status(() => planRoute('nope/x', null, table))).toBe(404);
    expect(status(() => planRoute('maniac:nope', null, table))).toBe(404);
    expect(status(() => planRoute('gpt-4o', null, table))).toBe(404);
    expect(status(() => planRoute(null, null, table))).toBe(400);
  });

  it('routes google/… to the gemini provider (canonical gemini/…), unless a google provider exists', () => {
    const withGemini: RoutingTable = { ...table, hasProvider: (p) => ['openai', 'gemini'].includes(p) };
    const plan = planRoute(
      'google/gemini-2.5-flash',
      ['gemini:gemini-2.5-flash', 'google:gemini-2.5-pro'],
      withGemini,
    );
    expect(plan.attempts).toEqual([
      { provider: 'gemini', model: 'gemini-2.5-flash', slug: 'gemini/gemini-2.5-flash' },
      { provider: 'gemini', model: 'gemini-2.5-pro', slug: 'gemini/gemini-2.5-pro' },
    ]);
    const own: RoutingTable = { ...table, hasProvider: (p) => ['gemini', 'google'].includes(p) };
    expect(planRoute('google/x', null, own).attempts[0]?.provider).toBe('google');
    expect(status(() => planRoute('google/x', null, table))).toBe(404);
  });
});
