import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import kafkajs, {
  CompressionTypes,
  Kafka,
  logLevel as KafkaLogLevel,
  type Admin,
  type ICustomPartitioner,
  type ITopicConfig,
  type LogEntry,
  type logCreator,
} from 'kafkajs';
import type { GatewayConfig } from './config.js';
import type { Logger } from './logger.js';

/**
 * The single place that knows kafkajs. Services use the small surface below so the client can be swapped for
 * a maintained KafkaJS-compatible one (@confluentinc/kafka-javascript) if a broker version breaks kafkajs.
 */
export type { Kafka, Producer, Consumer, Admin, EachBatchPayload, Message, IHeaders } from 'kafkajs';
export { CompressionTypes } from 'kafkajs';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * kafkajs's gzip codec at zlib level 1 instead of the default 6: measured on a batch of 100 completion events
 * (72 KB of Avro), 0.26 ms instead of 0.57 ms for an output 1.4 % larger. Decompression is unaffected.
 *
 * Both directions also size zlib's output buffer from the input ({@link gzipChunkSize}): Node's asynchronous zlib
 * hands back one output buffer per trip to the thread pool, and each trip waits for a turn of the event loop.
 * With the default 16 KiB, an 8 MiB produce request made ~100 trips and a 1 MiB fetch ~290 — under a busy loop
 * (~100 ms a turn in ingest-api at 64 connections of 100-KB prompts) one produce took 8.4 s and timed out.
 */
// (CommonJS: `CompressionCodecs` is not a named export under Node's ESM loader.)
kafkajs.CompressionCodecs[CompressionTypes.GZIP] = () => ({
  compress: async (encoder: { buffer: Buffer }) =>
    gzipAsync(encoder.buffer, { level: 1, chunkSize: gzipChunkSize(encoder.buffer.length, 0.5) }),
  decompress: async (buffer: Buffer) => gunzipAsync(buffer, { chunkSize: gzipChunkSize(buffer.length, 6) }),
});

/**
 * zlib's output buffer size for an input of `inputBytes` expected to come out `ratio` times as large: one or two
 * trips to the thread pool for what a completions topic carries (events compress 3–5× at level 1), between
 * 64 KiB and 8 MiB.
 */
export function gzipChunkSize(inputBytes: number, ratio: number): number {
  return Math.min(8 * 1024 * 1024, Math.max(64 * 1024, Math.ceil(inputBytes * ratio)));
}

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Connection timeout per broker; short so an outage is detected quickly. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

function pinoLogCreator(logger: Logger): logCreator {
  return () => (entry: LogEntry) => {
    const { message, ...rest } = entry.log;
    const fields = { kafka: entry.namespace, ...rest };
    switch (entry.level) {
      case KafkaLogLevel.ERROR:
        // kafkajs reports every failed reconnect as an error; the outage itself is surfaced by /readyz and
        // metrics, so these are warnings here.
        logger.warn(fields, message);
        break;
      case KafkaLogLevel.WARN:
        logger.warn(fields, message);
        break;
      case KafkaLogLevel.INFO:
        logger.debug(fields, message);
        break;
      default:
        logger.trace(fields, message);
    }
  };
}

export function createKafka(options: KafkaOptions): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    logLevel: KafkaLogLevel.INFO,
    logCreator: pinoLogCreator(options.logger.child({ component: 'kafka' })),
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 5_000 },
  });
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  compacted?: boolean;
  retentionMs?: number;
  /** Topic `max.message.bytes`: the largest (compressed) batch the broker accepts. */
  maxMessageBytes?: number;
}

/**
 * The completions topic and its dead-letter topic, as every component that may create them must create them
 * (whichever starts first wins: `ensureTopics` never changes an existing topic). One event can carry a whole
 * request body (up to `server.body_limit_mb`) as its request JSON, so both topics accept a record batch of twice
 * that plus 1 MiB; with Kafka's default (~1 MiB) the broker refuses such an event outright.
 */
export function completionTopicSpecs(config: GatewayConfig): {
  completions: TopicSpec;
  deadLetter: TopicSpec;
} {
  const maxMessageBytes = completionsMaxMessageBytes(config);
  return {
    completions: {
      topic: config.kafka.topics.completions,
      numPartitions: config.kafka.completions_partitions,
      maxMessageBytes,
    },
    deadLetter: { topic: config.kafka.topics.dead_letter, numPartitions: 1, maxMessageBytes },
  };
}

/** The `max.message.bytes` the completions topics need for the largest request body the gateway accepts. */
export function completionsMaxMessageBytes(config: GatewayConfig): number {
  return Math.max(1024 * 1024, Math.round(config.server.body_limit_mb * 2 * 1024 * 1024) + 1024 * 1024);
}

/**
 * Partition choice for a producer whose every `send` should go to one partition, the next one each time (Kafka's
 * "sticky" partitioning, KIP-480, applied to keyed records as well): a request then carries one compressed record
 * batch instead of one per partition, and no key is hashed (kafkajs's murmur2 was ~2 % of ingest-api's CPU).
 * Keys stay on the records; only what reads a topic by key-to-partition placement would notice. Call `advance()`
 * before each send. Partitions without a leader are passed over.
 */
export function partitionPerSend(): { createPartitioner: ICustomPartitioner; advance(): void } {
  let turn = 0;
  return {
    createPartitioner:
      () =>
      ({ partitionMetadata }) => {
        const n = partitionMetadata.length;
        for (let i = 0; i < n; i++) {
          const p = partitionMetadata[(turn + i) % n];
          if (p && p.leader >= 0) return p.partitionId;
        }
        return partitionMetadata[turn % n]?.partitionId ?? 0;
      },
    advance() {
      turn++;
    },
  };
}

/**
 * A topic's effective `max.message.bytes` (the largest record batch, per partition, the broker accepts), or null
 * when it cannot be read (no DescribeConfigs permission, say).
 */
export async function topicMaxMessageBytes(admin: Admin, topic: string): Promise<number | null> {
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      // (CommonJS: not a named export under Node's ESM loader, like CompressionCodecs.)
      resources: [
        { type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] },
      ],
    });
    const entry = resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes');
    const value = Number(entry?.configValue);
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

/** Creates missing topics (no-op for existing ones). Safe to call from several instances at once. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing: ITopicConfig[] = specs
    .filter((s) => !existing.has(s.topic))
    .map((s) => ({
      topic: s.topic,
      numPartitions: s.numPartitions,
      replicationFactor: -1,
      configEntries: [
        ...(s.compacted
          ? [
              { name: 'cleanup.policy', value: 'compact' },
              { name: 'min.cleanable.dirty.ratio', value: '0.1' },
            ]
          : []),
        ...(s.retentionMs !== undefined ? [{ name: 'retention.ms', value: String(s.retentionMs) }] : []),
        ...(s.maxMessageBytes !== undefined
          ? [{ name: 'max.message.bytes', value: String(s.maxMessageBytes) }]
          : []),
      ],
    }));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  } catch (err) {
    // Another instance may have created it between list and create.
    const type = (err as { type?: string }).type;
    const nested = (err as { errors?: { type?: string }[] }).errors ?? [];
    const alreadyExists =
      type === 'TOPIC_ALREADY_EXISTS' || nested.every((e) => e.type === 'TOPIC_ALREADY_EXISTS');
    if (!alreadyExists) throw err;
  }
}

/** Kafka headers as kafkajs delivers them → plain strings. */
export function headersToStrings(
  headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}
