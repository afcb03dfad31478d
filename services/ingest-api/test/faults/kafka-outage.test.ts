import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventCollector,
  MockUpstream,
  faultKafka,
  pollUntil,
  startTestHost,
  testConfig,
  useFaultInfra,
  type TestHost,
} from '@maniac-gateway/testkit';
import type { GatewayConfig } from '@maniac-gateway/runtime';
import { IngestApi } from '../../src/app.js';

// Stops and starts the dedicated fault-injection Kafka (.data/faults, its own ports), never the shared one.
const kafka = (action: 'start' | 'stop') => faultKafka(action);

let mock: MockUpstream;
let config: GatewayConfig;
let gw: TestHost | null = null;

async function chat(host: TestHost, stream: boolean): Promise<string> {
  const res = await fetch(`${host.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${host.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream,
    }),
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  if (!stream) return (JSON.parse(text) as { id: string }).id;
  return (JSON.parse(text.split('\n')[0]?.slice(6) ?? '{}') as { id: string }).id;
}

async function metric(host: TestHost, name: string): Promise<number> {
  const text = await (await fetch(`${host.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

beforeAll(async () => {
  await useFaultInfra();
  mock = new MockUpstream();
  await mock.start();
  config = testConfig({ providers: { openai: { base_url: mock.url } } });
});

afterAll(async () => {
  await kafka('start');
  await gw?.stop();
  await mock.stop();
});

describe('Kafka outage', () => {
  it('serves traffic while Kafka is down, spools, and delivers every event exactly once when it returns', async () => {
    gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
    const host = gw;
    const collector = new EventCollector(config.kafka.topics.completions);
    await collector.start();
    const before = await chat(host, false);
    await collector.waitFor((e) => e.completion_id === before);

    await kafka('stop');
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await chat(host, i % 2 === 0));
    // Concurrency too: a burst while the producer is failing.
    ids.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => chat(host, i % 3 === 0)))));

    await pollUntil(
      async () => ((await metric(host, 'maniac_events_spooled_total')) >= ids.length ? true : undefined),
      {
        timeoutMs: 60_000,
        message: 'events not spooled',
      },
    );
    const ready = (await (await fetch(`${host.url}/readyz`)).json()) as {
      status: string;
      checks: Record<string, { ok: boolean; reason?: string }>;
    };
    expect(ready.checks.event_publisher?.ok).toBe(false);
    expect(ready.checks.event_publisher?.reason).toContain('spooled');

    await kafka('start');
    await pollUntil(() => (ids.every((id) => collector.byCompletionId(id).length > 0) ? true : undefined), {
      timeoutMs: 120_000,
      message: 'spooled events not delivered after Kafka returned',
    });
    await pollUntil(async () => ((await metric(host, 'maniac_spool_bytes')) === 0 ? true : undefined), {
      timeoutMs: 30_000,
    });
    await host.ctx.controlPlane.isReady();
    for (const id of [before, ...ids]) expect(collector.byCompletionId(id), id).toHaveLength(1);
    expect(await metric(host, 'maniac_events_replayed_total')).toBeGreaterThanOrEqual(ids.length);
    await collector.stop();
  });

  it('keeps spooled events across a restart and replays them at the next start', async () => {
    const host = gw as TestHost;
    const collector = new EventCollector(config.kafka.topics.completions);
    await collector.start();
    await kafka('stop');
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) ids.push(await chat(host, i % 2 === 1));
    await host.stop(); // graceful: flushes what is queued into the spool
    gw = null;
    await kafka('start');
    gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
    await pollUntil(() => (ids.every((id) => collector.byCompletionId(id).length > 0) ? true : undefined), {
      timeoutMs: 120_000,
      message: 'spooled events not replayed after restart',
    });
    for (const id of ids) expect(collector.byCompletionId(id), id).toHaveLength(1);
    await collector.stop();
  });
});
