import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MockUpstream,
  RedisProcess,
  limitViolations,
  pollUntil,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import type { GatewayConfig } from '@maniac-gateway/runtime';
import { IngestApi } from '../src/app.js';

// Two ingest-api instances sharing one Redis: limits hold globally; Redis down → fail open, visibly.
let mock: MockUpstream;
let redis: RedisProcess;
let config: GatewayConfig;
let a: TestHost;
let b: TestHost;

async function chat(host: TestHost, key: string) {
  const res = await fetch(`${host.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.text();
  return { status: res.status, reset: res.headers.get('x-ratelimit-reset') };
}

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  redis = new RedisProcess();
  await redis.start();
  config = testConfig({ providers: { openai: { base_url: mock.url } }, extra: { redis_url: redis.url } });
  a = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
  b = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.stop();
  await mock?.stop();
});

describe('rate limits across instances (Redis)', () => {
  it('a burst across both instances is limited to exactly the global limit', async () => {
    const project = await a.ctx.controlPlane.createProject('burst');
    const { key, record } = await a.ctx.controlPlane.createKey(project.id, 'burst', { rpm: 7 });
    // Instance b learns the key from the control topic.
    await pollUntil(() => (b.ctx.controlPlane.key(record.id) ? true : undefined), { timeoutMs: 10_000 });
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(i % 2 === 0 ? a : b, key)));
    expect(responses.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    // Exactly the limit in each one-minute window that refused requests (a burst may straddle two windows).
    expect(limitViolations(responses, 7)).toEqual([]);
  });

  it('Redis unreachable: requests still succeed (fail open), counted and shown in /readyz', async () => {
    const project = await a.ctx.controlPlane.createProject('open');
    const { key } = await a.ctx.controlPlane.createKey(project.id, 'open', { rpm: 1 });
    await redis.stop();
    for (let i = 0; i < 3; i++) expect((await chat(a, key)).status).toBe(200);
    const ready = (await (await fetch(`${a.url}/readyz`)).json()) as {
      status: string;
      checks: Record<string, { ok: boolean; reason?: string }>;
    };
    expect(ready.status).toBe('ready');
    expect(ready.checks.rate_limits?.ok).toBe(false);
    expect(ready.checks.rate_limits?.reason).toContain('failing open');
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/maniac_rate_limiter_errors_total [1-9]/);
    // Redis back: limits apply again.
    await redis.start();
    await pollUntil(async () => ((await chat(a, key)).status === 429 ? true : undefined), {
      timeoutMs: 15_000,
      message: 'limits did not resume after Redis returned',
    });
  });
});
