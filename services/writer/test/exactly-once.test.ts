import type { ClickHouseClient } from '@clickhouse/client';
import { Metrics, type Kafka, type Logger } from '@maniac-gateway/runtime';
import type { CompletionEventInput } from '@maniac-gateway/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWriter, type CompletionWriter, type WriterHooks } from '../src/index.js';
import {
  committedTotal,
  deleteTopics,
  dropDatabase,
  makeEvent,
  produce,
  queryRows,
  scalar,
  testClickHouse,
  testConfig,
  testKafka,
  testLogger,
  uniqueName,
  waitFor,
} from './support.js';

/**
 * Kills the writer between a ClickHouse insert and the Kafka commit, starts a fresh one on the same consumer
 * group, and checks that rows and rollups are exact: the stored offsets, not Kafka's committed offset, decide
 * where the new writer resumes.
 */
describe('writer is exactly-once across crashes between insert and commit', () => {
  const names = { database: uniqueName('wt_eo'), prefix: uniqueName('wt-eo') };
  const config = testConfig(names, 2);
  const topic = config.kafka.topics.completions;
  const groupId = `${names.prefix}-writer`;
  const db = names.database;
  const produced: CompletionEventInput[] = [];
  let logger: Logger;
  let kafka: Kafka;
  let ch: ClickHouseClient;
  const writers: CompletionWriter[] = [];
  const databases = [db];

  function newWriter(
    hooks: WriterHooks = {},
    database = db,
    metrics = new Metrics({ defaultMetrics: false }),
  ) {
    const writer = createWriter(config, {
      logger,
      metrics,
      kafka,
      clickhouse: ch,
      hooks,
      options: { groupId, database, batchMaxRows: 10, flushIntervalMs: 150 },
    });
    writers.push(writer);
    return writer;
  }

  async function produceWave(n: number): Promise<void> {
    const base = Date.now();
    const wave = Array.from({ length: n }, (_, i) =>
      makeEvent({
        model: i % 2 === 0 ? 'openai/gpt-4o' : 'openai/gpt-4o-mini',
        spend_nanos: i % 4 === 0 ? null : 10_000 + i,
        created_ms: base + i,
        usage: {
          prompt_tokens: 1 + i,
          completion_tokens: 2 + i,
          total_tokens: 3 + 2 * i,
          cached_tokens: i,
          cache_creation_tokens: null,
          reasoning_tokens: 1,
        },
      }),
    );
    produced.push(...wave);
    await produce(kafka, topic, wave);
  }

  async function expectExact(database: string): Promise<void> {
    const n = produced.length;
    expect(await scalar(ch, `SELECT count() FROM ${database}.completions`)).toBe(n);
    expect(await scalar(ch, `SELECT uniqExact(event_id) FROM ${database}.completions`)).toBe(n);
    expect(await scalar(ch, `SELECT count() FROM ${database}.completions_by_id`)).toBe(n);
    for (const table of ['usage_hourly', 'usage_daily']) {
      const [sums] = await queryRows<Record<string, string>>(
        ch,
        `SELECT sum(requests) AS requests, sum(prompt_tokens_sum) AS prompt, sum(completion_tokens_sum) AS completion,
           sum(cached_tokens_sum) AS cached, sum(reasoning_tokens_sum) AS reasoning, sum(spend_nanos_sum) AS spend,
           sum(spend_unknown) AS unknown
         FROM ${database}.${table}`,
      );
      expect(Object.fromEntries(Object.entries(sums!).map(([k, v]) => [k, Number(v)]))).toEqual({
        requests: n,
        prompt: produced.reduce((s, e) => s + e.usage!.prompt_tokens, 0),
        completion: produced.reduce((s, e) => s + e.usage!.completion_tokens, 0),
        cached: produced.reduce((s, e) => s + (e.usage!.cached_tokens ?? 0), 0),
        reasoning: produced.reduce((s, e) => s + (e.usage!.reasoning_tokens ?? 0), 0),
        spend: produced.reduce((s, e) => s + (e.spend_nanos ?? 0), 0),
        unknown: produced.filter((e) => e.spend_nanos === null).length,
      });
    }
  }

  const stored = (database = db) => scalar(ch, `SELECT count() FROM ${database}.completions`);

  beforeAll(() => {
    logger = testLogger();
    kafka = testKafka(logger);
    ch = testClickHouse();
  });

  afterAll(async () => {
    for (const w of writers) await w.kill().catch(() => undefined);
    for (const d of databases) await dropDatabase(ch, d);
    await deleteTopics(kafka, [topic, config.kafka.topics.dead_letter]);
    await ch.close();
  });

  it('a writer killed after inserting and before committing is replaced without duplicates', async () => {
    let armed = false;
    let crashes = 0;
    const first = newWriter({
      afterInsert: () => {
        if (armed) {
          crashes++;
          throw new Error('simulated crash after insert, before commit');
        }
      },
    });
    await first.start();
    await first.whenJoined();

    // Wave 1 is stored and committed normally.
    await produceWave(20);
    await waitFor('wave 1 committed', async () =>
      (await committedTotal(kafka, groupId, topic)) === 20 ? true : undefined,
    );
    expect(await stored()).toBe(20);

    // Wave 2: the first insert lands in ClickHouse, then the writer "dies" before committing.
    armed = true;
    await produceWave(25);
    await waitFor('simulated crash', () => (first.status().state === 'crashed' ? true : undefined));
    expect(crashes).toBe(1);
    await first.kill();
    const afterCrash = await stored();
    expect(afterCrash).toBeGreaterThan(20);
    expect(afterCrash).toBeLessThan(45);
    // Kafka still points at the end of wave 1: a naive consumer would insert the stored part of wave 2 again.
    expect(await committedTotal(kafka, groupId, topic)).toBe(20);

    const metrics = new Metrics({ defaultMetrics: false });
    const second = newWriter({}, db, metrics);
    await second.start();
    await second.whenJoined();
    await waitFor('wave 2 committed by the new writer', async () =>
      (await committedTotal(kafka, groupId, topic)) === 45 ? true : undefined,
    );
    await expectExact(db);
    // The new writer inserted exactly what was missing.
    const events = await metrics.registry.getSingleMetricAsString('maniac_writer_events_total');
    expect(events).toMatch(new RegExp(`outcome="inserted"} ${45 - afterCrash}\\b`));

    // And it keeps going.
    await produceWave(5);
    await waitFor('wave 3 committed', async () =>
      (await committedTotal(kafka, groupId, topic)) === 50 ? true : undefined,
    );
    await expectExact(db);
    await second.stop();
  });

  it('a consumer group ahead of ClickHouse (fresh tables) is sent back to ClickHouse’s position', async () => {
    // Same group (committed at the end of the topic), new empty database: the projection must be rebuilt from
    // the topic, not continue from Kafka's committed offset.
    for (const w of writers) await w.stop();
    const fresh = uniqueName('wt_eo_fresh');
    databases.push(fresh);
    const writer = newWriter({}, fresh);
    await writer.start();
    await waitFor('replayed into the fresh database', async () =>
      (await stored(fresh)) === produced.length && (await writer.drained()) ? true : undefined,
    );
    await expectExact(fresh);
    await writer.stop();
  });
});
