import type { ClickHouseClient } from '@clickhouse/client';
import { Metrics, type Kafka, type Logger } from '@maniac-gateway/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWriter, type CompletionWriter } from '../src/index.js';
import {
  deleteTopics,
  dropDatabase,
  makeEvent,
  produce,
  scalar,
  testClickHouse,
  testConfig,
  testKafka,
  testLogger,
  uniqueName,
  waitFor,
} from './support.js';

/**
 * kafkajs gives up on a consumer after an error it deems non-retriable (found by the fault suite: "Failed to find
 * group coordinator" while Kafka restarts left the writer down until the process was restarted). The writer
 * replaces such a consumer itself, with backoff, and goes on storing every event exactly once.
 */
describe('writer consumer restart', () => {
  const names = { database: uniqueName('wt_restart'), prefix: uniqueName('wt-restart') };
  const config = testConfig(names, 1);
  const topic = config.kafka.topics.completions;
  let logger: Logger;
  let kafka: Kafka;
  let ch: ClickHouseClient;
  let writer: CompletionWriter;
  let crashes = 1;

  beforeAll(async () => {
    logger = testLogger();
    kafka = testKafka(logger);
    ch = testClickHouse();
    writer = createWriter(config, {
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka,
      clickhouse: ch,
      hooks: {
        onBatch: () => {
          if (crashes > 0) {
            crashes--;
            throw Object.assign(new Error('simulated non-retriable consumer failure'), { retriable: false });
          }
        },
      },
      options: { groupId: `${names.prefix}-writer`, batchMaxRows: 50, flushIntervalMs: 100 },
    });
    await writer.start();
    await writer.whenJoined();
  });

  afterAll(async () => {
    await writer?.stop();
    await dropDatabase(ch, names.database);
    await deleteTopics(kafka, [topic, config.kafka.topics.dead_letter]);
    await ch.close();
  });

  it('replaces a consumer kafkajs gave up on and stores every event once', async () => {
    const events = Array.from({ length: 20 }, () => makeEvent());
    await produce(kafka, topic, events);
    await waitFor(
      'every event stored',
      async () =>
        (await scalar(ch, `SELECT count() FROM ${names.database}.completions`)) === events.length
          ? true
          : undefined,
      60_000,
    );
    expect(crashes).toBe(0);
    expect(await scalar(ch, `SELECT uniqExact(completion_id) FROM ${names.database}.completions`)).toBe(
      events.length,
    );
    const check = writer.checks().find((c) => c.name === 'writer_consumer');
    await waitFor('writer ready again', async () => ((await check?.check()) === null ? true : undefined));
  });
});
