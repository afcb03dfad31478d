import { ClickHouseError, type ClickHouseClient } from '@clickhouse/client';
import { Metrics, type Kafka, type Logger } from '@maniac-gateway/runtime';
import { SCHEMA_HEADER, encodeCompletionEvent } from '@maniac-gateway/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, createWriter, type CompletionWriter, type WriterHooks } from '../src/index.js';
import {
  deleteTopics,
  dropDatabase,
  makeEvent,
  produce,
  readTopic,
  scalar,
  testClickHouse,
  testConfig,
  testKafka,
  testLogger,
  topicMessageCount,
  uniqueName,
  waitFor,
} from './support.js';

/** Poison events go to the dead-letter topic with the reason; the writer keeps going and never loses a row. */
describe('writer dead-letters poison events', () => {
  const names = { database: uniqueName('wt_dlq'), prefix: uniqueName('wt-dlq') };
  const config = testConfig(names, 1);
  const topic = config.kafka.topics.completions;
  const dlq = config.kafka.topics.dead_letter;
  const groupId = `${names.prefix}-writer`;
  const db = names.database;
  let logger: Logger;
  let kafka: Kafka;
  let ch: ClickHouseClient;
  const writers: CompletionWriter[] = [];

  function newWriter(hooks: WriterHooks = {}) {
    const writer = createWriter(config, {
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka,
      clickhouse: ch,
      hooks,
      options: { groupId, batchMaxRows: 100, flushIntervalMs: 150 },
    });
    writers.push(writer);
    return writer;
  }

  const stored = () => scalar(ch, `SELECT count() FROM ${db}.completions`);
  const storedOffset = () => scalar(ch, `SELECT max(last_offset) FROM ${db}.kafka_offsets`);

  beforeAll(() => {
    logger = testLogger();
    kafka = testKafka(logger);
    ch = testClickHouse();
  });

  afterAll(async () => {
    for (const w of writers) await w.kill().catch(() => undefined);
    await dropDatabase(ch, db);
    await deleteTopics(kafka, [topic, dlq]);
    await ch.close();
  });

  it('undecodable and invalid events are dead-lettered with the reason, valid ones stored', async () => {
    const writer = newWriter();
    await writer.start();
    await writer.whenJoined();

    const valid1 = makeEvent();
    const valid2 = makeEvent();
    const { headers: goodHeaders } = encodeCompletionEvent(valid1);
    const negative = makeEvent({
      usage: { prompt_tokens: -5, completion_tokens: 1, total_tokens: -4 },
    });
    await produce(
      kafka,
      topic,
      [
        valid1,
        { key: 'garbage-no-header', value: Buffer.from('not avro at all \u0000\u00ff') },
        {
          key: 'garbage-with-header',
          value: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]),
          headers: goodHeaders,
        },
        {
          key: 'unknown-schema',
          value: Buffer.from('x'),
          headers: { [SCHEMA_HEADER]: 'ai.other.Thing@0011223344556677' },
        },
        negative,
        valid2,
        { key: 'empty', value: null },
        // The tail of the partition is poison: its offset must still be recorded as handled.
        { key: 'garbage-tail', value: Buffer.from('trailing garbage') },
      ],
      0,
    );

    await waitFor('valid rows stored', async () => ((await stored()) === 2 ? true : undefined));
    await waitFor('tail offset recorded', async () => ((await storedOffset()) === 7 ? true : undefined));
    const letters = await readTopic(kafka, dlq, 6);
    expect(letters).toHaveLength(6);
    const byKey = new Map(letters.map((l) => [l.key, l]));
    const reasons = Object.fromEntries(letters.map((l) => [l.key, l.headers[DLQ_HEADERS.reason]]));
    expect(reasons).toEqual({
      'garbage-no-header': 'missing_schema_header',
      'garbage-with-header': 'corrupt_payload',
      'unknown-schema': 'unknown_schema',
      [negative.completion_id]: 'invalid_event',
      empty: 'empty_value',
      'garbage-tail': 'missing_schema_header',
    });
    const tail = byKey.get('garbage-tail')!;
    expect(tail.value?.toString()).toBe('trailing garbage');
    expect(tail.headers).toMatchObject({
      [DLQ_HEADERS.stage]: 'decode',
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: '0',
      [DLQ_HEADERS.offset]: '7',
      [DLQ_HEADERS.group]: groupId,
    });
    expect(byKey.get(negative.completion_id)!.headers[DLQ_HEADERS.error]).toMatch(/usage.prompt_tokens/);
    // The original headers travel with the letter (so it can be replayed after a fix).
    expect(byKey.get('garbage-with-header')!.headers[SCHEMA_HEADER]).toBe(goodHeaders[SCHEMA_HEADER]);

    // A restarted writer neither re-inserts nor re-dead-letters anything.
    await writer.stop();
    const again = newWriter();
    await again.start();
    await again.whenJoined();
    const valid3 = makeEvent();
    await produce(kafka, topic, [valid3], 0);
    await waitFor('the next valid row', async () => ((await stored()) === 3 ? true : undefined));
    expect(await topicMessageCount(kafka, dlq)).toBe(6);
    await again.stop();
  });

  it('rows ClickHouse rejects are isolated by bisection and dead-lettered; the rest of the batch is stored', async () => {
    const poison = makeEvent();
    const writer = newWriter({
      beforeInsert: (rows) => {
        if (rows.some((r) => r.event_id === poison.event_id)) {
          throw new ClickHouseError({
            message: 'Cannot parse input: expected , before: …',
            code: '27',
            type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
          });
        }
      },
    });
    await writer.start();
    await writer.whenJoined();
    const before = await stored();
    const batch = Array.from({ length: 9 }, () => makeEvent());
    batch.splice(4, 0, poison);
    await produce(kafka, topic, batch, 0);
    await waitFor('the other nine stored', async () =>
      (await stored()) === before + 9 && (await writer.drained()) ? true : undefined,
    );
    const letters = await waitFor('the rejected event dead-lettered', async () => {
      const all = await readTopic(kafka, dlq, 7);
      return all.length === 7 ? all : undefined;
    });
    const rejected = letters.find((l) => l.key === poison.completion_id)!;
    expect(rejected.headers).toMatchObject({
      [DLQ_HEADERS.reason]: 'clickhouse_rejected',
      [DLQ_HEADERS.stage]: 'insert',
    });
    expect(rejected.headers[DLQ_HEADERS.error]).toMatch(/CANNOT_PARSE_INPUT/);
    expect(
      await scalar(ch, `SELECT count() FROM ${db}.completions WHERE event_id = '${poison.event_id}'`),
    ).toBe(0);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}.usage_daily`)).toBe(before + 9);
    await writer.stop();
  });
});
