import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MockUpstream,
  openAiResponse,
  openAiStream,
  pollUntil,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

let mock: MockUpstream;
let gw: TestHost;
let ingest: IngestApi;

type Json = Record<string, unknown>;
const messages = [{ role: 'user', content: 'hello there' }];

async function chat(key: string, body: Json = {}) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages, ...body }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json().catch(() => ({}))) as Json };
}

async function keyWith(
  options: Parameters<TestHost['ctx']['controlPlane']['createKey']>[2],
  projectPatch: Json = {},
) {
  const cp = gw.ctx.controlPlane;
  const project = await cp.createProject(`p-${Math.random().toString(36).slice(2)}`);
  if (Object.keys(projectPatch).length > 0) await cp.updateProject(project.id, projectPatch);
  const { key, record } = await cp.createKey(project.id, 'limits', options);
  return { key, keyId: record.id, projectId: project.id };
}

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const config = testConfig({
    providers: { openai: { base_url: mock.url } },
    containers: [{ label: 'bot', model: 'openai/gpt-4o-mini' }],
  });
  gw = await startTestHost(config, (ctx) => {
    ingest = new IngestApi(ctx);
    return [ingest];
  });
});

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
});

beforeEach(() => mock.reset());

describe('rate limits', () => {
  it('rpm: headers on every response, 429 rate_limit_exceeded with Retry-After beyond the limit', async () => {
    const { key } = await keyWith({ rpm: 3 });
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await chat(key);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('3');
      remaining.push(res.headers.get('x-ratelimit-remaining') ?? '');
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await chat(key);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.json.error).toMatchObject({
      code: 'rate_limit_exceeded',
      details: { limit: 'rpm', scope: 'key', value: 3 },
    });
  });

  it('project-scope rpm applies across the project keys', async () => {
    const { projectId } = await keyWith({}, { rpm: 2 });
    const cp = gw.ctx.controlPlane;
    const a = await cp.createKey(projectId, 'a');
    const b = await cp.createKey(projectId, 'b');
    expect((await chat(a.key)).status).toBe(200);
    expect((await chat(b.key)).status).toBe(200);
    const refused = await chat(a.key);
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({ details: { limit: 'rpm', scope: 'project' } });
  });

  it('concurrency: a second request while one is in flight is refused, and the slot comes back', async () => {
    const { key } = await keyWith({ max_concurrent: 1 });
    mock.script('gpt-4o-mini', { kind: 'json', body: openAiResponse(), delayMs: 300 }, { kind: 'json' });
    const first = chat(key);
    await pollUntil(() => (mock.requests.length > 0 ? true : undefined), { timeoutMs: 5_000 });
    const second = await chat(key);
    expect(second.status).toBe(429);
    expect(second.json.error).toMatchObject({ details: { limit: 'concurrency', scope: 'key' } });
    expect((await first).status).toBe(200);
    expect((await chat(key)).status).toBe(200);
  });

  it('tpm: estimated prompt tokens are reserved and settled with real usage', async () => {
    const { key } = await keyWith({ tpm: 60 });
    // Real usage 19 tokens (12 + 7) each: the estimate (~8) is settled up to 19 after each call.
    expect((await chat(key)).status).toBe(200);
    expect((await chat(key)).status).toBe(200);
    expect((await chat(key)).status).toBe(200);
    const refused = await chat(key);
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({ details: { limit: 'tpm', scope: 'key' } });
  });

  it('403 forbidden_model outside the allowed models and containers', async () => {
    const { key } = await keyWith({ allow_models: ['openai/gpt-4o*'], allow_containers: ['bot'] });
    expect((await chat(key, { model: 'openai:gpt-4o-mini' })).status).toBe(200);
    expect((await chat(key, { model: 'maniac:bot' })).status).toBe(200);
    const model = await chat(key, { model: 'openai/o3' });
    expect(model.status).toBe(403);
    expect(model.json.error).toMatchObject({ code: 'forbidden_model', details: { model: 'openai/o3' } });
    const fallback = await chat(key, { model: 'openai/gpt-4o', models: ['openai/o3'] });
    expect(fallback.status).toBe(403);
  });

  it('a disabled project gets 403', async () => {
    const { key, projectId } = await keyWith({});
    expect((await chat(key)).status).toBe(200);
    await gw.ctx.controlPlane.updateProject(projectId, { disabled: true });
    const res = await chat(key);
    expect(res.status).toBe(403);
    expect((res.json.error as Json).code).toBe('project_disabled');
  });
});

describe('budgets', () => {
  it('402 budget_exceeded once spend reaches the monthly budget; register keeps working', async () => {
    // gpt-4o-mini: 12 prompt + 7 completion tokens ≈ 6,000 nanos a call; budget 10,000 nanos.
    const { key } = await keyWith({}, { monthly_budget_nanos: 10_000 });
    expect((await chat(key)).status).toBe(200);
    expect((await chat(key)).status).toBe(200);
    const refused = await chat(key);
    expect(refused.status).toBe(402);
    expect(refused.json.error).toMatchObject({ code: 'budget_exceeded', details: { budget: 0.00001 } });
    const details = (refused.json.error as { details: { spend: number; period: string } }).details;
    expect(details.spend).toBeGreaterThanOrEqual(0.00001);
    expect(details.period).toMatch(/^\d{4}-\d{2}$/);
    const register = await fetch(`${gw.url}/v1/chat/completions/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ container: 'bot', items: [{ input: { messages } }] }),
    });
    expect(register.status).toBe(200);
  });

  it('a stream the client cancels before usage arrives is charged its reservation', async () => {
    const { key } = await keyWith({}, { total_budget_nanos: 5_000 });
    mock.script('gpt-4o-mini', {
      kind: 'sse',
      events: openAiStream({ pieces: Array.from({ length: 100 }, () => 'x') }),
      intervalMs: 20,
    });
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages, stream: true, max_tokens: 1000 }),
      signal: controller.signal,
    });
    await (res.body as ReadableStream<Uint8Array>).getReader().read();
    controller.abort();
    mock.reset();
    await pollUntil(async () => ((await chat(key)).status === 402 ? true : undefined), {
      timeoutMs: 10_000,
      message: 'the cancelled stream was not charged',
    });
  });

  it('parallel requests overshoot by at most what is in flight (reservations)', async () => {
    const { key } = await keyWith({}, { total_budget_nanos: 10_000 });
    mock.script('gpt-4o-mini', { kind: 'json', body: openAiResponse(), delayMs: 200 });
    const results = await Promise.all(Array.from({ length: 8 }, () => chat(key, { max_tokens: 10 })));
    const ok = results.filter((r) => r.status === 200).length;
    // Each reservation (≈ 12 + 10 tokens) is about half the budget: at most two are admitted at once.
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(2);
    expect(results.filter((r) => r.status === 402).length).toBe(8 - ok);
  });
});
