import type { ClickHouseClient } from '@clickhouse/client';
import { Metrics, type Kafka, type Logger } from '@maniac-gateway/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWriter, rebuildProjection, type CompletionWriter } from '../src/index.js';
import {
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

/** `writer --rebuild`: replaying the topic into fresh tables and swapping them in gives identical results. */
describe('writer rebuild by replay', () => {
  const names = { database: uniqueName('wt_rb'), prefix: uniqueName('wt-rb') };
  const config = testConfig(names, 2);
  const topic = config.kafka.topics.completions;
  const db = names.database;
  let logger: Logger;
  let kafka: Kafka;
  let ch: ClickHouseClient;
  const writers: CompletionWriter[] = [];

  function liveWriter(): CompletionWriter {
    const w = createWriter(config, {
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka,
      clickhouse: ch,
      options: { flushIntervalMs: 100 },
    });
    writers.push(w);
    return w;
  }

  /** What the read side sees: rows in list order, the id lookup, and the rollups. */
  async function snapshot(database: string) {
    return {
      rows: await queryRows(
        ch,
        `SELECT completion_id, project_id, model, container, prompt_tokens, spend_nanos, tags, created_ms, response_json
         FROM ${database}.completions ORDER BY project_id, created_ms DESC, completion_id DESC`,
      ),
      byId: await scalar(ch, `SELECT count() FROM ${database}.completions_by_id`),
      hourly: await queryRows(
        ch,
        `SELECT project_id, toString(hour) AS h, model, sum(requests) AS r, sum(prompt_tokens_sum) AS p,
           sum(spend_nanos_sum) AS s, sum(spend_unknown) AS u
         FROM ${database}.usage_hourly GROUP BY project_id, h, model ORDER BY project_id, h, model`,
      ),
      daily: await queryRows(
        ch,
        `SELECT project_id, toString(day) AS d, sum(requests) AS r, sum(completion_tokens_sum) AS c
         FROM ${database}.usage_daily GROUP BY project_id, d ORDER BY project_id, d`,
      ),
    };
  }

  beforeAll(() => {
    logger = testLogger();
    kafka = testKafka(logger);
    ch = testClickHouse();
  });

  afterAll(async () => {
    for (const w of writers) await w.kill().catch(() => undefined);
    for (const d of [db, `${db}_rebuild`, `${db}_old`]) await dropDatabase(ch, d);
    await deleteTopics(kafka, [topic, config.kafka.topics.dead_letter]);
    await ch.close();
  });

  it('replays into fresh tables, swaps them in atomically, and the live writer carries on exactly', async () => {
    const first = liveWriter();
    await first.start();
    await first.whenJoined();
    const base = Date.now() - 3 * 3_600_000;
    const events = Array.from({ length: 40 }, (_, i) =>
      makeEvent({
        project_id: i % 4 === 0 ? 'proj_rb_b' : 'proj_rb_a',
        model: i % 3 === 0 ? 'openai/gpt-4o' : 'groq/llama-3.1-8b-instant',
        spend_nanos: i % 7 === 0 ? null : 100 * i,
        created_ms: base + i * 300_000,
      }),
    );
    await produce(kafka, topic, events);
    await waitFor('live projection', async () =>
      (await scalar(ch, `SELECT count() FROM ${db}.completions`)) === 40 && (await first.drained())
        ? true
        : undefined,
    );
    const before = await snapshot(db);

    // Damage the live projection (a stray duplicate, as a past bug might have left): the rebuild repairs it.
    await ch.command({
      query: `INSERT INTO ${db}.completions SELECT * FROM ${db}.completions WHERE completion_id = '${events[3]!.completion_id}'`,
    });
    expect(await scalar(ch, `SELECT count() FROM ${db}.completions`)).toBe(41);

    const rebuilt = rebuildProjection(
      config,
      { logger, metrics: new Metrics({ defaultMetrics: false }), kafka, clickhouse: ch },
      { progressIntervalMs: 200, handoverTimeoutMs: 60_000 },
    );
    // The rebuild replays while the live writer runs, then waits for it to stop before swapping.
    await waitFor('replay caught up', async () =>
      (await scalar(ch, `SELECT count() FROM ${db}_rebuild.completions`).catch(() => 0)) === 40
        ? true
        : undefined,
    );
    await first.stop();
    const result = await rebuilt;
    expect(result.events).toBe(40);
    expect(result.oldDatabase).toBe(`${db}_old`);

    expect(await snapshot(db)).toEqual(before);
    expect(await scalar(ch, `SELECT count() FROM ${db}_old.completions`)).toBe(41);
    expect(await scalar(ch, `SELECT count() FROM system.tables WHERE database = '${db}_rebuild'`)).toBe(0);

    // The live writer resumes from the rebuilt offsets; the re-created views feed the new tables.
    const second = liveWriter();
    await second.start();
    await second.whenJoined();
    await produce(
      kafka,
      topic,
      Array.from({ length: 5 }, () => makeEvent({ project_id: 'proj_rb_a' })),
    );
    await waitFor('new events after the swap', async () =>
      (await scalar(ch, `SELECT count() FROM ${db}.completions`)) === 45 && (await second.drained())
        ? true
        : undefined,
    );
    expect(await scalar(ch, `SELECT count() FROM ${db}.completions_by_id`)).toBe(45);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}.usage_hourly`)).toBe(45);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}.usage_daily`)).toBe(45);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}_old.usage_daily`)).toBe(41);
    await second.stop();
  });
});
