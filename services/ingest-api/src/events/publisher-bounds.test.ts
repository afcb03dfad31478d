import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createKafka, createLogger, Metrics, type Kafka } from '@maniac-gateway/runtime';
import type { CompletionEvent } from '@maniac-gateway/schemas';
import { sampleCompletionEvent } from '@maniac-gateway/testkit';
import { createIngestMetrics } from '../metrics.js';
import { EventPublisher } from './publisher.js';
import { Spool } from './spool.js';

/**
 * The publisher's bounds without any broker: a produce that cannot finish is given up after
 * `kafka.produce_timeout_ms` (the batch is spooled), and a full spool (`spool.max_bytes`) drops events with an
 * alerting signal — `maniac_events_dropped_total{reason="spool_full"}`, an error log line and /readyz.
 */

function event(i: number): CompletionEvent {
  return sampleCompletionEvent(i, {
    completion_id: `chatcmpl-bounds-${i}`,
    project_id: 'proj_b',
    key_id: 'key_b',
    request_id: `req_${i}`,
  });
}

async function metric(metrics: Metrics, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

/** Polls (drain() waits for the spool to be replayed, which never happens without a broker). */
async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A warn-level logger whose lines are kept for assertions. */
function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'warn', destination: sink }), lines };
}

/** A stand-in broker: each produce takes `delayMs`, and fails while `state.up` is false. */
function fakeKafka(delayMs: number, state: { up: boolean } = { up: true }) {
  const delivered: string[] = [];
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: async ({ messages }: { messages: { key: string }[] }) => {
      if (!state.up) throw new Error('broker down');
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      for (const m of messages) delivered.push(m.key);
      return [];
    },
  };
  return { kafka: { producer: () => producer } as unknown as Kafka, delivered, state };
}

function setup(options: { maxBytes: number; produceTimeoutMs: number; brokers: string[] }) {
  const { logger, lines } = collectingLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const publisher = new EventPublisher({
    topic: 'bounds.completions',
    lingerMs: 1,
    batchMax: 10,
    spool: new Spool(mkdtempSync(join(tmpdir(), 'spool-bounds-')), options.maxBytes),
    kafka: createKafka({ brokers: options.brokers, clientId: 'bounds', logger, connectionTimeoutMs: 200 }),
    logger,
    metrics: createIngestMetrics(metrics),
    produceTimeoutMs: options.produceTimeoutMs,
  });
  return { publisher, metrics, lines };
}

