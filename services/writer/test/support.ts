import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll } from 'vitest';
import {
  createKafka,
  createLogger,
  loadConfig,
  Metrics,
  type GatewayConfig,
  type IHeaders,
  type Kafka,
  type Logger,
} from '@maniac-gateway/runtime';
import { encodeCompletionEvent, type CompletionEventInput } from '@maniac-gateway/schemas';
import { createWriter, type CompletionWriter, type WriterHooks, type WriterOptions } from '../src/index.js';

/** Shared plumbing for the writer's integration tests: real Kafka and ClickHouse from the environment. */

export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
}

export function testConfig(names: { database: string; prefix: string }, partitions = 3): GatewayConfig {
  return loadConfig({
    raw: {
      log_level: process.env.TEST_LOG_LEVEL ?? 'warn',
      kafka: {
        client_id: names.prefix,
        completions_partitions: partitions,
        topics: {
          completions: `${names.prefix}.completions`,
          control: `${names.prefix}.control`,
          dead_letter: `${names.prefix}.completions.dlq`,
        },
      },
      clickhouse: { database: names.database },
    },
    env: { KAFKA_BROKERS, CLICKHOUSE_URL },
  });
}

export function testLogger(): Logger {
  return createLogger({ name: 'test', level: process.env.TEST_LOG_LEVEL ?? 'warn' });
}

export function testKafka(logger: Logger): Kafka {
  return createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: uniqueName('test'), logger });
}

export function testClickHouse(): ClickHouseClient {
  return createClient({ url: CLICKHOUSE_URL, request_timeout: 30_000 });
}

