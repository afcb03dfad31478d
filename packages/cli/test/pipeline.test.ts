import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import {
  MockUpstream,
  openAiResponse,
  openAiStream,
  pollUntil,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import { PriceBook } from '@maniac-gateway/ingest-api';
import { modelId } from '@maniac-gateway/query-api';
import { composeComponents } from '../src/compose.js';

// The whole pipeline as `npm start` runs it: ingest-api → Kafka → writer → ClickHouse → query-api.
let mock: MockUpstream;
let gw: TestHost;

type Json = Record<string, unknown>;

async function call(
  method: string,
  path: string,
  body?: unknown,
  key = gw.apiKey,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

function stored(id: string, key = gw.apiKey): Promise<Json> {
  return pollUntil(
    async () => {
      const res = await call('GET', `/v1/chat/completions/${encodeURIComponent(id)}`, undefined, key);
      return res.status === 200 ? res.json : undefined;
    },
    { timeoutMs: 30_000, message: `completion ${id} not visible through query-api` },
  );
}

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const config = testConfig({
    providers: { openai: { base_url: mock.url, api_key: 'sk-test' } },
    containers: [{ label: 'math', model: 'openai/gpt-4o-mini' }],
  });
  gw = await startTestHost(config, composeComponents);
});

beforeEach(() => mock.reset());

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
});

describe('end to end', () => {
  it('a non-streamed completion is listed and retrievable with exact usage and spend', async () => {
    mock.script('gpt-4o-mini', {
      kind: 'json',
      body: openAiResponse({
        content: 'forty-two',
        usage: { prompt_tokens: 1000, completion_tokens: 500, prompt_tokens_details: { cached_tokens: 200 } },
      }),
    });
    const client = new OpenAI({ apiKey: gw.apiKey, baseURL: `${gw.url}/v1` });
    const res = await client.chat.completions.create({
      model: 'openai:gpt-4o-mini',
      messages: [{ role: 'user', content: 'answer?' }],
      // Maniac extensions pass through the SDK as extra body fields.
      ...({ tags: ['e2e'], metadata: { run: 1 }, trace: { id: 'trace-1', name: 'e2e' } } as object),
    });
    const item = await stored(res.id);
    const expectedSpend =
      (PriceBook.builtin().spendNanos('openai', 'gpt-4o-mini', {
        prompt_tokens: 1000,
        completion_tokens: 500,
        total_tokens: 1500,
        cached_tokens: 200,
        cache_creation_tokens: null,
        reasoning_tokens: null,
      }) as number) / 1e9;
    expect(item).toMatchObject({
      id: res.id,
      object: 'chat.completion',
      model: 'openai/gpt-4o-mini',
      provider: 'openai',
      container: null,
      model_id: modelId('openai/gpt-4o-mini'),
      tags: ['e2e'],
      metadata: { run: 1 },
      trace: { id: 'trace-1', name: 'e2e' },
      usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
    });
    expect(item.spend).toBeCloseTo(expectedSpend, 12);
    expect(expectedSpend).toBeGreaterThan(0);
    expect((item.choices as { message: { content: string } }[])[0]?.message.content).toBe('forty-two');
  });

  it('a streamed completion is stored with the assembled message, and listed first (desc)', async () => {
    mock.script('gpt-4o-mini', { kind: 'sse', events: openAiStream({ pieces: ['a', 'b', 'c'] }) });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'maniac:math',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      }),
    });
    const id = (JSON.parse((await res.text()).split('\n')[0]?.slice(6) ?? '{}') as { id: string }).id;
    const item = await stored(id);
    expect(item).toMatchObject({ container: 'math', usage: { prompt_tokens: 12, completion_tokens: 5 } });
    expect((item.choices as { message: { content: string } }[])[0]?.message.content).toBe('abc');
    const list = await call('GET', '/v1/chat/completions?limit=1&container=math');
    expect(list.json).toMatchObject({ object: 'list', total: 1 });
    expect((list.json.data as Json[])[0]?.id).toBe(id);
  });

  it('a prompt larger than Kafka’s default message limit is stored (the writer starts first and creates the topic)', async () => {
    // ~3 MiB of base64 (random bytes: gzip cannot shrink it under the broker's default 1 MiB). Before, the writer
    // created the completions topic with Kafka's default max.message.bytes, the broker refused this event and the
    // gateway moved it to the spool's rejected/ directory: served, never stored.
    const content = randomBytes(2_300_000).toString('base64');
    const res = await call('POST', '/v1/chat/completions', {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content }],
    });
    expect(res.status).toBe(200);
    const item = await stored(String(res.json.id));
    expect(item.id).toBe(res.json.id);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^maniac_events_rejected_total 0$/m);
    expect(metrics).toMatch(/^maniac_events_spooled_total 0$/m);
  });

  it('registered examples are listed; re-uploading stored ids skips them', async () => {
    const items = ['reg-a', 'reg-b'].map((id) => ({
      input: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: id }] },
      output: {
        id,
        model: 'openai/gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      },
    }));
    const first = await call('POST', '/v1/chat/completions/register', { container: 'math', items });
    expect(first.json.summary).toMatchObject({ inserted: 2, skipped: 0 });
    await stored('reg-a');
    await stored('reg-b');
    const again = await call('POST', '/v1/chat/completions/register', { container: 'math', items });
    expect(again.json.summary).toMatchObject({ received: 2, inserted: 0, skipped: 2, dedup_checked: true });
    const list = await call('GET', '/v1/chat/completions?container=maniac:math&limit=100');
    const ids = (list.json.data as Json[]).map((d) => d.id);
    expect(ids.filter((id) => id === 'reg-a')).toHaveLength(1);
  });

  it("isolates projects: another project's id is 404 and its list is empty", async () => {
    const res = await call('POST', '/v1/chat/completions', {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'mine' }],
    });
    await stored(String(res.json.id));
    const other = await gw.newProjectKey();
    const get = await call('GET', `/v1/chat/completions/${String(res.json.id)}`, undefined, other.apiKey);
    expect(get.status).toBe(404);
    expect((get.json.error as Json).code).toBe('completion_not_found');
    const list = await call('GET', '/v1/chat/completions', undefined, other.apiKey);
    expect(list.json).toMatchObject({ data: [], total: 0 });
  });

  it('usage rollups agree with the rows', async () => {
    const list = await call('GET', '/v1/chat/completions?limit=100');
    const rows = list.json.data as { usage: { prompt_tokens: number } | null; id: string }[];
    const served = rows.filter((r) => !r.id.startsWith('reg-'));
    const usage = await pollUntil(
      async () => {
        const res = await call('GET', '/v1/usage?source=completion');
        const totals = res.json.totals as { requests: number } | undefined;
        return totals && totals.requests === served.length ? res.json : undefined;
      },
      { timeoutMs: 30_000, message: 'rollups did not catch up with the rows' },
    );
    const promptSum = served.reduce((n, r) => n + (r.usage?.prompt_tokens ?? 0), 0);
    expect((usage.totals as { prompt_tokens: number }).prompt_tokens).toBe(promptSum);
  });
});
