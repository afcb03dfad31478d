import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Metrics, type Kafka, type Logger } from '@maniac-gateway/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWriter, type CompletionWriter } from '../src/index.js';
import {
  FlakyProxy,
  clickhouseTarget,
  committedTotal,
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

/** A real ClickHouse outage (through a proxy that refuses and resets connections): pause, retry, lose nothing. */
describe('writer rides out a ClickHouse outage', () => {
  const names = { database: uniqueName('wt_out'), prefix: uniqueName('wt-out') };
  const config = testConfig(names, 2);
  const topic = config.kafka.topics.completions;
  const groupId = `${names.prefix}-writer`;
  const db = names.database;
  let logger: Logger;
  let kafka: Kafka;
  let ch: ClickHouseClient;
  let viaProxy: ClickHouseClient;
  let proxy: FlakyProxy;
  let writer: CompletionWriter;
  const metrics = new Metrics({ defaultMetrics: false });

  beforeAll(async () => {
    logger = testLogger();
    kafka = testKafka(logger);
    ch = testClickHouse();
    proxy = new FlakyProxy(clickhouseTarget());
    await proxy.up();
    viaProxy = createClient({ url: proxy.url, request_timeout: 5_000 });
    writer = createWriter(config, {
      logger,
      metrics,
      kafka,
      clickhouse: viaProxy,
      options: { groupId, batchMaxRows: 20, flushIntervalMs: 100, retryInitialMs: 100, retryMaxMs: 500 },
    });
    await writer.start();
    await writer.whenJoined();
  });

  afterAll(async () => {
    await writer?.kill();
    await proxy.down();
    await viaProxy.close();
    await dropDatabase(ch, db);
    await deleteTopics(kafka, [topic, config.kafka.topics.dead_letter]);
    await ch.close();
  });

  it('pauses while ClickHouse is unreachable and stores everything exactly once when it returns', async () => {
    await produce(
      kafka,
      topic,
      Array.from({ length: 10 }, () => makeEvent()),
    );
    await waitFor('first events stored', async () =>
      (await scalar(ch, `SELECT count() FROM ${db}.completions`)) === 10 ? true : undefined,
    );

    await proxy.down();
    await produce(
      kafka,
      topic,
      Array.from({ length: 50 }, () => makeEvent()),
    );
    await waitFor('outage detected', () => (writer.status().outage ? true : undefined));
    const clickhouseCheck = writer.checks().find((c) => c.name === 'writer_clickhouse')!;
    expect(await clickhouseCheck.check()).toMatch(/inserts failing since/);
    // Keep it down across several retries.
    await waitFor('several retries', async () =>
      (await metrics.registry.getSingleMetric('maniac_writer_insert_retries_total')!.get()).values[0]!
        .value >= 3
        ? true
        : undefined,
    );
    expect(await scalar(ch, `SELECT count() FROM ${db}.completions`)).toBe(10);

    await proxy.up();
    await waitFor('outage over', () => (writer.status().outage ? undefined : true));
    await waitFor('all committed', async () =>
      (await committedTotal(kafka, groupId, topic)) === 60 ? true : undefined,
    );
    expect(await scalar(ch, `SELECT count() FROM ${db}.completions`)).toBe(60);
    expect(await scalar(ch, `SELECT uniqExact(event_id) FROM ${db}.completions`)).toBe(60);
    expect(await scalar(ch, `SELECT sum(requests) FROM ${db}.usage_hourly`)).toBe(60);
    expect(await clickhouseCheck.check()).toBeNull();
  });

  it('an insert whose response is lost is not repeated (the fence reads the stored offsets first)', async () => {
    // A client whose next insert reaches ClickHouse but reports a connection reset, like a response lost in transit.
    let loseNext = true;
    const lossy = new Proxy(ch, {
      get(target, prop, receiver) {
        if (prop === 'exec') {
          return async (params: Parameters<ClickHouseClient['exec']>[0]) => {
            const result = await target.exec(params);
            if (loseNext && /^INSERT INTO \S+\.completions /.test(params.query)) {
              loseNext = false;
              for await (const chunk of result.stream) void chunk;
              throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
            }
            return result;
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const lossyMetrics = new Metrics({ defaultMetrics: false });
    const names2 = { database: uniqueName('wt_lost'), prefix: uniqueName('wt-lost') };
    const config2 = testConfig(names2, 1);
    const w = createWriter(config2, {
      logger,
      metrics: lossyMetrics,
      kafka,
      clickhouse: lossy,
      options: { groupId: `${names2.prefix}-writer`, flushIntervalMs: 100, retryInitialMs: 50 },
    });
    try {
      await w.start();
      await w.whenJoined();
      await produce(
        kafka,
        config2.kafka.topics.completions,
        Array.from({ length: 25 }, () => makeEvent()),
      );
      await waitFor('all committed', async () =>
        (await committedTotal(kafka, `${names2.prefix}-writer`, config2.kafka.topics.completions)) === 25
          ? true
          : undefined,
      );
      expect(loseNext).toBe(false);
      expect(await scalar(ch, `SELECT count() FROM ${names2.database}.completions`)).toBe(25);
      expect(await scalar(ch, `SELECT sum(requests) FROM ${names2.database}.usage_daily`)).toBe(25);
      const events = await lossyMetrics.registry.getSingleMetricAsString('maniac_writer_events_total');
      expect(events).toMatch(/outcome="duplicate_skipped"} [1-9]/);
    } finally {
      await w.kill();
      await dropDatabase(ch, names2.database);
      await deleteTopics(kafka, [config2.kafka.topics.completions, config2.kafka.topics.dead_letter]);
    }
  });
});
