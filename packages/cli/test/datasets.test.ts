import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MockUpstream,
  openAiResponse,
  pollUntil,
  startTestHost,
  testConfig,
  testEnv,
  uniqueName,
  type TestHost,
} from '@maniac-gateway/testkit';
import { composeComponents } from '../src/compose.js';

// Container counters, dataset export (HTTP and CLI) and bulk import (CLI), through the whole pipeline.
const run = promisify(execFile);
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));

let mock: MockUpstream;
let gw: TestHost;
const topicPrefix = `${uniqueName('ds')}.`;
const dir = mkdtempSync(join(tmpdir(), 'maniac-datasets-'));

type Json = Record<string, unknown>;
interface Stats {
  completions: number;
  registered_examples: number;
  spend: number;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  key = gw.apiKey,
): Promise<{ status: number; json: Json; text: string }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = {};
  }
  return { status: res.status, json, text };
}

function cli(args: string[]) {
  return run(tsx, ['--conditions=development', main, ...args], {
    env: {
      ...process.env,
      KAFKA_BROKERS: testEnv().brokers,
      CLICKHOUSE_URL: testEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: gw.config.clickhouse.database,
      MANIAC_TOPIC_PREFIX: topicPrefix,
      LOG_LEVEL: 'silent',
    },
    timeout: 90_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Waits until the container's counters reach `expected` (they come from the rollups, behind the writer). */
function statsOf(label: string, expected: Partial<Stats>): Promise<Stats> {
  return pollUntil(
    async () => {
      const res = await call('GET', `/v1/containers/${label}`);
      const stats = res.json.stats as Stats | null;
      if (!stats) return undefined;
      return Object.entries(expected).every(([k, v]) => stats[k as keyof Stats] === v) ? stats : undefined;
    },
    { timeoutMs: 30_000, message: `counters of ${label} did not reach ${JSON.stringify(expected)}` },
  );
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { messages: { role: string; content?: unknown }[] });

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const config = testConfig({
    topicPrefix,
    providers: { openai: { base_url: mock.url, api_key: 'sk-test' } },
  });
  gw = await startTestHost(config, composeComponents);
});

beforeEach(() => mock.reset());

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
});

describe('container counters', () => {
  it('count completions, registered examples and spend from the rollups, on every container response', async () => {
    const created = await call('POST', '/v1/containers', { label: 'counted', model: 'openai/gpt-4o-mini' });
    expect(created.status).toBe(201);
    // The rollup tables exist (the writer migrated): zeros, not null.
    expect(created.json.stats).toEqual({ completions: 0, registered_examples: 0, spend: 0 });
    expect((created.json.data as Json).stats).toEqual(created.json.stats);

    mock.script(
      'gpt-4o-mini',
      { kind: 'json', body: openAiResponse({ usage: { prompt_tokens: 1000, completion_tokens: 100 } }) },
      { kind: 'json', body: openAiResponse({ usage: { prompt_tokens: 1000, completion_tokens: 100 } }) },
      { kind: 'error', status: 400 },
    );
    const chat = () =>
      call('POST', '/v1/chat/completions', {
        model: 'maniac:counted',
        messages: [{ role: 'user', content: 'hello' }],
      });
    expect((await chat()).status).toBe(200);
    expect((await chat()).status).toBe(200);
    expect((await chat()).status).toBe(400);
    const reg = await call('POST', '/v1/chat/completions/register', {
      container: 'counted',
      items: [
        {
          input: { messages: [{ role: 'user', content: 'r' }] },
          output: { choices: [{ message: { role: 'assistant', content: 'ok' } }] },
        },
      ],
    });
    expect(reg.json.summary).toMatchObject({ inserted: 1 });

    const stats = await statsOf('counted', { completions: 3, registered_examples: 1 });
    const list = await call('GET', '/v1/chat/completions?container=counted&limit=100');
    const spend = (list.json.data as { spend: number | null }[]).reduce((n, r) => n + (r.spend ?? 0), 0);
    expect(stats.spend).toBeGreaterThan(0);
    expect(stats.spend).toBeCloseTo(spend, 12);

    // List, PATCH and get-or-create carry the same counters.
    const listed = await call('GET', '/v1/containers?label=counted');
    expect((listed.json.data as Json[])[0]?.stats).toEqual(stats);
    const patched = await call('PATCH', '/v1/containers/counted', { system_prompt: 'Short.' });
    expect(patched.json.stats).toEqual(stats);
    const again = await call('POST', '/v1/containers', { label: 'counted', model: 'openai/gpt-4o' });
    expect(again.status).toBe(200);
    expect(again.json.stats).toEqual(stats);
    const shown = await cli(['containers', 'show', 'counted', '-p', gw.projectId]);
    expect((JSON.parse(shown.stdout) as Json).stats).toEqual(stats);
    // Another project's container of the same label starts at zero.
    const other = await gw.newProjectKey();
    const theirs = await call(
      'POST',
      '/v1/containers',
      { label: 'counted', model: 'openai/gpt-4o' },
      other.apiKey,
    );
    expect(theirs.json.stats).toEqual({ completions: 0, registered_examples: 0, spend: 0 });
  });
});

