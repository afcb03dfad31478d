import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKafka, createLogger, ensureTopics, Metrics } from '@maniac-gateway/runtime';
import { EventCollector, testEnv, uniqueName } from '@maniac-gateway/testkit';
import { createIngestMetrics } from '../src/metrics.js';
import { EventPublisher } from '../src/events/publisher.js';
import { Spool } from '../src/events/spool.js';

/**
 * Regression (found by the benchmark): batches were bounded by count only, so a burst of large, incompressible
 * prompts made a produce request over Kafka's 1 MB default; the broker rejects that outright and the in-order
 * spool replay retried the same batch forever. Here the topic keeps Kafka's default limit on purpose.
 */
describe('event publisher with large events', () => {
  it('delivers a same-tick burst of ~150 KB incompressible events in full', async () => {
    const topic = `${uniqueName('large')}.completions`;
    const logger = createLogger({ name: 'large', level: 'silent' });
    const kafka = createKafka({ brokers: testEnv().brokers.split(','), clientId: 'large', logger });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    await admin.disconnect();
    const publisher = new EventPublisher({
      topic,
      lingerMs: 50,
      batchMax: 500,
      spool: new Spool(mkdtempSync(join(tmpdir(), 'spool-large-')), 1 << 30),
      kafka,
      logger,
      metrics: createIngestMetrics(new Metrics({ defaultMetrics: false })),
    });
    await publisher.start();
    const collector = new EventCollector(topic);
    await collector.start();
    const ids = Array.from({ length: 20 }, (_, i) => `chatcmpl-large-${i}`);
    for (const [i, id] of ids.entries()) {
      publisher.emit({
        event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        source: 'completion',
        completion_id: id,
        project_id: 'proj_large',
        key_id: null,
        request_id: null,
        container: null,
        model: 'openai/gpt-4o-mini',
        provider: 'openai',
        upstream_model: 'gpt-4o-mini',
        upstream_id: null,
        stream: false,
        status: 'success',
        http_status: 200,
        error_code: null,
        error_message: null,
        finish_reason: 'stop',
        usage: null,
        spend_nanos: null,
        latency_ms: 1,
        ttft_ms: null,
        attempts: [],
        tags: [],
        metadata_json: null,
        trace_json: null,
        request_json: JSON.stringify({
          messages: [{ role: 'user', content: randomBytes(110 * 1024).toString('base64') }],
        }),
        response_json: null,
        created_ms: Date.now(),
      });
    }
    for (const id of ids) await collector.waitFor((e) => e.completion_id === id, 30_000);
    expect(ids.every((id) => collector.byCompletionId(id).length === 1)).toBe(true);
    expect(publisher.problem()).toBeNull();
    await collector.stop();
    await publisher.stop();
  });
});
