import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventCollector, startTestHost, testConfig, type TestHost } from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

let gw: TestHost;
let events: EventCollector;

async function register(body: unknown, path = '/v1/chat/completions/register') {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const input = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'What is 2+2?' }] };
function output(id: string) {
  return {
    id,
    created: 1_760_000_000,
    model: 'openai/gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: '4' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 },
  };
}

beforeAll(async () => {
  const config = testConfig({
    providers: { openai: { base_url: 'http://127.0.0.1:9/v1' } },
    containers: [{ label: 'math', model: 'openai/gpt-4o-mini' }],
  });
  gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
  events = new EventCollector(config.kafka.topics.completions);
  await events.start();
});

afterAll(async () => {
  await events?.stop();
  await gw?.stop();
});

describe('POST /v1/chat/completions/register', () => {
  it('emits register events for valid items, reports invalid ones, skips repeats within the batch', async () => {
    const res = await register({
      container: 'math',
      items: [
        { input, output: output('ex-1'), tags: ['gold'], metadata: { source: 'import' } },
        { input, output: null },
        { input: { messages: 'nope' } },
        { input, output: output('ex-1') },
        { input, output: output('ex-2'), extra: 1 },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      ok: true,
      container: 'math',
      summary: { received: 5, inserted: 2, skipped: 1, failed: 2 },
    });
    const errors = res.json.errors as { index: number; loc: unknown[]; type: string }[];
    expect(errors.map((e) => e.index)).toEqual([2, 4]);
    expect(errors[0]).toMatchObject({ loc: ['body', 'items', 2, 'input', 'messages'], type: 'list_type' });
    expect(errors[1]).toMatchObject({ loc: ['body', 'items', 4, 'extra'], type: 'extra_forbidden' });

    const event = await events.waitFor((e) => e.completion_id === 'ex-1');
    expect(event).toMatchObject({
      source: 'register',
      project_id: gw.projectId,
      container: 'math',
      model: 'openai/gpt-4o-mini',
      provider: 'openai',
      status: 'success',
      tags: ['gold'],
      created_ms: 1_760_000_000_000,
    });
    expect(event.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 1 });
    expect(event.spend_nanos).toBeGreaterThan(0);
    const inputOnly = await events.waitFor((e) => e.source === 'register' && e.response_json === null);
    expect(inputOnly.completion_id).toMatch(/^chatcmpl-/);
  });

  it('404 for an unknown container, 422 for a malformed envelope', async () => {
    expect((await register({ container: 'nope', items: [] })).status).toBe(404);
    const bad = await register({ items: {} });
    expect(bad.status).toBe(422);
    expect((bad.json.detail as { loc: unknown[] }[]).map((d) => d.loc)).toEqual(
      expect.arrayContaining([
        ['body', 'container'],
        ['body', 'items'],
      ]),
    );
  });

  it('accepts the legacy /v1/completions/register with `dataset`', async () => {
    const res = await register(
      { container: 'math', dataset: [{ input, output: output('legacy-1') }] },
      '/v1/completions/register',
    );
    expect(res.status).toBe(200);
    expect(res.json.summary).toMatchObject({ received: 1, inserted: 1 });
    await events.waitFor((e) => e.completion_id === 'legacy-1');
  });

  it('handles thousands of items in one call', async () => {
    const items = Array.from({ length: 3000 }, (_, i) => ({ input, output: output(`bulk-${i}`) }));
    const res = await register({ container: 'math', items });
    expect(res.status).toBe(200);
    expect(res.json.summary).toMatchObject({ received: 3000, inserted: 3000, failed: 0 });
    await events.waitFor((e) => e.completion_id === 'bulk-2999', 60_000);
  });
});