describe('dataset export and import', () => {
  let exported = '';

  it('exports over HTTP and from the CLI, identically; other projects get 404', async () => {
    await call('POST', '/v1/containers', { label: 'ft', model: 'openai/gpt-4o-mini' });
    mock.script(
      'gpt-4o-mini',
      { kind: 'json', body: openAiResponse({ content: 'first answer' }) },
      {
        kind: 'json',
        body: openAiResponse({ toolCalls: [{ id: 'call_9', name: 'lookup', arguments: '{"id":9}' }] }),
      },
      { kind: 'json', body: openAiResponse({ content: 'third answer' }) },
    );
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
    for (const [i, extra] of [{}, { tools }, { tags: ['keep'] }].entries()) {
      const res = await call('POST', '/v1/chat/completions', {
        model: 'maniac:ft',
        messages: [{ role: 'user', content: `q${i}` }],
        ...extra,
      });
      expect(res.status).toBe(200);
    }
    await statsOf('ft', { completions: 3 });

    // One insert writes the rows and then the rollups one after another; the export plans its windows from the
    // hourly rollup, so wait until that has caught up too.
    const http = await pollUntil(
      async () => {
        const res = await call('GET', '/v1/containers/ft/dataset?format=openai-jsonl');
        return lines(res.text).length === 3 ? res : undefined;
      },
      { timeoutMs: 15_000, message: 'export did not contain the three completions' },
    );
    expect(http.status).toBe(200);
    const got = lines(http.text);
    expect(got.map((l) => l.messages.at(-1))).toEqual([
      { role: 'assistant', content: 'first answer' },
      {
        role: 'assistant',
        tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'lookup', arguments: '{"id":9}' } }],
      },
      { role: 'assistant', content: 'third answer' },
    ]);
    expect((JSON.parse(http.text.split('\n')[1] ?? '{}') as Json).tools).toEqual(tools);
    exported = http.text;

    const tagged = await call('GET', '/v1/containers/ft/dataset?tags=keep');
    expect(lines(tagged.text)).toHaveLength(1);

    const fromCli = await cli(['containers', 'export', 'ft', '-p', gw.projectId]);
    expect(fromCli.stdout).toBe(exported);
    expect(fromCli.stderr).toContain('exported 3 examples from ft');
    const taggedCli = await cli(['containers', 'export', 'ft', '-p', gw.projectId, '--tags', 'keep']);
    expect(lines(taggedCli.stdout)).toHaveLength(1);

    const other = await gw.newProjectKey();
    const denied = await call('GET', '/v1/containers/ft/dataset', undefined, other.apiKey);
    expect(denied.status).toBe(404);
    expect((denied.json.error as Json).code).toBe('container_not_found');
    await expect(cli(['containers', 'export', 'ft', '-p', other.projectId])).rejects.toThrow(
      /container_not_found/,
    );
    await expect(cli(['containers', 'export', 'ft', '-p', gw.projectId, '--source', 'nope'])).rejects.toThrow(
      /literal_error/,
    );
  });

  it('register imports an exported file (idempotently) and register-format lines, reporting failures', async () => {
    await call('POST', '/v1/containers', { label: 'ft2', model: 'openai/gpt-4o-mini' });
    const file = join(dir, 'export.jsonl');
    writeFileSync(file, exported);
    const first = await cli([
      'register',
      file,
      '--container',
      'ft2',
      '-p',
      gw.projectId,
      '--batch-size',
      '2',
    ]);
    expect(JSON.parse(first.stdout)).toMatchObject({ received: 3, inserted: 3, skipped: 0, failed: 0 });
    expect(first.stderr).toContain('3 inserted');
    await statsOf('ft2', { registered_examples: 3 });
    // The imported examples export back to the same lines.
    // (The rollups and the rows are written by one insert, but the views are filled one after another.)
    const back = await pollUntil(
      async () => {
        const res = await call('GET', '/v1/containers/ft2/dataset');
        return res.text === exported ? res : undefined;
      },
      { timeoutMs: 15_000, message: 'imported examples did not export back' },
    );
    expect(back.text).toBe(exported);

    // Re-importing the same file skips every line (ids derive from the content and the container).
    const again = await cli(['register', file, '--container', 'ft2', '-p', gw.projectId]);
    expect(JSON.parse(again.stdout)).toMatchObject({ received: 3, inserted: 0, skipped: 3, failed: 0 });

    // Register-format lines, an input-only example, and three bad lines.
    const mixed = join(dir, 'mixed.jsonl');
    writeFileSync(
      mixed,
      [
        JSON.stringify({
          input: { messages: [{ role: 'user', content: 'item' }] },
          output: { id: 'reg-item-1', choices: [{ message: { role: 'assistant', content: 'fine' } }] },
          tags: ['imported'],
        }),
        JSON.stringify({ messages: [{ role: 'user', content: 'no answer yet' }] }),
        '{"messages": [',
        '',
        JSON.stringify({ prompt: 'x', completion: 'y' }),
        JSON.stringify({ input: { messages: 'not a list' } }),
      ].join('\n'),
    );
    const failed = await cli(['register', mixed, '--container', 'ft2', '-p', gw.projectId]).then(
      () => {
        throw new Error('expected a non-zero exit');
      },
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failed.code).toBe(1);
    const summary = JSON.parse(failed.stdout) as { errors: { line: number; message: string }[] };
    expect(summary).toMatchObject({ received: 5, inserted: 2, skipped: 0, failed: 3 });
    expect(summary.errors.map((e) => e.line)).toEqual([3, 5, 6]);
    expect(summary.errors[0]?.message).toMatch(/invalid JSON/);
    expect(summary.errors[1]?.message).toMatch(/expected \{"messages"/);
    expect(failed.stderr).toContain('line 6:');
    await statsOf('ft2', { registered_examples: 5 });
    // The input-only example is stored but has nothing to train on: not exported.
    expect(lines((await call('GET', '/v1/containers/ft2/dataset')).text)).toHaveLength(4);
    expect(lines((await call('GET', '/v1/containers/ft2/dataset?tags=imported')).text)).toEqual([
      {
        messages: [
          { role: 'user', content: 'item' },
          { role: 'assistant', content: 'fine' },
        ],
      },
    ]);

    await expect(cli(['register', file, '--container', 'missing', '-p', gw.projectId])).rejects.toThrow(
      /container_not_found/,
    );
  });
});
