import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('works with no file and no environment (defaults, no providers)', () => {
    const config = loadConfig({ env: {} });
    expect(config.server.port).toBe(8080);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.providers).toEqual({});
  });

  it('enables well-known providers from their standard env vars, base URLs overridable', () => {
    const config = loadConfig({
      env: {
        OPENAI_API_KEY: 'sk-1',
        GROQ_API_KEY: 'gsk-2',
        OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1/',
        OLLAMA_BASE_URL: 'http://127.0.0.1:11434/v1',
      },
    });
    expect(Object.keys(config.providers).sort()).toEqual(['groq', 'ollama', 'openai']);
    expect(config.providers.openai).toMatchObject({ base_url: 'http://127.0.0.1:4010/v1', api_key: 'sk-1' });
    expect(config.providers.groq?.base_url).toBe('https://api.groq.com/openai/v1');
    expect(config.providers.ollama?.api_key).toBeUndefined();
  });

  it('reads YAML files, resolves env: secrets and applies env overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const path = join(dir, 'gateway.yaml');
    writeFileSync(
      path,
      [
        'server: { port: 9000 }',
        'providers:',
        '  local:',
        '    base_url: http://127.0.0.1:8000/v1',
        '    api_key: env:LOCAL_KEY',
        'containers:',
        '  - { label: bot, model: local/m }',
      ].join('\n'),
    );
    const config = loadConfig({ path, env: { LOCAL_KEY: 'secret', KAFKA_BROKERS: 'a:1,b:2', PORT: '9100' } });
    expect(config.providers.local?.api_key).toBe('secret');
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.server.port).toBe(9100);
    expect(config.containers[0]).toMatchObject({ label: 'bot', fallback_models: [], system_prompt: null });
  });

  it('reports every problem at once', () => {
    const found = problems(() =>
      loadConfig({
        env: {},
        raw: {
          server: { port: 'eighty' },
          kafka: { brokers: [] },
          providers: { p: { base_url: 'not a url', api_key: 'env:MISSING' } },
          containers: [{ label: '', model: 'x/y' }],
          surprise: true,
        },
      }),
    );
    expect(found.length).toBeGreaterThanOrEqual(5);
    expect(found.join('\n')).toMatch(/server\.port/);
    expect(found.join('\n')).toMatch(/kafka\.brokers/);
    expect(found.join('\n')).toMatch(/providers\.p\.base_url/);
    expect(found.join('\n')).toMatch(/containers\[0\]\.label/);
    expect(found.join('\n')).toMatch(/surprise/);
  });

  it('reports a missing env secret by name', () => {
    expect(
      problems(() =>
        loadConfig({ env: {}, raw: { providers: { p: { base_url: 'http://x/v1', api_key: 'env:NOPE' } } } }),
      ),
    ).toEqual(['providers.p.api_key: environment variable NOPE is not set']);
  });

  it('enables the native providers from their standard env vars', () => {
    const config = loadConfig({
      env: {
        ANTHROPIC_API_KEY: 'sk-ant',
        GOOGLE_API_KEY: 'goog',
        AZURE_OPENAI_API_KEY: 'az',
        AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com/openai/',
      },
    });
    expect(config.providers.anthropic).toMatchObject({
      kind: 'anthropic',
      base_url: 'https://api.anthropic.com/v1',
      api_key: 'sk-ant',
      anthropic_version: '2023-06-01',
      drop_unsupported_params: false,
    });
    expect(config.providers.gemini).toMatchObject({
      kind: 'gemini',
      base_url: 'https://generativelanguage.googleapis.com/v1beta',
      api_key: 'goog',
    });
    expect(config.providers.azure).toMatchObject({
      kind: 'azure',
      base_url: 'https://res.openai.azure.com',
      api_key: 'az',
      api_version: '2024-10-21',
    });
  });

  it('prefers GEMINI_API_KEY, honours base URL and api-version overrides, needs both Azure variables', () => {
    const config = loadConfig({
      env: {
        GEMINI_API_KEY: 'gem',
        GOOGLE_API_KEY: 'goog',
        GEMINI_BASE_URL: 'http://127.0.0.1:9/v1beta/',
        ANTHROPIC_API_KEY: 'a',
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:8/v1',
        AZURE_OPENAI_API_KEY: 'az',
        AZURE_OPENAI_API_VERSION: '2025-01-01-preview',
      },
    });
    expect(config.providers.gemini).toMatchObject({ api_key: 'gem', base_url: 'http://127.0.0.1:9/v1beta' });
    expect(config.providers.anthropic?.base_url).toBe('http://127.0.0.1:8/v1');
    expect(config.providers.azure).toBeUndefined();
    const azure = loadConfig({
      env: {
        AZURE_OPENAI_API_KEY: 'az',
        AZURE_OPENAI_ENDPOINT: 'https://r.x',
        AZURE_OPENAI_API_VERSION: 'v9',
      },
    });
    expect(azure.providers.azure).toMatchObject({ base_url: 'https://r.x', api_version: 'v9' });
  });

  it('accepts native kinds in files, with default base URLs, versions and drop_unsupported_params', () => {
    const config = loadConfig({
      env: {},
      raw: {
        drop_unsupported_params: true,
        providers: {
          claude: { kind: 'anthropic', api_key: 'k', anthropic_version: '2024-01-01' },
          google: { kind: 'gemini', api_key: 'g', drop_unsupported_params: false },
          az: { kind: 'azure', base_url: 'https://r.openai.azure.com', api_key: 'a' },
          plain: { base_url: 'http://127.0.0.1:1/v1' },
        },
      },
    });
    expect(config.providers.claude).toMatchObject({
      base_url: 'https://api.anthropic.com/v1',
      anthropic_version: '2024-01-01',
      drop_unsupported_params: true,
    });
    expect(config.providers.google).toMatchObject({
      base_url: 'https://generativelanguage.googleapis.com/v1beta',
      drop_unsupported_params: false,
    });
    expect(config.providers.az).toMatchObject({ api_version: '2024-10-21', drop_unsupported_params: true });
    expect(config.providers.plain).toMatchObject({ kind: 'openai', drop_unsupported_params: true });
    expect(config.providers.plain?.anthropic_version).toBeUndefined();
  });

  it('still requires base_url for openai and azure kinds, and rejects unknown kinds', () => {
    const found = problems(() =>
      loadConfig({
        env: {},
        raw: {
          providers: { a: { kind: 'azure', api_key: 'x' }, b: { kind: 'bedrock', base_url: 'http://x' } },
        },
      }),
    );
    expect(found.join('\n')).toMatch(/providers\.a\.base_url/);
    expect(found.join('\n')).toMatch(/providers\.b\.kind/);
  });
});

describe('config/example.yaml', () => {
  it('is valid and documents the options the schema has', () => {
    const path = new URL('../../../config/example.yaml', import.meta.url).pathname;
    const config = loadConfig({
      path,
      env: { OPENAI_API_KEY: 'o', ANTHROPIC_API_KEY: 'a', GEMINI_API_KEY: 'g', AZURE_OPENAI_API_KEY: 'z' },
    });
    expect(Object.keys(config.providers).length).toBeGreaterThanOrEqual(4);
    expect(config.containers[0]?.label).toBe('support-bot');
    expect(config.limits.project.monthly_budget_usd).toBeNull();
  });
});