/** Polls until `check` returns a value other than undefined, or fails with the last state after the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

let seq = 0;

/** A plausible completion event; every field can be overridden. */
export function makeEvent(overrides: Partial<CompletionEventInput> = {}): CompletionEventInput {
  seq++;
  const completionId = overrides.completion_id ?? `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const created = overrides.created_ms ?? Date.now() - 1000 + seq;
  const model = overrides.model === undefined ? 'openai/gpt-4o-mini' : overrides.model;
  return {
    event_id: randomUUID(),
    source: 'completion',
    completion_id: completionId,
    project_id: 'proj_test',
    key_id: 'key_test',
    request_id: `req_${seq}`,
    container: null,
    model,
    provider: 'openai',
    upstream_model: 'gpt-4o-mini-2024-07-18',
    upstream_id: `up-${seq}`,
    stream: false,
    status: 'success',
    http_status: 200,
    finish_reason: 'stop',
    usage: {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      cached_tokens: 2,
      cache_creation_tokens: null,
      reasoning_tokens: 1,
    },
    spend_nanos: 1_500,
    latency_ms: 120,
    ttft_ms: 40,
    attempts: [{ provider: 'openai', model: 'gpt-4o-mini', status: 200, latency_ms: 118 }],
    tags: ['t1'],
    metadata_json: JSON.stringify({ user: 'u1' }),
    trace_json: JSON.stringify({ id: `trace-${seq}`, span_id: 's1' }),
    request_json: JSON.stringify({ model, messages: [{ role: 'user', content: `hello ${seq}` }] }),
    response_json: JSON.stringify({
      id: completionId,
      object: 'chat.completion',
      created: Math.floor(created / 1000),
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: `hi ${seq}` }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      provider: 'openai',
      container: null,
    }),
    created_ms: created,
    ...overrides,
  };
}

export interface RawMessage {
  key: string | null;
  value: Buffer | null;
  headers?: IHeaders;
  partition?: number;
}

/** Produces events (Avro, keyed by completion id) and raw messages with kafkajs directly. */
export async function produce(
  kafka: Kafka,
  topic: string,
  events: (CompletionEventInput | RawMessage)[],
  partition?: number,
): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((e) => {
        if ('event_id' in e) {
          const { value, headers } = encodeCompletionEvent(e);
          return { key: e.completion_id, value, headers, ...(partition === undefined ? {} : { partition }) };
        }
        const p = e.partition ?? partition;
        return {
          key: e.key,
          value: e.value,
          headers: e.headers,
          ...(p === undefined ? {} : { partition: p }),
        };
      }),
    });
  } finally {
    await producer.disconnect();
  }
}

export async function queryRows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

export async function scalar(client: ClickHouseClient, query: string): Promise<number> {
  const rows = await queryRows<Record<string, string | number>>(client, query);
  const first = rows[0];
  if (!first) return 0;
  return Number(Object.values(first)[0]);
}

export async function dropDatabase(client: ClickHouseClient, database: string): Promise<void> {
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const toDelete = topics.filter((t) => existing.has(t));
    if (toDelete.length > 0) await admin.deleteTopics({ topics: toDelete, timeout: 10_000 });
  } catch {
    // Best effort.
  } finally {
    await admin.disconnect();
  }
}

/**
 * A TCP proxy in front of ClickHouse that can be taken down (connections reset, new ones refused) and brought
 * back on the same port: a real outage for one client without touching the shared server. It also counts the
 * HTTP requests each client connection carries.
 */
export class FlakyProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  /** Requests per client connection, in accept order. */
  readonly requests: number[] = [];

  constructor(private readonly target: { host: string; port: number }) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const index = this.requests.push(0) - 1;
      client.on('data', (chunk: Buffer) => {
        // A request starts a new write after the previous response (HTTP/1.1 without pipelining).
        if (/^(GET|POST) \/\S* HTTP\/1\.1\r\n/.test(chunk.subarray(0, 512).toString('latin1'))) {
          this.requests[index] = (this.requests[index] ?? 0) + 1;
        }
      });
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export function clickhouseTarget(): { host: string; port: number } {
  const url = new URL(CLICKHOUSE_URL);
  return { host: url.hostname, port: Number(url.port || 8123) };
}

/** Sum of the group's committed offsets on a topic (−1 entries, i.e. none, count as 0). */
export async function committedTotal(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (entry?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Reads every message of a topic from the beginning until `count` have arrived (or the deadline). */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<{ key: string | null; value: Buffer | null; headers: Record<string, string>; offset: string }[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  const out: { key: string | null; value: Buffer | null; headers: Record<string, string>; offset: string }[] =
    [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) {
          if (v !== undefined) headers[k] = (Array.isArray(v) ? v[0] : v)?.toString() ?? '';
        }
        out.push({
          key: message.key?.toString() ?? null,
          value: message.value,
          headers,
          offset: message.offset,
        });
      },
    });
    await waitFor(`${count} messages on ${topic}`, () => (out.length >= count ? true : undefined), timeoutMs);
    return out;
  } finally {
    await consumer.disconnect();
  }
}

/** Messages currently in a topic (sum over partitions of high − low watermark). */
export async function topicMessageCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** One writer on its own topic and database, started before the suite's tests and cleaned up after them. */
export interface WriterSuite {
  readonly names: { database: string; prefix: string };
  readonly config: GatewayConfig;
  readonly topic: string;
  readonly db: string;
  readonly logger: Logger;
  readonly kafka: Kafka;
  readonly ch: ClickHouseClient;
  readonly writer: CompletionWriter;
}

/**
 * Registers beforeAll/afterAll (call it inside `describe`): a writer with `options` (group `<prefix>-writer`)
 * and `hooks`, started and joined; afterwards stopped, its database and topics dropped.
 */
export function writerSuite(
  name: string,
  setup: {
    partitions?: number;
    options?: Partial<WriterOptions>;
    hooks?: WriterHooks;
    /**
     * The writer reaches ClickHouse through this proxy (started and stopped with the suite) and builds its own
     * client from the config, as in production, instead of being handed the suite's.
     */
    via?: FlakyProxy;
  } = {},
): WriterSuite {
  const names = { database: uniqueName(`wt_${name}`), prefix: uniqueName(`wt-${name}`) };
  const config = testConfig(names, setup.partitions ?? 3);
  const suite = {
    names,
    config,
    topic: config.kafka.topics.completions,
    db: names.database,
  } as { -readonly [K in keyof WriterSuite]: WriterSuite[K] };
  beforeAll(async () => {
    suite.logger = testLogger();
    suite.kafka = testKafka(suite.logger);
    suite.ch = testClickHouse();
    if (setup.via) {
      await setup.via.up();
      config.clickhouse.url = setup.via.url;
    }
    suite.writer = createWriter(config, {
      logger: suite.logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka: suite.kafka,
      ...(setup.via ? {} : { clickhouse: suite.ch }),
      hooks: setup.hooks,
      options: { groupId: `${names.prefix}-writer`, ...setup.options },
    });
    await suite.writer.start();
    await suite.writer.whenJoined();
  });
  afterAll(async () => {
    await suite.writer?.stop();
    await setup.via?.down();
    await dropDatabase(suite.ch, names.database);
    await deleteTopics(suite.kafka, [suite.topic, config.kafka.topics.dead_letter]);
    await suite.ch.close();
  });
  return suite;
}
