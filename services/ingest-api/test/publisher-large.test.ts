import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CompletionEvent } from '@maniac-gateway/schemas';
import {
  createKafka,
  createLogger,
  ensureTopics,
  Metrics,
  topicMaxMessageBytes,
} from '@maniac-gateway/runtime';
import { EventCollector, sampleCompletionEvent, testEnv, uniqueName } from '@maniac-gateway/testkit';
import { createIngestMetrics } from '../src/metrics.js';
import { EventPublisher } from '../src/events/publisher.js';
import { Spool } from '../src/events/spool.js';

function largeEvent(i: number, id: string, bytes: number): CompletionEvent {
  return sampleCompletionEvent(i, {
    completion_id: id,
    project_id: 'proj_large',
    created_ms: Date.now(),
    request_json: JSON.stringify({
      messages: [{ role: 'user', content: randomBytes(bytes).toString('base64') }],
    }),
  });
}

async function setup(name: string, maxMessageBytes?: number, sizeFromTopic = false, numPartitions = 1) {
  const topic = `${uniqueName(name)}.completions`;
  const logger = createLogger({ name, level: 'silent' });
  const kafka = createKafka({ brokers: testEnv().brokers.split(','), clientId: name, logger });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions, ...(maxMessageBytes ? { maxMessageBytes } : {}) }]);
  const topicMax = await topicMaxMessageBytes(admin, topic);
  const metrics = new Metrics({ defaultMetrics: false });
  const spoolDir = mkdtempSync(join(tmpdir(), `spool-${name}-`));
  const publisher = new EventPublisher({
    topic,
    lingerMs: 50,
    batchMax: 5000,
    spool: new Spool(spoolDir, 1 << 30),
    kafka,
    logger,
    metrics: createIngestMetrics(metrics),
  });
  if (sizeFromTopic && topicMax !== null) publisher.setBatchMaxBytes(topicMax);
  await publisher.start();
  const collector = new EventCollector(topic);
  await collector.start();
  /** Events per partition (high watermarks). */
  const perPartition = async () =>
    (await admin.fetchTopicOffsets(topic)).map((p) => Number(p.high)).sort((a, b) => a - b);
  const stop = async () => {
    await collector.stop();
    await publisher.stop();
    await admin.disconnect();
  };
  return { publisher, collector, metrics, spoolDir, topicMax, perPartition, stop };
}

/**
 * Regression (found by the benchmark): batches were bounded by count only, so a burst of large, incompressible
 * prompts made a produce request over Kafka's 1 MB default; the broker rejects that outright and the in-order
 * spool replay retried the same batch forever. Here the topic keeps Kafka's default limit on purpose.
 */
