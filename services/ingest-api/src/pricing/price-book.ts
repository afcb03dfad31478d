import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BUILTIN_PRICES } from './prices.js';

/**
 * The gateway's price table and spend computation.
 *
 * Prices are USD per million tokens; spend is integer nano-dollars (1 USD = 1e9 nanos), so
 * `tokens × USD-per-million × 1000 = nanos`. The rule throughout is "never a wrong number": whenever the price
 * of a request cannot be known for sure (unknown model, no usage, inconsistent usage, a non-standard service
 * tier), spend is `null`, never a guess.
 *
 * Model lookup is exact (`provider/model`), then through a few explicit aliases that name the very same model
 * (Gemini's `models/` prefix, Fireworks' `accounts/fireworks/models/` prefix), then case-insensitive. Dated
 * snapshots are never folded onto their undated alias (or the reverse): OpenAI has priced snapshots of one family
 * differently (`gpt-4o-2024-05-13` is $5/$15, `gpt-4o` is $2.50/$10), so a snapshot without its own entry is
 * unknown (null spend) until it is added with `extend` or a price file.
 */

/** Prices that apply instead of the base prices to the whole request once the prompt exceeds `above_tokens`. */
export interface LongContextPrice {
  above_tokens: number;
  input: number;
  output: number;
  cached_input: number | null;
  cache_write: number | null;
  reasoning: number | null;
}

/** One model's prices (USD per million tokens) and limits. */
export interface Price {
  input: number;
  /** Cache reads; null → charged at `input`. */
  cached_input: number | null;
  /** Cache writes (Anthropic-style explicit caching); null → charged at `input`. */
  cache_write: number | null;
  output: number;
  /** Reasoning tokens; null → charged at `output`. */
  reasoning: number | null;
  context_window: number | null;
  max_output_tokens: number | null;
  /** Long-context tiers (e.g. Gemini 2.5 Pro above 200k prompt tokens), or null when pricing is flat. */
  long_context: LongContextPrice[] | null;
}

/** A price entry as written in prices.ts, config or a JSON price file; omitted nullable fields mean null. */
export interface PriceInput {
  input: number;
  output: number;
  cached_input?: number | null;
  cache_write?: number | null;
  reasoning?: number | null;
  context_window?: number | null;
  max_output_tokens?: number | null;
  long_context?: Array<
    Partial<LongContextPrice> & Pick<LongContextPrice, 'above_tokens' | 'input' | 'output'>
  > | null;
}

/** The normalised usage of one completion (OpenAI semantics: cached and cache-write tokens are part of
 * `prompt_tokens`, reasoning tokens are part of `completion_tokens`). */
export interface SpendUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number | null;
  cache_creation_tokens: number | null;
  reasoning_tokens: number | null;
}

export interface SpendOptions {
  /** The `service_tier` the upstream reported; only standard tiers are priced (others → null spend). */
  serviceTier?: string | null;
}

export interface ModelInfo {
  /** Canonical `provider/model`. */
  id: string;
  provider: string;
  model: string;
  context_window: number | null;
  max_output_tokens: number | null;
  price: Price;
}

const Money = z.number().nonnegative();
const TokenCount = z.number().int().positive();

const LongContextSchema = z.strictObject({
  above_tokens: TokenCount,
  input: Money,
  output: Money,
  cached_input: Money.nullable().default(null),
  cache_write: Money.nullable().default(null),
  reasoning: Money.nullable().default(null),
});

const PriceSchema = z.strictObject({
  input: Money,
  output: Money,
  cached_input: Money.nullable().default(null),
  cache_write: Money.nullable().default(null),
  reasoning: Money.nullable().default(null),
  context_window: TokenCount.nullable().default(null),
  max_output_tokens: TokenCount.nullable().default(null),
  long_context: z.array(LongContextSchema).nullable().default(null),
});

/** Service tiers billed at the standard price; anything else (priority, flex, batch, scale…) is not priced. */
const STANDARD_SERVICE_TIERS = new Set(['default', 'auto', 'standard', 'on_demand']);

/** LiteLLM provider names → ours. `priority` settles two entries for the same model in one file (the provider's
 * own API wins over Vertex AI; then a `provider/`-prefixed key wins over a bare one). Unlisted LiteLLM providers
 * (text-completion-openai, bedrock, azure_ai, …) are skipped. */
