import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_YOUNG_GENERATION_MB } from './young-generation.js';

/**
 * The gateway's configuration: one YAML/JSON file (path from `--config` or `MANIAC_CONFIG`) validated with zod,
 * every problem reported at once, plus environment overrides. With no file at all, providers are discovered from
 * the standard environment variables (OPENAI_API_KEY, GROQ_API_KEY, …). `config/example.yaml` documents it all.
 */

const SecretRef = z
  .string()
  .describe('A literal value, or `env:NAME` to read it from the environment at start-up');

const Timeouts = z.strictObject({
  connect_ms: z.number().int().positive().default(5_000),
  first_byte_ms: z.number().int().positive().default(60_000),
  idle_ms: z.number().int().positive().default(60_000),
  total_ms: z.number().int().positive().default(600_000),
});

export const ProviderKinds = ['openai', 'anthropic', 'gemini', 'azure'] as const;
export type ProviderKind = (typeof ProviderKinds)[number];

/** Anthropic's `anthropic-version` header when a provider does not set one. */
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';
/** Azure OpenAI `api-version` (a GA version) when a provider does not set one. */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

/** Base URLs of the native providers whose endpoint is the same for everyone (used when `base_url` is omitted). */
export const DEFAULT_BASE_URLS: Partial<Record<ProviderKind, string>> = {
  anthropic: 'https://api.anthropic.com/v1',
  gemini: 'https://generativelanguage.googleapis.com/v1beta',
};

const ProviderConfig = z.strictObject({
  kind: z.enum(ProviderKinds).default('openai'),
  /** For `azure`: the resource endpoint (`https://<resource>.openai.azure.com`). */
  base_url: z.url(),
  api_key: SecretRef.optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** Forward `metadata` to this upstream (OpenAI accepts it only together with store; most others reject it). */
  forward_metadata: z.boolean().default(false),
  timeouts: Timeouts.prefault({}),
  /**
   * Connections to this provider per ingest-api process, i.e. requests in flight to it at once (HTTP/1.1: one
   * each; a stream holds its connection to the end). Requests beyond wait in the pool's queue
   * (`maniac_upstream_queued_requests`). Long streams need one each: 1,000 concurrent streams need 1,000.
   */
  max_connections: z.number().int().positive().default(1024),
  /** Known models, listed by /v1/models; any model is routable regardless. */
  models: z.array(z.string()).default([]),
  /**
   * A parameter this provider cannot honour (e.g. `logprobs` on Anthropic) is dropped instead of refused with
   * 501 unsupported_parameter. Unset: the top-level `drop_unsupported_params`.
   */
  drop_unsupported_params: z.boolean().optional(),
  /** `anthropic` only: the `anthropic-version` header (default 2023-06-01). */
  anthropic_version: z.string().min(1).optional(),
  /** `azure` only: the `api-version` query parameter (default 2024-10-21). */
  api_version: z.string().min(1).optional(),
});

const ContainerConfig = z.strictObject({
  label: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-"; at most 128 characters'),
  model: z.string().min(1),
  fallback_models: z.array(z.string().min(1)).default([]),
  system_prompt: z.string().nullable().default(null),
  params: z.record(z.string(), z.unknown()).default({}),
});

/** Request/token/concurrency limits; null = unlimited. */
const LimitDefaults = z.strictObject({
  rpm: z.number().int().positive().nullable().default(null),
  tpm: z.number().int().positive().nullable().default(null),
  max_concurrent: z.number().int().positive().nullable().default(null),
});