describe('EventPublisher bounds', { timeout: 20_000 }, () => {
  it('a full spool drops events with a metric, an error log and a /readyz reason', async () => {
    // Nothing listens on port 1: every produce fails at once.
    const { publisher, metrics, lines } = setup({
      maxBytes: 4_000,
      produceTimeoutMs: 2_000,
      brokers: ['127.0.0.1:1'],
    });
    await publisher.start();
    try {
      for (let i = 0; i < 40; i++) publisher.emit(event(i));
      await until(
        async () =>
          (await metric(metrics, 'maniac_events_spooled_total')) +
            (await metric(metrics, 'maniac_events_dropped_total')) ===
          40,
      );
      const spooled = await metric(metrics, 'maniac_events_spooled_total');
      const dropped = await metric(metrics, 'maniac_events_dropped_total{reason="spool_full"}');
      expect(spooled).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      expect(spooled + dropped).toBe(40);
      expect(await metric(metrics, 'maniac_spool_bytes')).toBeLessThanOrEqual(4_000);
      expect(lines.some((l) => l.includes('"level":50') && l.includes('spool full'))).toBe(true);
      expect(publisher.problem()).toMatch(/kafka unavailable, \d+ bytes spooled/);
    } finally {
      await publisher.stop();
    }
  });

  it('a produce that hangs is given up after produce_timeout_ms and the batch is spooled', async () => {
    // A listener that accepts connections and never answers: a stalled broker.
    const sockets: Socket[] = [];
    const server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const { publisher, metrics } = setup({
      maxBytes: 1 << 20,
      produceTimeoutMs: 300,
      brokers: [`127.0.0.1:${port}`],
    });
    await publisher.start();
    try {
      const started = Date.now();
      for (let i = 0; i < 5; i++) publisher.emit(event(i));
      await until(async () => (await metric(metrics, 'maniac_events_spooled_total')) === 5);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(await metric(metrics, 'maniac_events_spooled_total')).toBe(5);
      expect(publisher.problem()).toContain('produce timed out after 300 ms');
    } finally {
      await publisher.stop();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('while a backlog replays, new events wait on disk, not in memory, and all arrive once, in order', async () => {
    // A broker that is down at first, then up and slowish: every produce takes 20 ms.
    const { kafka, delivered, state } = fakeKafka(20, { up: false });
    const metrics = new Metrics({ defaultMetrics: false });
    const publisher = new EventPublisher({
      topic: 'replay.completions',
      lingerMs: 1,
      batchMax: 100,
      // 64 KiB segments: ~50 of these events, one replay step.
      spool: new Spool(mkdtempSync(join(tmpdir(), 'spool-replay-')), 1 << 30, 64 * 1024),
      kafka,
      logger: createLogger({ name: 'test', level: 'silent' }),
      metrics: createIngestMetrics(metrics),
    });
    await publisher.start();
    const emitted: string[] = [];
    const emit = () => {
      const e = event(emitted.length);
      emitted.push(e.completion_id);
      publisher.emit(e);
    };
    try {
      // The outage: 2,000 events spooled.
      for (let i = 0; i < 2000; i++) emit();
      await until(async () => (await metric(metrics, 'maniac_events_spooled_total')) === 2000);
      // The broker is back; load goes on at ~1,000 events/s while the backlog replays (~5,000 events/s).
      state.up = true;
      let maxPending = 0;
      const deadline = Date.now() + 15_000;
      while (delivered.length < 2000 || publisher.pending() > 100) {
        if (Date.now() > deadline) throw new Error('the backlog was not replayed in time');
        for (let i = 0; i < 10; i++) emit();
        maxPending = Math.max(maxPending, publisher.pending());
        await new Promise((r) => setTimeout(r, 10));
      }
      await publisher.drain();
      // Replaying all 2,000 in one go held ~400 new events (20 sends of 20 ms at 1 per ms) in memory.
      expect(maxPending).toBeLessThan(200);
      expect(delivered).toEqual(emitted);
    } finally {
      await publisher.stop();
    }
  });
  it('when Kafka is slower than the load, memory holds the queue bound and the rest waits on disk, in order', async () => {
    // Every produce takes 30 ms and carries at most 50 events (~1,700 events/s); events arrive at ~4,000/s.
    const { kafka, delivered } = fakeKafka(30);
    const { logger, lines } = collectingLogger();
    const metrics = new Metrics({ defaultMetrics: false });
    const queueMaxBytes = 64 * 1024;
    const publisher = new EventPublisher({
      topic: 'slow.completions',
      lingerMs: 1,
      batchMax: 50,
      queueMaxBytes,
      spool: new Spool(mkdtempSync(join(tmpdir(), 'spool-slow-')), 1 << 30, 256 * 1024),
      kafka,
      logger,
      metrics: createIngestMetrics(metrics),
    });
    await publisher.start();
    const emitted: string[] = [];
    let maxQueued = 0;
    let eventBytes = 0;
    try {
      for (let tick = 0; tick < 200; tick++) {
        for (let i = 0; i < 20; i++) {
          const e = event(emitted.length);
          emitted.push(e.completion_id);
          publisher.emit(e);
        }
        if (tick === 0) eventBytes = publisher.pendingBytes() / 20;
        maxQueued = Math.max(maxQueued, publisher.pendingBytes());
        await new Promise((r) => setTimeout(r, 5));
      }
      await until(async () => delivered.length === emitted.length, 20_000);
      expect(delivered).toEqual(emitted);
      // Unbounded, the queue grew by ~2,300 events/s here (~1 MB over the second of load).
      expect(await metric(metrics, 'maniac_events_spooled_total')).toBeGreaterThan(0);
      // The bound, plus what arrives while one send is in flight (30 ms at ~4 events/ms, with room for a slow
      // machine's timers).
      expect(maxQueued).toBeLessThan(queueMaxBytes + 600 * eventBytes);
      expect(maxQueued).toBeGreaterThan(0);
      expect(lines.some((l) => l.includes('Kafka is not keeping up with the load'))).toBe(true);
    } finally {
      await publisher.stop();
    }
  });
  it('a spool write the disk refuses is counted as dropped and logged, and the publisher goes on', async () => {
    class FailingSpool extends Spool {
      failing = true;
      override async append(messages: Parameters<Spool['append']>[0]): Promise<boolean> {
        if (this.failing)
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return super.append(messages);
      }
    }
    const spool = new FailingSpool(mkdtempSync(join(tmpdir(), 'spool-fail-')), 1 << 30);
    const { kafka, delivered, state } = fakeKafka(0, { up: false });
    const { logger, lines } = collectingLogger();
    const metrics = new Metrics({ defaultMetrics: false });
    const publisher = new EventPublisher({
      topic: 'fail.completions',
      lingerMs: 1,
      batchMax: 10,
      spool,
      kafka,
      logger,
      metrics: createIngestMetrics(metrics),
    });
    await publisher.start();
    try {
      for (let i = 0; i < 5; i++) publisher.emit(event(i));
      await until(async () => (await metric(metrics, 'maniac_events_dropped_total')) === 5);
      expect(lines.some((l) => l.includes('spool write failed') && l.includes('ENOSPC'))).toBe(true);
      expect(await metric(metrics, 'maniac_events_spooled_total')).toBe(0);
      // The disk and the broker recover: later events are delivered.
      spool.failing = false;
      state.up = true;
      publisher.emit(event(5));
      await until(async () => delivered.includes('chatcmpl-bounds-5'));
      expect(delivered).toEqual(['chatcmpl-bounds-5']);
    } finally {
      await publisher.stop();
    }
  });
});