const LITELLM_PROVIDERS: Record<string, { provider: string; priority: number; prefixes: string[] }> = {
  openai: { provider: 'openai', priority: 1, prefixes: ['openai/'] },
  anthropic: { provider: 'anthropic', priority: 1, prefixes: ['anthropic/'] },
  gemini: { provider: 'gemini', priority: 1, prefixes: ['gemini/'] },
  'vertex_ai-language-models': { provider: 'gemini', priority: 0, prefixes: ['vertex_ai/', 'gemini/'] },
  groq: { provider: 'groq', priority: 1, prefixes: ['groq/'] },
  together_ai: { provider: 'together', priority: 1, prefixes: ['together_ai/', 'together/'] },
  fireworks_ai: { provider: 'fireworks', priority: 1, prefixes: ['fireworks_ai/', 'fireworks/'] },
  deepseek: { provider: 'deepseek', priority: 1, prefixes: ['deepseek/'] },
  mistral: { provider: 'mistral', priority: 1, prefixes: ['mistral/'] },
  openrouter: { provider: 'openrouter', priority: 1, prefixes: ['openrouter/'] },
  xai: { provider: 'xai', priority: 1, prefixes: ['xai/'] },
  azure: { provider: 'azure', priority: 1, prefixes: ['azure/'] },
};

const LITELLM_CHAT_MODES = new Set(['chat']);

const FIREWORKS_PREFIX = 'accounts/fireworks/models/';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function slugOf(provider: string, model: string): string {
  return `${provider}/${model}`;
}

function splitSlug(slug: string): { provider: string; model: string } | null {
  const cut = slug.indexOf('/');
  if (cut <= 0 || cut === slug.length - 1) return null;
  return { provider: slug.slice(0, cut).trim().toLowerCase(), model: slug.slice(cut + 1).trim() };
}

/** USD per token → USD per million tokens, without binary noise (1.25e-7 → 0.125, not 0.12499999999999999). */
function perMillion(perToken: number): number {
  return Number((perToken * 1e6).toPrecision(12));
}

