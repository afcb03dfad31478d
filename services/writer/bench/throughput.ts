/**
 * Writer catch-up throughput: produces N events (~SIZE bytes each) to a fresh topic, then starts a writer and
 * measures how fast it projects them into a fresh database (events/s from the consumer's group join to the last
 * stored offset: fetch, decode, the fences, insert with the views, commit).
 *
 *   npx tsx --conditions development services/writer/bench/throughput.ts [--events 100000] [--size 1200]
 *     [--batch ROWS (default: the writer's batchMaxRows)] [--clickhouse-pid PID] [--kafka-pid PID]
 *     [--compression gzip|none (of the pre-filled topic; default gzip, as ingest-api produces)]
 *
 * Besides events/s it prints the CPU time spent per 1,000 events by this process (the writer, during catch-up)
 * and, given their pids, by the ClickHouse server and the Kafka broker: on a shared or noisy machine these vary far less than the rate.
 *
 * Uses KAFKA_BROKERS / CLICKHOUSE_URL; drops what it created.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { CompressionTypes, createKafka, createLogger, loadConfig, Metrics } from '@maniac-gateway/runtime';
import { encodeCompletionEvent } from '@maniac-gateway/schemas';
import { createWriter } from '../src/index.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    size: { type: 'string', default: '1200' },
    batch: { type: 'string' },
    'clickhouse-pid': { type: 'string' },
    'kafka-pid': { type: 'string' },
    compression: { type: 'string', default: 'gzip' },
  },
});
const total = Number(values.events);
const size = Number(values.size);
const suffix = `${Date.now().toString(36)}_${randomUUID().slice(0, 6)}`;
const database = `bench_w_${suffix}`;
const prefix = `bench-w-${suffix}`;
const env = {
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  CLICKHOUSE_URL: process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
};
const config = loadConfig({
  raw: {
    kafka: {
      client_id: prefix,
      completions_partitions: 6,
      topics: { completions: `${prefix}.c`, control: `${prefix}.ctl`, dead_letter: `${prefix}.dlq` },
    },
    clickhouse: { database },
  },
  env,
});
const logger = createLogger({ name: 'bench', level: 'warn' });
const kafka = createKafka({ brokers: config.kafka.brokers, clientId: prefix, logger });
const ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 120_000 });

const filler = 'x'.repeat(Math.max(0, size - 700));
const now = Date.now();

const compression = { gzip: CompressionTypes.GZIP, none: CompressionTypes.None }[values.compression];
if (compression === undefined) throw new Error(`--compression: gzip or none, got ${values.compression}`);

/** CPU time of a process so far, in clock ticks (1/100 s), when its pid was given. */
function procTicks(pid: string | undefined): number | null {
  if (!pid) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

async function produceAll(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: config.kafka.topics.completions, numPartitions: 6 }] });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = Date.now();
  for (let i = 0; i < total; i += 2000) {
    const messages = [];
    for (let j = i; j < Math.min(total, i + 2000); j++) {
      const id = `chatcmpl-${j}`;
      const { value, headers } = encodeCompletionEvent({
        event_id: randomUUID(),
        source: 'completion',
        completion_id: id,
        project_id: `proj_${j % 10}`,
        model: j % 2 ? 'openai/gpt-4o' : 'openai/gpt-4o-mini',
        provider: 'openai',
        status: 'success',
        http_status: 200,
        usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
        spend_nanos: 12_345,
        latency_ms: 300,
        request_json: JSON.stringify({
          model: 'openai/gpt-4o',
          messages: [{ role: 'user', content: filler }],
        }),
        response_json: JSON.stringify({
          id,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' } }],
        }),
        created_ms: now - (total - j),
      });
      messages.push({ key: id, value, headers });
    }
    await producer.send({
      topic: config.kafka.topics.completions,
      acks: -1,
      compression,
      messages,
    });
  }
  await producer.disconnect();
  return Date.now() - started;
}

async function stored(): Promise<number> {
  const rs = await ch.query({
    query: `SELECT sum(last_offset + 1) AS n FROM (SELECT kafka_partition, max(last_offset) AS last_offset FROM ${database}.kafka_offsets GROUP BY kafka_partition)`,
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ n: string }>();
  return Number(row?.n ?? 0);
}

try {
  const produceMs = await produceAll();
  console.log(`produced ${total} events of ~${size} B in ${produceMs} ms`);
  const metrics = new Metrics({ defaultMetrics: false });
  let inserts = 0;
  let insertMs = 0;
  let insertStarted = 0;
  const writer = createWriter(config, {
    logger,
    metrics,
    kafka,
    hooks: {
      beforeInsert: () => {
        insertStarted = Date.now();
      },
      afterInsert: () => {
        inserts++;
        insertMs += Date.now() - insertStarted;
      },
    },
    options: {
      groupId: `${prefix}-writer`,
      flushIntervalMs: 1000,
      ...(values.batch ? { batchMaxRows: Number(values.batch) } : {}),
    },
  });
  const launched = Date.now();
  await writer.start();
  // Throughput is timed from the group join: migrations and the join are start-up, not catch-up.
  await writer.whenJoined();
  const started = Date.now();
  const cpuStart = process.cpuUsage();
  const chStart = procTicks(values['clickhouse-pid']);
  const kafkaStart = procTicks(values['kafka-pid']);
  console.log(`writer started and joined its group in ${started - launched} ms`);
  let last = 0;
  // Sampled with each poll: the fetched batches and the buffered rows are what the writer holds during catch-up.
  let peakRss = 0;
  let peakHeap = 0;
  while (last < total) {
    await new Promise((r) => setTimeout(r, 250));
    last = await stored();
    const mem = process.memoryUsage();
    peakRss = Math.max(peakRss, mem.rss);
    peakHeap = Math.max(peakHeap, mem.heapUsed);
  }
  const ms = Date.now() - started;
  const cpu = process.cpuUsage(cpuStart);
  const chEnd = procTicks(values['clickhouse-pid']);
  const kafkaEnd = procTicks(values['kafka-pid']);
  console.log(`writer projected ${total} events in ${ms} ms: ${Math.round((total / ms) * 1000)} events/s`);
  const perK = (cpuMs: number) => (cpuMs / (total / 1000)).toFixed(1);
  console.log(
    `cpu per 1,000 events: writer ${perK((cpu.user + cpu.system) / 1000)} ms` +
      (chStart !== null && chEnd !== null ? `, clickhouse ${perK((chEnd - chStart) * 10)} ms` : '') +
      (kafkaStart !== null && kafkaEnd !== null ? `, kafka ${perK((kafkaEnd - kafkaStart) * 10)} ms` : ''),
  );
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  console.log(
    `memory during catch-up (sampled every 250 ms): peak RSS ${mb(peakRss)} MB, heap used ${mb(peakHeap)} MB`,
  );
  console.log(
    `inserts: ${inserts}, mean ${inserts ? Math.round(insertMs / inserts) : 0} ms, mean rows/insert ${inserts ? Math.round(total / inserts) : 0}`,
  );
  await writer.stop();
} finally {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  const admin = kafka.admin();
  await admin.connect();
  await admin
    .deleteTopics({ topics: [config.kafka.topics.completions, config.kafka.topics.dead_letter] })
    .catch(() => {});
  await admin.disconnect();
  await ch.close();
}
