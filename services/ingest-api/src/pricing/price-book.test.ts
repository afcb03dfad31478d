import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PriceBook, type SpendUsage } from './price-book.js';
import { BUILTIN_PRICES } from './prices.js';

function usage(
  prompt: number,
  completion: number,
  extra: Partial<Pick<SpendUsage, 'cached_tokens' | 'cache_creation_tokens' | 'reasoning_tokens'>> = {},
): SpendUsage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    cached_tokens: extra.cached_tokens ?? null,
    cache_creation_tokens: extra.cache_creation_tokens ?? null,
    reasoning_tokens: extra.reasoning_tokens ?? null,
  };
}

const book = PriceBook.builtin();

describe('builtin table', () => {
  it('loads every entry and covers every supported provider', () => {
    expect(book.size).toBe(Object.keys(BUILTIN_PRICES).length);
    const providers = new Set(book.models().map((m) => m.provider));
    for (const p of [
      'openai',
      'anthropic',
      'gemini',
      'groq',
      'together',
      'fireworks',
      'deepseek',
      'mistral',
    ]) {
      expect(providers.has(p), p).toBe(true);
    }
    for (const p of ['openrouter', 'xai']) expect(providers.has(p), p).toBe(true);
  });

  it('has the commonly used models', () => {
    for (const [provider, model] of [
      ['openai', 'gpt-4o'],
      ['openai', 'gpt-4o-mini'],
      ['openai', 'gpt-4.1'],
      ['openai', 'o3'],
      ['openai', 'o4-mini'],
      ['openai', 'gpt-5'],
      ['anthropic', 'claude-sonnet-4-5'],
      ['gemini', 'gemini-2.5-flash'],
      ['groq', 'llama-3.1-8b-instant'],
      ['together', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'],
      ['fireworks', 'accounts/fireworks/models/llama-v3p3-70b-instruct'],
      ['deepseek', 'deepseek-chat'],
      ['deepseek', 'deepseek-reasoner'],
      ['mistral', 'mistral-large-latest'],
      ['xai', 'grok-4'],
    ] as const) {
      expect(book.lookup(provider, model), `${provider}/${model}`).not.toBeNull();
    }
  });

  it('gives an integer spend for every builtin model', () => {
    const u = usage(12_345, 6_789, { cached_tokens: 1_111, reasoning_tokens: 222 });
    for (const m of book.models()) {
      const spend = book.spendNanos(m.provider, m.model, u);
      expect(Number.isSafeInteger(spend), m.id).toBe(true);
      expect(spend).toBeGreaterThanOrEqual(0);
    }
  });

  it('returns independent books', () => {
    const a = PriceBook.builtin().extend({ 'openai/gpt-4o': null });
    expect(a.lookup('openai', 'gpt-4o')).toBeNull();
    expect(PriceBook.builtin().lookup('openai', 'gpt-4o')).not.toBeNull();
  });
});

describe('spendNanos', () => {
  it('gpt-4o-mini: 1000 prompt incl. 200 cached + 500 completion', () => {
    // 800 × $0.15 + 200 × $0.075 + 500 × $0.60 per million = $0.000435
    expect(book.spendNanos('openai', 'gpt-4o-mini', usage(1000, 500, { cached_tokens: 200 }))).toBe(435_000);
  });

  it('charges cached tokens at the input price when there is no cached price', () => {
    // gpt-4-turbo: $10 in / $30 out, no cache price.
    expect(book.spendNanos('openai', 'gpt-4-turbo', usage(1000, 100, { cached_tokens: 400 }))).toBe(
      1000 * 10_000 + 100 * 30_000,
    );
  });

  it('anthropic: cache reads, cache writes and reasoning inside completion', () => {
    // claude-sonnet-4-5: $3 in, $0.30 cache read, $3.75 cache write, $15 out (reasoning at output).
    // 5000 × 3 + 4000 × 0.3 + 1000 × 3.75 + 2000 × 15 = 49 950 (USD × 1e6)
    const u = usage(10_000, 2_000, {
      cached_tokens: 4_000,
      cache_creation_tokens: 1_000,
      reasoning_tokens: 500,
    });
    expect(book.spendNanos('anthropic', 'claude-sonnet-4-5', u)).toBe(49_950_000);
  });

  it('charges reasoning tokens at the reasoning price when given', () => {
    const b = new PriceBook().extend({ 'lab/thinker': { input: 1, output: 2, reasoning: 5 } });
    // 10 × 1 + 60 × 2 + 40 × 5 = 330
    expect(b.spendNanos('lab', 'thinker', usage(10, 100, { reasoning_tokens: 40 }))).toBe(330_000);
  });

  it('exact sub-nano prices: one cached gpt-5-nano token is 5 nanos, deepseek-v4-pro cache reads', () => {
    // prompt = cached = 1 token at $0.005 per million = 5 nanos.
    expect(book.spendNanos('openai', 'gpt-5-nano', usage(1, 0, { cached_tokens: 1 }))).toBe(5);
    // 1e6 cached × $0.003625 = $0.003625
    expect(
      book.spendNanos('deepseek', 'deepseek-v4-pro', usage(1_000_000, 0, { cached_tokens: 1_000_000 })),
    ).toBe(3_625_000);
  });

  it('rounds once at the end, exactly', () => {
    // Each part is 0.4 nanos (would round to 0 alone); together 0.8 → 1.
    const b = new PriceBook().extend({ 'x/m': { input: 0.0004, output: 0.0004 } });
    expect(b.spendNanos('x', 'm', usage(1, 1))).toBe(1);
    // 3 cached × $0.0375/M = 112.5 nanos exactly (floating point would give 112.49999…) → 113.
    expect(book.spendNanos('groq', 'openai/gpt-oss-20b', usage(3, 0, { cached_tokens: 3 }))).toBe(113);
    // 0.1 + 0.2 style sums stay exact: 1 × $0.1 + 2 × $0.1 (gpt-4.1-nano) = 300 nanos.
    expect(book.spendNanos('openai', 'gpt-4.1-nano', usage(3, 0))).toBe(300);
  });

  it('applies a long-context tier to the whole request once the prompt exceeds it', () => {
    // gemini-2.5-pro: $1.25/$10 up to 200k prompt tokens, $2.50/$15 (cache read $0.25) above.
    expect(book.spendNanos('gemini', 'gemini-2.5-pro', usage(200_000, 1_000))).toBe(260_000_000);
    // 200 000 × 2.5 + 50 000 × 0.25 + 1 000 × 15 = 527 500
    expect(
      book.spendNanos('gemini', 'gemini-2.5-pro', usage(250_000, 1_000, { cached_tokens: 50_000 })),
    ).toBe(527_500_000);
  });

  it('returns null when a long-context tier lacks a rate the request needs', () => {
    // xai/grok-4-1-fast has a cache-read price below 128k but none in its long-context tier.
    expect(book.spendNanos('xai', 'grok-4-1-fast', usage(200_000, 100, { cached_tokens: 1_000 }))).toBeNull();
    expect(book.spendNanos('xai', 'grok-4-1-fast', usage(200_000, 100))).toBe(80_100_000);
  });

  it('returns null for unknown models, unknown providers and missing usage', () => {
    expect(book.spendNanos('openai', 'gpt-unknown', usage(10, 10))).toBeNull();
    expect(book.spendNanos('nosuch', 'gpt-4o', usage(10, 10))).toBeNull();
    expect(book.spendNanos('openai', 'gpt-4o', null)).toBeNull();
    expect(book.spendNanos('openai', 'gpt-4o', undefined)).toBeNull();
  });

  it('returns null for inconsistent usage rather than a wrong number', () => {
    expect(book.spendNanos('openai', 'gpt-4o', usage(100, 10, { cached_tokens: 101 }))).toBeNull();
    expect(
      book.spendNanos(
        'anthropic',
        'claude-haiku-4-5',
        usage(100, 10, { cached_tokens: 60, cache_creation_tokens: 50 }),
      ),
    ).toBeNull();
    expect(book.spendNanos('openai', 'o3', usage(100, 10, { reasoning_tokens: 11 }))).toBeNull();
    expect(book.spendNanos('openai', 'gpt-4o', usage(-1, 10))).toBeNull();
    expect(book.spendNanos('openai', 'gpt-4o', usage(Number.NaN, 10))).toBeNull();
  });

  it('prices only standard service tiers', () => {
    const u = usage(1000, 500);
    expect(book.spendNanos('openai', 'gpt-4o-mini', u, { serviceTier: 'default' })).toBe(450_000);
    expect(book.spendNanos('openai', 'gpt-4o-mini', u, { serviceTier: null })).toBe(450_000);
    expect(book.spendNanos('openai', 'gpt-4o-mini', u, { serviceTier: 'priority' })).toBeNull();
    expect(book.spendNanos('openai', 'gpt-4o-mini', u, { serviceTier: 'flex' })).toBeNull();
  });
});

describe('lookup', () => {
  it('never folds a dated snapshot onto its undated alias', () => {
    expect(book.lookup('openai', 'gpt-4o')?.input).toBe(2.5);
    expect(book.lookup('openai', 'gpt-4o-2024-05-13')?.input).toBe(5);
    expect(book.lookup('openai', 'gpt-4o-2024-08-06')?.input).toBe(2.5);
    expect(book.lookup('openai', 'gpt-4o-2099-01-01')).toBeNull();
    expect(book.lookup('anthropic', 'claude-sonnet-4-5-20990101')).toBeNull();
  });

  it('answers from the entries as they are now, after a lookup was remembered', () => {
    const b = new PriceBook().extend({ 'x/m': { input: 1, output: 1 } });
    expect(b.lookup('x', 'M')?.input).toBe(1);
    expect(b.lookup('x', 'other')).toBeNull();
    b.extend({ 'x/m': { input: 3, output: 3 }, 'x/other': { input: 4, output: 4 } });
    expect(b.lookup('x', 'M')?.input).toBe(3);
    expect(b.lookup('x', 'other')?.input).toBe(4);
    b.extend({ 'x/m': null });
    expect(b.lookup('x', 'M')).toBeNull();
    // Many distinct (client-given) model names: still answered, from a bounded memory.
    for (let i = 0; i < 10_000; i++) expect(b.lookup('x', `unknown-${i}`)).toBeNull();
    expect(b.lookup('x', 'other')?.input).toBe(4);
  });

  it('matches case-insensitively', () => {
    expect(book.lookup('OpenAI', 'GPT-4o')).toEqual(book.lookup('openai', 'gpt-4o'));
    expect(book.lookup('together', 'meta-llama/llama-3.3-70b-instruct-turbo')?.input).toBe(0.88);
  });

  it('refuses an ambiguous case-insensitive match with different prices', () => {
    const b = new PriceBook().extend({
      'x/Model': { input: 1, output: 1 },
      'x/MODEL': { input: 2, output: 2 },
    });
    expect(b.lookup('x', 'Model')?.input).toBe(1);
    expect(b.lookup('x', 'model')).toBeNull();
    const same = new PriceBook().extend({
      'x/Model': { input: 1, output: 1 },
      'x/MODEL': { input: 1, output: 1 },
    });
    expect(same.lookup('x', 'model')?.input).toBe(1);
  });

  it('resolves explicit aliases of the same model', () => {
    expect(book.lookup('gemini', 'models/gemini-2.5-flash')).toEqual(
      book.lookup('gemini', 'gemini-2.5-flash'),
    );
    expect(book.lookup('fireworks', 'llama-v3p3-70b-instruct')).toEqual(
      book.lookup('fireworks', 'accounts/fireworks/models/llama-v3p3-70b-instruct'),
    );
    const b = new PriceBook().extend({ 'fireworks/my-model': { input: 1, output: 1 } });
    expect(b.lookup('fireworks', 'accounts/fireworks/models/my-model')?.input).toBe(1);
  });
});

describe('extend (config overrides)', () => {
  it('adds and overrides entries, defaulting omitted fields to null', () => {
    const b = PriceBook.builtin().extend({
      'openai/gpt-4o-mini': { input: 1, output: 2 },
      'vllm/Qwen/Qwen3-8B': { input: 0.01, output: 0.02, context_window: 32768 },
    });
    expect(b.lookup('openai', 'gpt-4o-mini')).toEqual({
      input: 1,
      output: 2,
      cached_input: null,
      cache_write: null,
      reasoning: null,
      context_window: null,
      max_output_tokens: null,
      long_context: null,
    });
    // The override has no cached price: the 200 cached tokens are charged at input.
    expect(b.spendNanos('openai', 'gpt-4o-mini', usage(1000, 500, { cached_tokens: 200 }))).toBe(2_000_000);
    expect(b.spendNanos('vllm', 'Qwen/Qwen3-8B', usage(1000, 1000))).toBe(30_000);
    expect(b.models('vllm')).toEqual([
      expect.objectContaining({
        id: 'vllm/Qwen/Qwen3-8B',
        provider: 'vllm',
        model: 'Qwen/Qwen3-8B',
        context_window: 32768,
      }),
    ]);
  });

  it('lower-cases the provider and ignores metadata keys', () => {
    const b = new PriceBook().extend({
      _source: { note: 'x' } as never,
      'MyProv/M': { input: 1, output: 1 },
    });
    expect(b.size).toBe(1);
    expect(b.models()[0]?.id).toBe('myprov/M');
  });

  it('removes an entry given null', () => {
    const b = PriceBook.builtin().extend({ 'openai/gpt-4o': null });
    expect(b.spendNanos('openai', 'gpt-4o', usage(1, 1))).toBeNull();
  });

  it('rejects invalid entries, listing every problem, and applies nothing', () => {
    const b = new PriceBook().extend({ 'x/ok': { input: 1, output: 1 } });
    expect(() =>
      b.extend({
        'x/ok': { input: 5, output: 5 },
        'no-slash': { input: 1, output: 1 },
        'x/neg': { input: -1, output: 1 },
        'x/typo': { input: 1, output: 1, outptu: 3 } as never,
      }),
    ).toThrow(/no-slash[\s\S]*x\/neg[\s\S]*x\/typo/);
    expect(b.lookup('x', 'ok')?.input).toBe(1);
  });
});

describe('loadLiteLlm', () => {
  const litellm = {
    sample_spec: { input_cost_per_token: 0, litellm_provider: 'one of …', mode: 'chat' },
    'gpt-test': {
      litellm_provider: 'openai',
      mode: 'chat',
      input_cost_per_token: 1.25e-7,
      output_cost_per_token: 1e-6,
      cache_read_input_token_cost: 1.25e-8,
      max_input_tokens: 272000,
      max_output_tokens: 128000,
    },
    'groq/llama-test': {
      litellm_provider: 'groq',
      mode: 'chat',
      input_cost_per_token: 5e-8,
      output_cost_per_token: 8e-8,
    },
    'together_ai/Org/Model-Turbo': {
      litellm_provider: 'together_ai',
      mode: 'chat',
      input_cost_per_token: 8.8e-7,
      output_cost_per_token: 8.8e-7,
    },
    'fireworks_ai/accounts/fireworks/models/fw-test': {
      litellm_provider: 'fireworks_ai',
      mode: 'chat',
      input_cost_per_token: 9e-7,
      output_cost_per_token: 9e-7,
    },
    'gemini-pro-test': {
      litellm_provider: 'vertex_ai-language-models',
      mode: 'chat',
      input_cost_per_token: 9e-6,
      output_cost_per_token: 9e-6,
    },
    'gemini/gemini-pro-test': {
      litellm_provider: 'gemini',
      mode: 'chat',
      input_cost_per_token: 1.25e-6,
      output_cost_per_token: 1e-5,
      cache_read_input_token_cost: 1.25e-7,
      output_cost_per_reasoning_token: 1e-5,
      input_cost_per_token_above_200k_tokens: 2.5e-6,
      output_cost_per_token_above_200k_tokens: 1.5e-5,
      cache_read_input_token_cost_above_200k_tokens: 2.5e-7,
      input_cost_per_token_above_200k_tokens_priority: 9e-6,
    },
    'claude-test': {
      litellm_provider: 'anthropic',
      mode: 'chat',
      input_cost_per_token: 3e-6,
      output_cost_per_token: 1.5e-5,
      cache_read_input_token_cost: 3e-7,
      cache_creation_input_token_cost: 3.75e-6,
    },
    'deepseek/deepseek-test': {
      litellm_provider: 'deepseek',
      mode: 'chat',
      input_cost_per_token: 2.8e-7,
      output_cost_per_token: 4.2e-7,
      cache_read_input_token_cost: 2.8e-8,
      cache_creation_input_token_cost: 0,
    },
    'text-embedding-test': {
      litellm_provider: 'openai',
      mode: 'embedding',
      input_cost_per_token: 1e-8,
      output_cost_per_token: 0,
    },
    'gpt-instruct-test': {
      litellm_provider: 'text-completion-openai',
      mode: 'completion',
      input_cost_per_token: 1e-6,
      output_cost_per_token: 2e-6,
    },
    'bedrock/some-model': {
      litellm_provider: 'bedrock',
      mode: 'chat',
      input_cost_per_token: 1e-6,
      output_cost_per_token: 1e-6,
    },
    'openai/no-prices': { litellm_provider: 'openai', mode: 'chat' },
  };

  it('maps providers and model names, converting per-token costs to per-million without float noise', () => {
    const b = new PriceBook().loadLiteLlm(litellm);
    expect(b.models().map((m) => m.id)).toEqual([
      'anthropic/claude-test',
      'deepseek/deepseek-test',
      'fireworks/accounts/fireworks/models/fw-test',
      'gemini/gemini-pro-test',
      'groq/llama-test',
      'openai/gpt-test',
      'together/Org/Model-Turbo',
    ]);
    expect(b.lookup('openai', 'gpt-test')).toEqual({
      input: 0.125,
      output: 1,
      cached_input: 0.0125,
      cache_write: null,
      reasoning: null,
      context_window: 272000,
      max_output_tokens: 128000,
      long_context: null,
    });
    expect(b.lookup('anthropic', 'claude-test')).toMatchObject({
      input: 3,
      output: 15,
      cached_input: 0.3,
      cache_write: 3.75,
    });
    expect(b.lookup('together', 'Org/Model-Turbo')?.input).toBe(0.88);
  });

  it('prefers the provider-prefixed Gemini entry over Vertex and parses long-context tiers', () => {
    const b = new PriceBook().loadLiteLlm(litellm);
    expect(b.lookup('gemini', 'gemini-pro-test')).toEqual({
      input: 1.25,
      output: 10,
      cached_input: 0.125,
      cache_write: null,
      reasoning: 10,
      context_window: null,
      max_output_tokens: null,
      long_context: [
        {
          above_tokens: 200_000,
          input: 2.5,
          output: 15,
          cached_input: 0.25,
          cache_write: null,
          reasoning: null,
        },
      ],
    });
  });

  it('treats a zero cache price on a paid model as unknown', () => {
    const b = new PriceBook().loadLiteLlm(litellm);
    expect(b.lookup('deepseek', 'deepseek-test')?.cache_write).toBeNull();
  });

  it('merges over existing entries', () => {
    const b = PriceBook.builtin().loadLiteLlm({
      'gpt-4o-mini': {
        litellm_provider: 'openai',
        mode: 'chat',
        input_cost_per_token: 1e-6,
        output_cost_per_token: 2e-6,
      },
    });
    expect(b.spendNanos('openai', 'gpt-4o-mini', usage(1000, 500))).toBe(2_000_000);
    expect(b.lookup('openai', 'gpt-4o')?.input).toBe(2.5);
  });

  it('loads every entry for a forced provider', () => {
    const b = new PriceBook().loadLiteLlm(
      {
        'my-llama': { input_cost_per_token: 1e-7, output_cost_per_token: 2e-7 },
        'hosted_vllm/qwen': {
          litellm_provider: 'hosted_vllm',
          mode: 'chat',
          input_cost_per_token: 1e-7,
          output_cost_per_token: 1e-7,
        },
      },
      'VLLM',
    );
    expect(b.models().map((m) => m.id)).toEqual(['vllm/my-llama', 'vllm/qwen']);
  });

  it('rejects non-objects', () => {
    expect(() => new PriceBook().loadLiteLlm([])).toThrow();
  });
});

describe('price files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'price-book-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads our format, skipping _source', () => {
    const path = join(dir, 'ours.json');
    writeFileSync(
      path,
      JSON.stringify({
        _source: { date: '2026-01-01' },
        'groq/new-model': { input: 0.1, output: 0.2, cached_input: null },
      }),
    );
    const b = PriceBook.fromFile(path);
    expect(b.size).toBe(1);
    expect(b.spendNanos('groq', 'new-model', usage(1000, 1000))).toBe(300_000);
  });

  it('reads LiteLLM format', () => {
    const path = join(dir, 'litellm.json');
    writeFileSync(
      path,
      JSON.stringify({
        'xai/grok-test': {
          litellm_provider: 'xai',
          mode: 'chat',
          input_cost_per_token: 3e-6,
          output_cost_per_token: 1.5e-5,
        },
      }),
    );
    const b = PriceBook.builtin().loadFile(path);
    expect(b.lookup('xai', 'grok-test')?.output).toBe(15);
    expect(b.lookup('openai', 'gpt-4o')).not.toBeNull();
  });

  it('names the file in errors', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ 'x/m': { input: 'cheap', output: 1 } }));
    expect(() => PriceBook.fromFile(path)).toThrow(/bad\.json[\s\S]*x\/m/);
  });
});

describe('models', () => {
  it('lists one provider with context windows, sorted', () => {
    const gemini = book.models('gemini');
    expect(gemini.length).toBeGreaterThan(0);
    expect(gemini.every((m) => m.provider === 'gemini')).toBe(true);
    expect(gemini.map((m) => m.id)).toEqual([...gemini.map((m) => m.id)].sort());
    expect(gemini.find((m) => m.model === 'gemini-2.5-pro')).toMatchObject({
      id: 'gemini/gemini-2.5-pro',
      context_window: 1048576,
      max_output_tokens: 65535,
    });
    expect(book.models().length).toBe(book.size);
  });
});
