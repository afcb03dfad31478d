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
 * The same event at several offsets — what a producer leaves on the topic when a send times out (broker stalled)
 * and the batch is spooled and replayed although the first send did land, or when a crash interrupts a spool
 * replay. Found by the fault-injection suite: rows collapsed at merge time (ReplacingMergeTree) but the rollups
 * counted every copy. The writer stores each event once, rows and rollups alike.
 */
describe('writer stores an event re-sent at another offset once', () => {
  const names = { database: uniqueName('wt_dup'), prefix: uniqueName('wt-dup') };
  const config = testConfig(names, 1);
  const topic = config.kafka.topics.completions;
  const db = names.database;
  let logger: Logger;
  let kafka: Kafka;
  let ch: ClickHouseClient;
  let writer: CompletionWriter;

  beforeAll(async () => {
    logger = testLogger();
    kafka = testKafka(logger);
    ch = testClickHouse();
    writer = createWriter(config, {
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka,
      clickhouse: ch,
      options: { groupId: `${names.prefix}-writer`, batchMaxRows: 50, flushIntervalMs: 100 },
    });
    await writer.start();
    await writer.whenJoined();
  });

  afterAll(async () => {
    await writer?.stop();
    await dropDatabase(ch, db);
    await deleteTopics(kafka, [topic, config.kafka.topics.dead_letter]);
    await ch.close();
  });

  it('within one batch, across batches, and as the tail of a batch', async () => {
    const a = makeEvent();
    const b = makeEvent();
    const c = makeEvent();
    // One batch holding a twice, then b; later batches re-send a and b; c's copy is the last offset.
    await produce(kafka, topic, [a, a, b]);
    await waitFor('first batch stored', async () =>
      (await scalar(ch, `SELECT count() FROM ${db}.completions`)) === 2 ? true : undefined,
    );
    await produce(kafka, topic, [b, c, a]);
    await produce(kafka, topic, [c]);
    await waitFor('offsets recorded up to the last copy', async () =>
      (await scalar(ch, `SELECT max(last_offset) FROM ${db}.kafka_offsets`)) === 6 ? true : undefined,
    );
    expect(await writer.drained()).toBe(true);
    expect(await scalar(ch, `SELECT count() FROM ${db}.completions`)).toBe(3);
    expect(await scalar(ch, `SELECT count() FROM ${db}.completions_by_id`)).toBe(3);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}.usage_hourly`)).toBe(3);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}.usage_daily`)).toBe(3);
    expect(await scalar(ch, `SELECT sum(prompt_tokens_sum) FROM ${db}.usage_daily`)).toBe(30);
  });
});
