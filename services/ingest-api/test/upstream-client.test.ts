import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockUpstream, openAiStream, pollUntil, testConfig } from '@maniac-gateway/testkit';
import { UpstreamChunks } from '../src/completion/upstream-chunks.js';
import { openAiAdapter } from '../src/providers/openai.js';
import {
  Cancellation,
  UpstreamClient,
  finishBody,
  type UpstreamResponse,
} from '../src/providers/upstream.js';

/** Reads a stream as the gateway does, up to its [DONE] (the body itself may not have ended yet). */
async function readToDone(res: UpstreamResponse): Promise<boolean> {
  const chunks = new UpstreamChunks(res, openAiAdapter.stream({} as never), new Cancellation(), null);
  expect(await chunks.first()).not.toBeNull();
  return chunks.forward(() => true, new PassThrough());
}

/**
 * The upstream client's body handling against a real socket: a body given up before its end is destroyed quietly
 * (undici's body emits RequestAbortedError when destroyed early; the fault suite saw it surface as an uncaught
 * exception under vitest, so every body now carries an error listener), and a completed one is drained so its
 * keep-alive connection serves the next request.
 */
describe('UpstreamClient bodies', () => {
  const mock = new MockUpstream();
  let client: UpstreamClient;

  beforeAll(async () => {
    await mock.start();
    const config = testConfig({ providers: { openai: { base_url: mock.url, api_key: 'sk-test' } } });
    client = new UpstreamClient(config.providers);
  });

  afterAll(async () => {
    await client.close();
    await mock.stop();
  });

  it('a body given up after its last event, before its end, is destroyed without an uncaught error', async () => {
    // E.g. the client left while [DONE] was being forwarded: the reader is done, the body has not ended.
    mock.script('late-end', {
      kind: 'sse',
      events: openAiStream({ pieces: ['a', 'b'] }),
      endDelayMs: 300,
    });
    const res = await client.post(
      'openai',
      '/chat/completions',
      { model: 'late-end', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      {},
      new Cancellation(),
    );
    expect(res.status).toBe(200);
    expect(await readToDone(res)).toBe(true);
    expect(res.body.readableEnded).toBe(false);
    finishBody(res, false);
    await pollUntil(() => (res.body.destroyed ? true : undefined), { timeoutMs: 5_000 });
    // Give a destroy-time error event its turn on the event loop (an uncaught one fails the run).
    await new Promise((r) => setImmediate(r));
    expect(res.body.destroyed).toBe(true);
  });

  it('a completed body is drained, and its connection serves the next request', async () => {
    const before = mock.connectionsAccepted;
    for (let i = 0; i < 3; i++) {
      // The previous exchange is over on both ends: the mock answered, and the pool has its connection back.
      await pollUntil(() => {
        const pool = client.poolStats().find((p) => p.provider === 'openai');
        return mock.activeResponses === 0 && (pool === undefined || pool.free === pool.connected)
          ? true
          : undefined;
      });
      const res = await client.post(
        'openai',
        '/chat/completions',
        { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
        {},
        new Cancellation(),
      );
      expect(await readToDone(res)).toBe(true);
      finishBody(res, true);
      await pollUntil(() => (res.body.readableEnded || res.body.destroyed ? true : undefined));
    }
    expect(mock.connectionsAccepted - before).toBeLessThanOrEqual(1);
  });
});

/**
 * A provider's connections are bounded by `max_connections`: a request beyond them waits in the pool's queue (it
 * is counted as queued, which `maniac_upstream_queued_requests` exports) until a connection frees, and is then
 * served on it.
 */
describe('UpstreamClient connection limit', () => {
  const mock = new MockUpstream();
  let client: UpstreamClient;

  beforeAll(async () => {
    await mock.start();
    const config = testConfig({
      providers: { openai: { base_url: mock.url, api_key: 'sk-test', max_connections: 2 } },
    });
    client = new UpstreamClient(config.providers);
  });

  afterAll(async () => {
    await client.close();
    await mock.stop();
  });

  it('a request beyond max_connections waits, counted as queued, and is served when one frees', async () => {
    // Streams that send one event and then hold their connection, like a long generation.
    mock.script('held', { kind: 'sse', events: openAiStream({ pieces: ['a', 'b'] }), stallAfter: 1 });
    const body = (model: string) => ({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const held = await Promise.all(
      [0, 1].map(() => client.post('openai', '/chat/completions', body('held'), {}, new Cancellation())),
    );
    const third = client.post('openai', '/chat/completions', body('gpt-4o-mini'), {}, new Cancellation());

    const waiting = await pollUntil(() => {
      const stats = client.poolStats().find((s) => s.provider === 'openai');
      return stats && stats.queued === 1 ? stats : undefined;
    });
    expect(waiting).toMatchObject({ connected: 2, running: 2, queued: 1 });
    expect(mock.connectionsAccepted).toBe(2);
    expect(mock.requests.filter((r) => r.model === 'gpt-4o-mini')).toHaveLength(0);

    for (const res of held) res.body.destroy();
    const res = await third;
    expect(res.status).toBe(200);
    expect(await readToDone(res)).toBe(true);
    finishBody(res, true);
    expect(mock.requests.filter((r) => r.model === 'gpt-4o-mini')).toHaveLength(1);
    expect(client.poolStats().find((s) => s.provider === 'openai')?.queued).toBe(0);
  });
});
