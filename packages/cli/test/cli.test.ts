import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '@maniac-gateway/testkit';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));

function cli(args: string[], prefix: string, extraEnv: Record<string, string> = {}) {
  return run(tsx, ['--conditions=development', main, ...args], {
    env: {
      ...process.env,
      KAFKA_BROKERS: testEnv().brokers,
      MANIAC_TOPIC_PREFIX: prefix,
      LOG_LEVEL: 'silent',
      ...extraEnv,
    },
    timeout: 90_000,
  });
}

describe('maniac-gateway CLI', () => {
  it('creates projects and keys (printed once), lists them without secrets, and revokes', async () => {
    const prefix = `${uniqueName('cli')}.`;
    const created = await cli(['projects', 'create', 'acme'], prefix);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'acme' });

    const key = await cli(['keys', 'create', '--project', 'acme', '--name', 'ci'], prefix);
    const secret = key.stdout.trim();
    expect(secret).toMatch(/^mgw_[A-Za-z0-9_-]{43}$/);
    expect(key.stderr).toContain('not shown again');

    const list = await cli(['keys', 'list', '--project', 'acme'], prefix);
    expect(list.stdout).toContain('active');
    expect(list.stdout).not.toContain(secret);
    const keyId = list.stdout.split('\t')[0] as string;
    expect(keyId).toMatch(/^key_/);

    await cli(['keys', 'revoke', keyId], prefix);
    expect((await cli(['keys', 'list'], prefix)).stdout).toContain('revoked');
    await expect(cli(['keys', 'create', '--project', 'nope'], prefix)).rejects.toThrow(
      /no project named nope/,
    );
  });

  it('sets limits and budgets, creates restricted keys, disables projects', async () => {
    const prefix = `${uniqueName('cli')}.`;
    await cli(['projects', 'create', 'acme'], prefix);
    const budget = await cli(['projects', 'set-budget', 'acme', '--monthly', '50', '--total', '500'], prefix);
    expect(JSON.parse(budget.stdout)).toMatchObject({ monthly_budget_usd: 50, total_budget_usd: 500 });
    const limits = await cli(
      ['projects', 'set-limits', 'acme', '--rpm', '600', '--max-concurrent', '20'],
      prefix,
    );
    expect(JSON.parse(limits.stdout)).toMatchObject({ rpm: 600, tpm: null, max_concurrent: 20 });
    const key = await cli(
      [
        'keys',
        'create',
        '-p',
        'acme',
        '--rpm',
        '60',
        '--allow-models',
        'openai/*',
        '--allow-containers',
        'bot',
      ],
      prefix,
    );
    expect(key.stdout.trim()).toMatch(/^mgw_/);
    await expect(cli(['keys', 'create', '-p', 'acme', '--rpm', 'lots'], prefix)).rejects.toThrow(
      /non-negative integer/,
    );
    expect((await cli(['projects', 'disable', 'acme'], prefix)).stdout).toContain('disabled acme');
    expect((await cli(['projects', 'list'], prefix)).stdout).toContain('(disabled)');
  });

  it('manages containers: create, list, show, update, delete', async () => {
    const prefix = `${uniqueName('cli')}.`;
    await cli(['projects', 'create', 'acme'], prefix);
    const env = { OPENAI_API_KEY: 'sk-x' };
    const created = await cli(
      [
        'containers',
        'create',
        'bot',
        '-p',
        'acme',
        '-m',
        'openai:gpt-4o-mini',
        '--params',
        '{"temperature":0.1}',
      ],
      prefix,
      env,
    );
    expect(JSON.parse(created.stdout)).toMatchObject({
      label: 'bot',
      model: 'openai/gpt-4o-mini',
      params: { temperature: 0.1 },
    });
    expect((await cli(['containers', 'list', '-p', 'acme'], prefix, env)).stdout).toContain(
      'bot\topenai/gpt-4o-mini',
    );
    const updated = await cli(
      ['containers', 'update', 'bot', '-p', 'acme', '-m', 'openai/gpt-4o'],
      prefix,
      env,
    );
    expect(JSON.parse(updated.stdout).model).toBe('openai/gpt-4o');
    const shown = await cli(['containers', 'show', 'bot', '-p', 'acme'], prefix, env);
    expect(JSON.parse(shown.stdout).model).toBe('openai/gpt-4o');
    await expect(
      cli(['containers', 'create', 'x', '-p', 'acme', '-m', 'nowhere/m'], prefix, env),
    ).rejects.toThrow(/model_not_routable/);
    await cli(['containers', 'delete', 'bot', '-p', 'acme'], prefix, env);
    expect((await cli(['containers', 'list', '-p', 'acme'], prefix, env)).stdout).toBe('');
  });
});