function costField(entry: Record<string, unknown>, key: string): number | null {
  const v = entry[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? perMillion(v) : null;
}

function tokenField(entry: Record<string, unknown>, key: string): number | null {
  const v = entry[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.round(v) : null;
}

/** A cache price of 0 on a paid model is LiteLLM's "not billed separately", not "free": treat it as unknown. */
function cachePrice(value: number | null, input: number): number | null {
  return value === 0 && input > 0 ? null : value;
}

/** Converts one LiteLLM entry, or null when it has no usable token prices. */
function fromLiteLlmEntry(entry: Record<string, unknown>): Price | null {
  const input = costField(entry, 'input_cost_per_token');
  const output = costField(entry, 'output_cost_per_token');
  if (input === null || output === null) return null;
  const tiers: LongContextPrice[] = [];
  for (const key of Object.keys(entry)) {
    const m = /^input_cost_per_token_above_(\d+)k_tokens$/.exec(key);
    if (!m?.[1]) continue;
    const k = m[1];
    const tierInput = costField(entry, key);
    if (tierInput === null) continue;
    tiers.push({
      above_tokens: Number(k) * 1000,
      input: tierInput,
      output: costField(entry, `output_cost_per_token_above_${k}k_tokens`) ?? output,
      cached_input: cachePrice(costField(entry, `cache_read_input_token_cost_above_${k}k_tokens`), tierInput),
      cache_write: cachePrice(
        costField(entry, `cache_creation_input_token_cost_above_${k}k_tokens`),
        tierInput,
      ),
      reasoning: null,
    });
  }
  tiers.sort((a, b) => a.above_tokens - b.above_tokens);
  return {
    input,
    output,
    cached_input: cachePrice(costField(entry, 'cache_read_input_token_cost'), input),
    cache_write: cachePrice(costField(entry, 'cache_creation_input_token_cost'), input),
    reasoning: costField(entry, 'output_cost_per_reasoning_token'),
    context_window: tokenField(entry, 'max_input_tokens'),
    max_output_tokens: tokenField(entry, 'max_output_tokens'),
    long_context: tiers.length > 0 ? tiers : null,
  };
}

function samePrice(a: Price, b: Price): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `spendNanos`'s token counts and their rates (USD per million), in the order of the price's parts. */
const TOKENS = new Float64Array(5);
const RATES = new Float64Array(5);

/** The most distinct (provider, model) pairs `lookup` remembers. */
const RESOLVED_MAX = 4096;

function isCount(v: number): boolean {
  return Number.isFinite(v) && v >= 0;
}

export class PriceBook {
  private readonly entries = new Map<string, Price>();
  /** Lower-cased slug → slugs, for case-insensitive lookup. */
  private readonly folded = new Map<string, string[]>();
  /**
   * `lookup`'s answers by the provider and model as given (two lookups per request, each otherwise building its
   * aliases and slugs); emptied when the entries change, and when full (model names come from clients).
   */
  private readonly resolved = new Map<string, Price | null>();

  /** The curated built-in table (prices.ts). Each call returns a fresh, independently extendable book. */
  static builtin(): PriceBook {
    return new PriceBook().extend(BUILTIN_PRICES);
  }

  /** A book holding only the entries of a JSON price file (our format or LiteLLM's; see `loadFile`). */
  static fromFile(path: string): PriceBook {
    return new PriceBook().loadFile(path);
  }

  /**
   * Merges a JSON price file: LiteLLM's format (detected by `input_cost_per_token` / `litellm_provider` fields)
   * or ours (`{"provider/model": {input, output, …}}`). Throws on unreadable or invalid files.
   */
  loadFile(path: string): this {
    const json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!isRecord(json)) throw new Error(`Price file ${path}: expected a JSON object`);
    const looksLiteLlm = Object.entries(json).some(
      ([key, v]) =>
        !key.startsWith('_') &&
        isRecord(v) &&
        ('input_cost_per_token' in v || 'output_cost_per_token' in v || 'litellm_provider' in v),
    );
    try {
      // `extend` validates every entry at run time.
      return looksLiteLlm ? this.loadLiteLlm(json) : this.extend(json as Record<string, PriceInput | null>);
    } catch (err) {
      throw new Error(`Price file ${path}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Adds or overrides entries (`{"provider/model": {input, output, …}}`, e.g. from config). A `null` value removes
   * an entry; keys starting with `_` (metadata such as `_source`) are ignored. Throws listing every invalid entry.
   */
  extend(entries: Readonly<Record<string, PriceInput | null>>): this {
    const problems: string[] = [];
    const accepted: Array<[string, Price | null]> = [];
    for (const [key, value] of Object.entries(entries)) {
      if (key.startsWith('_')) continue;
      const parts = splitSlug(key);
      if (!parts) {
        problems.push(`${key}: expected a "provider/model" key`);
        continue;
      }
      const slug = slugOf(parts.provider, parts.model);
      if (value === null) {
        accepted.push([slug, null]);
        continue;
      }
      const parsed = PriceSchema.safeParse(value);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(entry)'} ${i.message}`);
        problems.push(`${key}: ${issues.join('; ')}`);
        continue;
      }
      const price: Price = parsed.data;
      if (price.long_context) price.long_context.sort((a, b) => a.above_tokens - b.above_tokens);
      accepted.push([slug, price]);
    }
    if (problems.length > 0) throw new Error(`Invalid price entries:\n  - ${problems.join('\n  - ')}`);
    for (const [slug, price] of accepted) {
      if (price) this.set(slug, price);
      else this.delete(slug);
    }
    return this;
  }

  /**
   * Merges a LiteLLM price file (`model_prices_and_context_window.json` format). Only chat models with both token
   * prices are taken. Keys may be `provider/model` or bare model names with `litellm_provider`; LiteLLM provider
   * names are mapped to ours and unmapped providers are skipped. With `provider`, every entry is loaded for that
   * gateway provider instead (e.g. a self-hosted one), a leading `provider/` being stripped from its key.
   */
  loadLiteLlm(json: unknown, provider?: string): this {
    if (!isRecord(json)) throw new Error('LiteLLM price data: expected a JSON object');
    const forced = provider?.trim().toLowerCase();
    const found = new Map<string, { priority: number; price: Price }>();
    for (const [key, entry] of Object.entries(json)) {
      if (key === 'sample_spec' || key.startsWith('_') || !isRecord(entry)) continue;
      const mode = entry.mode;
      const isChat =
        mode === undefined || mode === null || (typeof mode === 'string' && LITELLM_CHAT_MODES.has(mode));
      if (!isChat) continue;
      const litellmProvider = typeof entry.litellm_provider === 'string' ? entry.litellm_provider : null;
      let target: string;
      let priority = 1;
      let prefixes: string[];
      if (forced) {
        target = forced;
        prefixes = [`${forced}/`, ...(litellmProvider ? [`${litellmProvider}/`] : [])];
      } else {
        const fromKey = Object.keys(LITELLM_PROVIDERS).find((name) => key.startsWith(`${name}/`));
        const name = litellmProvider ?? fromKey ?? '';
        const mapped = Object.hasOwn(LITELLM_PROVIDERS, name) ? LITELLM_PROVIDERS[name] : undefined;
        if (!mapped) continue;
        target = mapped.provider;
        priority = mapped.priority;
        prefixes = mapped.prefixes;
      }
      const prefix = prefixes.find((p) => key.startsWith(p));
      const model = prefix ? key.slice(prefix.length) : key;
      // The provider-prefixed key is the one LiteLLM itself prices `provider/model` with: it beats a bare duplicate.
      priority = priority * 2 + (prefix ? 1 : 0);
      if (model === '') continue;
      const price = fromLiteLlmEntry(entry);
      if (!price) continue;
      const slug = slugOf(target, model);
      const previous = found.get(slug);
      if (!previous || priority >= previous.priority) found.set(slug, { priority, price });
    }
    for (const [slug, { price }] of found) this.set(slug, price);
    return this;
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The price of `provider/model`: exact match, then explicit aliases of the same model, then a case-insensitive
   * match (ambiguous matches with different prices → null). Never strips dated-snapshot suffixes.
   */
  lookup(provider: string, model: string): Price | null {
    const key = `${provider}\n${model}`;
    let price = this.resolved.get(key);
    if (price === undefined) {
      if (this.resolved.size >= RESOLVED_MAX) this.resolved.clear();
      price = this.resolve(provider, model);
      this.resolved.set(key, price);
    }
    return price;
  }

  private resolve(provider: string, model: string): Price | null {
    const p = provider.trim().toLowerCase();
    const candidates = PriceBook.aliases(p, model.trim()).map((m) => slugOf(p, m));
    for (const slug of candidates) {
      const hit = this.entries.get(slug);
      if (hit) return hit;
    }
    for (const slug of candidates) {
      const keys = this.folded.get(slug.toLowerCase()) ?? [];
      const prices = keys.map((k) => this.entries.get(k)).filter((x): x is Price => x !== undefined);
      const first = prices[0];
      if (first && prices.every((x) => samePrice(x, first))) return first;
      if (first) return null; // Ambiguous: differently priced entries differ only by case.
    }
    return null;
  }

  /**
   * Spend of one completion in integer nano-dollars, or null when usage is missing, the model is not priced, the
   * usage is inconsistent (cached + cache-write > prompt, reasoning > completion, negative or non-finite counts)
   * or the request ran in a non-standard service tier.
   *
   * OpenAI semantics: cached and cache-write tokens are part of `prompt_tokens`, reasoning tokens are part of
   * `completion_tokens`. Cache reads are charged at `cached_input` (else `input`), cache writes at `cache_write`
   * (else `input`), reasoning at `reasoning` (else `output`). A long-context tier, when the prompt exceeds it,
   * reprices the whole request. Rounded once, at the end.
   */
  spendNanos(
    provider: string,
    model: string,
    usage: SpendUsage | null | undefined,
    options: SpendOptions = {},
  ): number | null {
    if (!usage) return null;
    const tier = options.serviceTier?.trim().toLowerCase();
    if (tier && !STANDARD_SERVICE_TIERS.has(tier)) return null;
    const price = this.lookup(provider, model);
    if (!price) return null;

    const prompt = usage.prompt_tokens;
    const completion = usage.completion_tokens;
    const cached = usage.cached_tokens ?? 0;
    const cacheWrite = usage.cache_creation_tokens ?? 0;
    const reasoning = usage.reasoning_tokens ?? 0;
    const counts =
      isCount(prompt) && isCount(completion) && isCount(cached) && isCount(cacheWrite) && isCount(reasoning);
    if (!counts) return null;
    const uncachedPrompt = prompt - cached - cacheWrite;
    const visibleCompletion = completion - reasoning;
    if (uncachedPrompt < 0 || visibleCompletion < 0) return null;

    const rates = PriceBook.ratesFor(price, prompt);
    if (rates !== price) {
      // A long-context tier that lacks a rate the base prices have: the tier's price for those tokens is unknown.
      if (cached > 0 && rates.cached_input === null && price.cached_input !== null) return null;
      if (cacheWrite > 0 && rates.cache_write === null && price.cache_write !== null) return null;
      if (
        reasoning > 0 &&
        rates.reasoning === null &&
        price.reasoning !== null &&
        price.reasoning !== price.output
      ) {
        return null;
      }
    }
    // Into reused arrays: twice per request (the estimate, the real usage), without garbage.
    TOKENS[0] = uncachedPrompt;
    RATES[0] = rates.input;
    TOKENS[1] = cached;
    RATES[1] = rates.cached_input ?? rates.input;
    TOKENS[2] = cacheWrite;
    RATES[2] = rates.cache_write ?? rates.input;
    TOKENS[3] = visibleCompletion;
    RATES[3] = rates.output;
    TOKENS[4] = reasoning;
    RATES[4] = rates.reasoning ?? rates.output;
    return PriceBook.toNanos(TOKENS, RATES);
  }

  /**
   * Σ tokens × USD-per-million × 1000, rounded once. Prices with at most six decimals (all real ones) are scaled to
   * integer micro-dollars per million tokens so the sum is exact; otherwise it falls back to floating point.
   */
  private static toNanos(tokens: Float64Array, usdPerMillion: Float64Array): number | null {
    let exact = true;
    let picoUsd = 0;
    for (let i = 0; i < tokens.length; i++) {
      const price = usdPerMillion[i] as number;
      const micros = Math.round(price * 1e6);
      if (Math.abs(micros - price * 1e6) >= 1e-6) exact = false;
      picoUsd += (tokens[i] as number) * micros;
    }
    // tokens × (USD per million × 1e6) = pico-dollars, exact while below 2^53 (≈ $9000 per request).
    if (exact && Number.isSafeInteger(picoUsd)) return Math.round(picoUsd / 1000);
    let usd = 0;
    for (let i = 0; i < tokens.length; i++) usd += (tokens[i] as number) * (usdPerMillion[i] as number);
    const nanos = Math.round(usd * 1000);
    return Number.isSafeInteger(nanos) ? nanos : null;
  }

  /** Known models (for /v1/models), optionally of one provider, sorted by id. */
  models(provider?: string): ModelInfo[] {
    const wanted = provider?.trim().toLowerCase();
    const out: ModelInfo[] = [];
    for (const [id, price] of this.entries) {
      const parts = splitSlug(id);
      if (!parts || (wanted !== undefined && parts.provider !== wanted)) continue;
      out.push({
        id,
        provider: parts.provider,
        model: parts.model,
        context_window: price.context_window,
        max_output_tokens: price.max_output_tokens,
        price,
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private set(slug: string, price: Price): void {
    this.resolved.clear();
    if (!this.entries.has(slug)) {
      const key = slug.toLowerCase();
      this.folded.set(key, [...(this.folded.get(key) ?? []), slug]);
    }
    this.entries.set(slug, price);
  }

  private delete(slug: string): void {
    if (!this.entries.delete(slug)) return;
    this.resolved.clear();
    const key = slug.toLowerCase();
    const rest = (this.folded.get(key) ?? []).filter((s) => s !== slug);
    if (rest.length > 0) this.folded.set(key, rest);
    else this.folded.delete(key);
  }

  /** The model names that denote exactly the same model (and price) on this provider, the given one first. */
  private static aliases(provider: string, model: string): string[] {
    const names = [model];
    if (provider === 'gemini' && model.startsWith('models/')) names.push(model.slice('models/'.length));
    if (provider === 'fireworks') {
      names.push(
        model.startsWith(FIREWORKS_PREFIX) ? model.slice(FIREWORKS_PREFIX.length) : FIREWORKS_PREFIX + model,
      );
    }
    return names;
  }

  /** The rates that apply to a request with this many prompt tokens (the highest long-context tier exceeded). */
  private static ratesFor(price: Price, promptTokens: number): Omit<LongContextPrice, 'above_tokens'> {
    let rates: Omit<LongContextPrice, 'above_tokens'> = price;
    for (const tier of price.long_context ?? []) {
      if (promptTokens > tier.above_tokens) rates = tier;
    }
    return rates;
  }
}