describe('event publisher with large events', () => {
  it('delivers a same-tick burst of ~150 KB incompressible events in full', async () => {
    const { publisher, collector, stop } = await setup('large');
    const ids = Array.from({ length: 20 }, (_, i) => `chatcmpl-large-${i}`);
    for (const [i, id] of ids.entries()) {
      publisher.emit(largeEvent(i, id, 110 * 1024));
    }
    for (const id of ids) await collector.waitFor((e) => e.completion_id === id, 30_000);
    expect(ids.every((id) => collector.byCompletionId(id).length === 1)).toBe(true);
    expect(publisher.problem()).toBeNull();
    await stop();
  });

  it('sizes produce requests from the topic limit: a backlog goes out in few requests, none refused', async () => {
    const limit = 4 * 1024 * 1024;
    const { publisher, collector, metrics, topicMax, stop } = await setup('sized', limit, true);
    expect(topicMax).toBe(limit);
    expect(publisher.maxBatchBytes).toBe(Math.floor(limit * 0.9));
    // 12 MB of incompressible events in one tick: 900 KiB requests would take ~14 round trips.
    const ids = Array.from({ length: 400 }, (_, i) => `chatcmpl-sized-${i}`);
    for (const [i, id] of ids.entries()) publisher.emit(largeEvent(i, id, 22 * 1024));
    for (const id of ids) await collector.waitFor((e) => e.completion_id === id, 30_000);
    await publisher.drain();
    expect(ids.every((id) => collector.byCompletionId(id).length === 1)).toBe(true);
    const produced = await metrics.registry.getSingleMetricAsString('maniac_produce_batch_seconds');
    const requests = Number(/maniac_produce_batch_seconds_count (\d+)/.exec(produced)?.[1]);
    expect(requests).toBeGreaterThanOrEqual(4);
    expect(requests).toBeLessThanOrEqual(6);
    expect(/^maniac_events_spooled_total 0$/m.test(await metrics.registry.metrics())).toBe(true);
    expect(publisher.problem()).toBeNull();
    await stop();
  });

  it('moves a single event the topic refuses as too large aside, durably, and delivers the rest', async () => {
    const { publisher, collector, metrics, spoolDir, stop } = await setup('toolarge', 64 * 1024);
    const ids = ['chatcmpl-small-0', 'chatcmpl-huge-1', 'chatcmpl-small-2'];
    publisher.emit(largeEvent(0, ids[0] as string, 1024));
    publisher.emit(largeEvent(1, ids[1] as string, 100 * 1024));
    publisher.emit(largeEvent(2, ids[2] as string, 1024));
    await collector.waitFor((e) => e.completion_id === ids[0], 30_000);
    await collector.waitFor((e) => e.completion_id === ids[2], 30_000);
    await publisher.drain();
    expect(collector.byCompletionId(ids[1] as string)).toHaveLength(0);
    const rejected = readdirSync(join(spoolDir, 'rejected'));
    expect(rejected).toHaveLength(1);
    const line = readFileSync(join(spoolDir, 'rejected', rejected[0] as string), 'utf8').trim();
    expect((JSON.parse(line) as { k: string }).k).toBe(ids[1]);
    expect(await metrics.registry.metrics()).toMatch(/maniac_events_rejected_total 1\b/);
    await stop();
  });

  it('builds deferred events off the request path, in order, and drops only one that cannot be encoded', async () => {
    const { publisher, collector, metrics, stop } = await setup('deferred');
    const ids = ['chatcmpl-def-0', 'chatcmpl-def-1', 'chatcmpl-def-2'];
    publisher.defer(() => largeEvent(0, ids[0] as string, 16));
    publisher.defer(() => ({
      ...largeEvent(1, ids[1] as string, 16),
      http_status: 'not a number' as unknown as number,
    }));
    publisher.emit(largeEvent(2, ids[2] as string, 16));
    await collector.waitFor((e) => e.completion_id === ids[2], 30_000);
    await collector.waitFor((e) => e.completion_id === ids[0], 30_000);
    await publisher.drain();
    expect(collector.byCompletionId(ids[1] as string)).toHaveLength(0);
    expect(collector.events.map((e) => e.completion_id)).toEqual([ids[0], ids[2]]);
    expect(await metrics.registry.metrics()).toMatch(/maniac_events_dropped_total\{reason="encode"\} 1\b/);
    await stop();
  });

  it('sends each produce request to one partition, the next one each time', async () => {
    const { publisher, collector, perPartition, stop } = await setup('sticky', undefined, false, 3);
    const burst = async (n: number, prefix: string) => {
      const ids = Array.from({ length: n }, (_, i) => `chatcmpl-${prefix}-${i}`);
      // One tick, well under the batch limits: one produce request.
      for (const [i, id] of ids.entries()) publisher.emit(largeEvent(i, id, 16));
      for (const id of ids) await collector.waitFor((e) => e.completion_id === id, 30_000);
      await publisher.drain();
    };
    await burst(30, 'sticky-a');
    expect(await perPartition()).toEqual([0, 0, 30]);
    await burst(20, 'sticky-b');
    expect(await perPartition()).toEqual([0, 20, 30]);
    await burst(10, 'sticky-c');
    expect(await perPartition()).toEqual([10, 20, 30]);
    expect(collector.events).toHaveLength(60);
    await stop();
  });
});
