import { afterAll, describe, expect, it } from 'vitest';
import {
  EventCollector,
  MockUpstream,
  openAiResponse,
  startTestHost,
  testConfig,
} from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

const mock = new MockUpstream();
afterAll(() => mock.stop());

describe('graceful shutdown', () => {
  it('finishes in-flight requests, refuses new ones, and flushes their events', async () => {
    await mock.start();
    const config = testConfig({ providers: { openai: { base_url: mock.url } } });
    const gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
    const events = new EventCollector(config.kafka.topics.completions);
    await events.start();
    mock.script('slow', { kind: 'json', body: openAiResponse(), delayMs: 800 });
    const inflight = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/slow', messages: [{ role: 'user', content: 'x' }] }),
    });
    await new Promise<void>((resolve) => {
      const check = () => (mock.requests.length > 0 ? resolve() : setTimeout(check, 10));
      check();
    });
    const stopping = gw.stop();
    const res = await inflight;
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    await stopping;
    await expect(
      fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: '{}' }).then((r) => r.status),
    ).rejects.toThrow();
    const event = await events.waitFor((e) => e.completion_id === id);
    expect(event.status).toBe('success');
    await events.stop();
  });
});
