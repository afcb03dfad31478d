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
});