export const GatewayConfigSchema = z.strictObject({
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      body_limit_mb: z.number().positive().max(1024).default(20),
      /** Most `messages` / `tools` in one chat request (422 `too_long` beyond). */
      max_messages: z.number().int().positive().default(4_096),
      max_tools: z.number().int().positive().default(512),
      /** Most bytes of one upstream response, JSON or stream (a failed attempt / `upstream_too_large` frame). */
      max_upstream_response_mb: z.number().positive().max(1024).default(64),
      shutdown_grace_ms: z.number().int().positive().default(15_000),
      /**
       * A full garbage collection once the process is idle and its external memory plus the heap outside the young
       * generation grew this much above the level after the last one; 0 turns it off. See idle-gc.ts.
       */
      idle_gc_mb: z.number().min(0).default(16),
      /**
       * V8's old-generation growth past what a full collection left, for the processes that serve chat
       * (ingest-api, `start`); 0 leaves V8's own (up to 4×). See heap-growth.ts.
       */
      heap_growing_percent: z.number().int().min(0).max(1_000).default(50),
      /**
       * How far V8 may grow the young generation (both semi-spaces) of the processes that serve chat; 0 (or 32
       * and above) leaves V8's own 32 MB. See young-generation.ts.
       */
      young_generation_mb: z.number().int().min(0).max(1_024).default(DEFAULT_YOUNG_GENERATION_MB),
    })
    .prefault({}),
  kafka: z
    .strictObject({
      brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
      client_id: z.string().default('maniac-gateway'),
      topics: z
        .strictObject({
          completions: z.string().default('maniac.completions'),
          control: z.string().default('maniac.control'),
          dead_letter: z.string().default('maniac.completions.dlq'),
        })
        .prefault({}),
      completions_partitions: z.number().int().positive().default(6),
      /** Events are batched for this long (or until `batch_max` events) before one produce call. */
      linger_ms: z.number().int().min(0).max(1000).default(20),
      /**
       * Most events per produce call (also bounded by bytes: 90 % of the topic's max.message.bytes, at most
       * 8 MiB). Only a backlog fills a batch; a small cap made the publisher fall behind sustained load.
       */
      batch_max: z.number().int().positive().default(5000),
      /** How long a produce may take before the batch is spooled instead. */
      produce_timeout_ms: z.number().int().positive().default(5_000),
      /**
       * The most event bytes ingest-api holds in memory waiting for Kafka; beyond this (Kafka slower than the
       * load) what is queued moves to the spool and waits on disk, in order.
       */
      queue_max_mb: z.number().positive().max(4096).default(64),
    })
    .prefault({}),
  clickhouse: z
    .strictObject({
      url: z.url().default('http://127.0.0.1:8123'),
      database: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .default('maniac'),
      username: z.string().default('default'),
      password: SecretRef.default(''),
    })
    .prefault({}),
  spool: z
    .strictObject({
      dir: z.string().default('.data/spool'),
      max_bytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024 * 1024),
    })
    .prefault({}),
  debug_log_bodies: z.boolean().default(false),
  /** Defaults for keys and projects whose records on the control topic leave a limit unset (null). */
  limits: z
    .strictObject({
      key: LimitDefaults.prefault({}),
      project: LimitDefaults.extend({
        monthly_budget_usd: z.number().nonnegative().nullable().default(null),
        total_budget_usd: z.number().nonnegative().nullable().default(null),
      }).prefault({}),
    })
    .prefault({}),
  /**
   * Prices on top of the built-in table: `files` (JSON: ours, or LiteLLM's model_prices format) are merged in
   * order, then `models` (`provider/model` → USD per million tokens; null removes an entry).
   */
  pricing: z
    .strictObject({
      files: z.array(z.string().min(1)).default([]),
      models: z.record(z.string(), z.record(z.string(), z.unknown()).nullable()).default({}),
    })
    .prefault({}),
  /** Redis for rate-limit counters shared by several ingest-api instances (env REDIS_URL); null = in memory. */
  redis_url: z.string().nullable().default(null),
  /** Default of every provider's `drop_unsupported_params`. */
  drop_unsupported_params: z.boolean().default(false),
  providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), ProviderConfig).default({}),
  containers: z.array(ContainerConfig).default([]),
});

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type ProviderConfig = z.infer<typeof ProviderConfig>;
export type ContainerConfig = z.infer<typeof ContainerConfig>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`Invalid configuration (${source}):\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Well-known OpenAI-compatible providers, enabled from their standard environment variables. */
export const KNOWN_PROVIDERS: Record<string, { baseUrl: string; keyEnv?: string; baseUrlEnvs?: string[] }> = {
  openai: { baseUrl: 'https://api.openai.com/v1', keyEnv: 'OPENAI_API_KEY' },
  groq: { baseUrl: 'https://api.groq.com/openai/v1', keyEnv: 'GROQ_API_KEY' },
  together: { baseUrl: 'https://api.together.xyz/v1', keyEnv: 'TOGETHER_API_KEY' },
  fireworks: { baseUrl: 'https://api.fireworks.ai/inference/v1', keyEnv: 'FIREWORKS_API_KEY' },
  deepseek: { baseUrl: 'https://api.deepseek.com/v1', keyEnv: 'DEEPSEEK_API_KEY' },
  mistral: { baseUrl: 'https://api.mistral.ai/v1', keyEnv: 'MISTRAL_API_KEY' },
  openrouter: { baseUrl: 'https://openrouter.ai/api/v1', keyEnv: 'OPENROUTER_API_KEY' },
  xai: { baseUrl: 'https://api.x.ai/v1', keyEnv: 'XAI_API_KEY' },
  vllm: { baseUrl: 'http://127.0.0.1:8000/v1', keyEnv: 'VLLM_API_KEY', baseUrlEnvs: ['VLLM_BASE_URL'] },
  ollama: { baseUrl: 'http://127.0.0.1:11434/v1', baseUrlEnvs: ['OLLAMA_BASE_URL'] },
  lmstudio: { baseUrl: 'http://127.0.0.1:1234/v1', baseUrlEnvs: ['LMSTUDIO_BASE_URL', 'LM_STUDIO_BASE_URL'] },
};

type Env = Record<string, string | undefined>;

function resolveSecret(value: string, env: Env, path: string, problems: string[]): string {
  if (!value.startsWith('env:')) return value;
  const name = value.slice(4);
  const resolved = env[name];
  if (resolved === undefined || resolved === '') {
    problems.push(`${path}: environment variable ${name} is not set`);
    return '';
  }
  return resolved;
}

function normaliseBaseUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Providers from the environment: every known provider whose key (or base URL, for local servers) is set. */
function providersFromEnv(env: Env): Record<string, z.input<typeof ProviderConfig>> {
  const found: Record<string, z.input<typeof ProviderConfig>> = {};
  for (const [name, known] of Object.entries(KNOWN_PROVIDERS)) {
    const key = known.keyEnv ? env[known.keyEnv] : undefined;
    const baseUrlOverride = [`${name.toUpperCase()}_BASE_URL`, ...(known.baseUrlEnvs ?? [])]
      .map((n) => env[n])
      .find((v) => v !== undefined && v !== '');
    // Hosted providers are enabled by their key; local servers (no key, or an optional one) by their base URL.
    const enabled = known.baseUrlEnvs ? Boolean(baseUrlOverride) : Boolean(key);
    if (!enabled) continue;
    found[name] = {
      kind: 'openai',
      base_url: normaliseBaseUrl(baseUrlOverride ?? known.baseUrl),
      ...(key ? { api_key: key } : {}),
    };
  }
  // Native providers.
  const anthropicKey = nonEmpty(env.ANTHROPIC_API_KEY);
  if (anthropicKey) {
    found.anthropic = {
      kind: 'anthropic',
      base_url: normaliseBaseUrl(nonEmpty(env.ANTHROPIC_BASE_URL) ?? DEFAULT_BASE_URLS.anthropic ?? ''),
      api_key: anthropicKey,
    };
  }
  const geminiKey = nonEmpty(env.GEMINI_API_KEY) ?? nonEmpty(env.GOOGLE_API_KEY);
  if (geminiKey) {
    found.gemini = {
      kind: 'gemini',
      base_url: normaliseBaseUrl(nonEmpty(env.GEMINI_BASE_URL) ?? DEFAULT_BASE_URLS.gemini ?? ''),
      api_key: geminiKey,
    };
  }
  const azureKey = nonEmpty(env.AZURE_OPENAI_API_KEY);
  const azureEndpoint = nonEmpty(env.AZURE_OPENAI_ENDPOINT);
  if (azureKey && azureEndpoint) {
    const version = nonEmpty(env.AZURE_OPENAI_API_VERSION);
    found.azure = {
      kind: 'azure',
      base_url: normaliseAzureEndpoint(azureEndpoint),
      api_key: azureKey,
      ...(version ? { api_version: version } : {}),
    };
  }
  return found;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Azure endpoints are given with or without a trailing `/openai`; the adapter appends `/openai/deployments/…`. */
function normaliseAzureEndpoint(url: string): string {
  return normaliseBaseUrl(url).replace(/\/openai$/i, '');
}

function readConfigFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return JSON.parse(text) as unknown;
  return parseYaml(text) as unknown;
}

function formatIssuePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

export interface LoadConfigOptions {
  path?: string | undefined;
  env?: Env;
  /** Raw config object (tests); takes the place of the file. */
  raw?: unknown;
}

/** Loads, validates and resolves the configuration. Throws ConfigError listing every problem at once. */
export function loadConfig(options: LoadConfigOptions = {}): GatewayConfig {
  const env = options.env ?? process.env;
  const path = options.path ?? env.MANIAC_CONFIG;
  const source = options.raw !== undefined ? 'inline' : (path ?? 'environment');
  let raw: unknown = options.raw ?? {};
  if (options.raw === undefined && path) {
    try {
      raw = readConfigFile(path) ?? {};
    } catch (err) {
      throw new ConfigError(source, [
        `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`,
      ]);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(source, ['(root): expected a mapping of options']);
  }
  const merged = applyEnvOverrides(raw as Record<string, unknown>, env);
  const parsed = GatewayConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`),
    );
  }
  const config = parsed.data;
  const problems: string[] = [];
  for (const [name, provider] of Object.entries(config.providers)) {
    provider.base_url =
      provider.kind === 'azure'
        ? normaliseAzureEndpoint(provider.base_url)
        : normaliseBaseUrl(provider.base_url);
    provider.drop_unsupported_params ??= config.drop_unsupported_params;
    if (provider.kind === 'anthropic') provider.anthropic_version ??= DEFAULT_ANTHROPIC_VERSION;
    if (provider.kind === 'azure') provider.api_version ??= DEFAULT_AZURE_API_VERSION;
    if (provider.api_key !== undefined) {
      provider.api_key = resolveSecret(provider.api_key, env, `providers.${name}.api_key`, problems);
    }
  }
  config.clickhouse.password = resolveSecret(
    config.clickhouse.password,
    env,
    'clickhouse.password',
    problems,
  );
  if (problems.length > 0) throw new ConfigError(source, problems);
  return config;
}

function applyEnvOverrides(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (name: string): Record<string, unknown> => {
    const current = out[name];
    const copy = typeof current === 'object' && current !== null ? { ...(current as object) } : {};
    out[name] = copy;
    return copy as Record<string, unknown>;
  };
  if (env.KAFKA_BROKERS) {
    section('kafka').brokers = env.KAFKA_BROKERS.split(',')
      .map((b) => b.trim())
      .filter(Boolean);
  }
  if (env.MANIAC_TOPIC_PREFIX) {
    const p = env.MANIAC_TOPIC_PREFIX;
    section('kafka').topics = {
      completions: `${p}completions`,
      control: `${p}control`,
      dead_letter: `${p}completions.dlq`,
    };
  }
  if (env.CLICKHOUSE_URL) section('clickhouse').url = env.CLICKHOUSE_URL;
  if (env.CLICKHOUSE_DATABASE) section('clickhouse').database = env.CLICKHOUSE_DATABASE;
  if (env.CLICKHOUSE_USER) section('clickhouse').username = env.CLICKHOUSE_USER;
  if (env.CLICKHOUSE_PASSWORD) section('clickhouse').password = env.CLICKHOUSE_PASSWORD;
  if (env.PORT) section('server').port = Number(env.PORT);
  if (env.HOST) section('server').host = env.HOST;
  if (env.LOG_LEVEL) out.log_level = env.LOG_LEVEL;
  if (env.REDIS_URL) out.redis_url = env.REDIS_URL;
  if (env.MANIAC_SPOOL_DIR) section('spool').dir = env.MANIAC_SPOOL_DIR;
  // Providers: the environment adds the well-known ones; a provider named in the file wins, but its base URL
  // may still be overridden with <NAME>_BASE_URL, as the official SDKs allow.
  const fileProviders =
    typeof out.providers === 'object' && out.providers !== null
      ? (out.providers as Record<string, Record<string, unknown>>)
      : {};
  const providers: Record<string, unknown> = { ...providersFromEnv(env) };
  for (const [name, p] of Object.entries(fileProviders)) {
    const override = env[`${name.toUpperCase().replaceAll('-', '_')}_BASE_URL`];
    let entry: unknown = p;
    if (typeof p === 'object' && p !== null) {
      // Native providers with a fixed public endpoint may omit base_url.
      const kind = typeof p.kind === 'string' ? (p.kind as ProviderKind) : undefined;
      const fallback = kind ? DEFAULT_BASE_URLS[kind] : undefined;
      if (p.base_url === undefined && fallback) entry = { ...p, base_url: fallback };
      if (override) entry = { ...(entry as object), base_url: override };
    }
    providers[name] = entry;
  }
  out.providers = providers;
  return out;
}
