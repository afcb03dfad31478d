import type { ClickHouseClient } from '@clickhouse/client';
import {
  BackoffTimer,
  createClickHouse,
  createKafka,
  completionTopicSpecs,
  ensureTopics,
  positiveIntEnv,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type GatewayConfig,
  type HostedComponent,
  type Kafka,
  type Logger,
  type Metrics,
  type Producer,
  type ReadinessCheck,
} from '@maniac-gateway/runtime';
import { decodeCompletionEventRecord, EventDecodeError } from '@maniac-gateway/schemas';
import { ClickHouseSink, describeError, isDataError } from './clickhouse-sink.js';
import { DeadLetterQueue, type DeadLetter } from './dead-letter.js';
import { bodyOf, LineArena, type LineRange } from './line-arena.js';
import { migrate } from './migrate.js';
import { ProjectionError, projectCompletion, type CompletionRow } from './projection.js';
import { completionRowJson } from './row-json.js';
import { WriterMetrics } from './writer-metrics.js';

/**
 * The writer: a consumer group on the completions topic that projects events into ClickHouse.
 *
 * Exactly-once into ClickHouse without insert-deduplication tokens (ClickHouse 18.16 has none):
 *  - every row records its Kafka (topic, partition, offset); the INSERT that stores a batch also feeds, through
 *    materialized views, the rollups and `kafka_offsets` (highest stored offset per partition) — one INSERT, so
 *    "rows stored" and "offset recorded" agree;
 *  - on assignment, and again right before every insert, the writer reads `kafka_offsets` and drops everything at
 *    or below it, so a crash between insert and Kafka commit never inserts the same offsets twice (Kafka's
 *    committed offset is only a hint: when it is behind, the stored messages are skipped; when it is ahead —
 *    tables dropped or restored — the writer seeks back to ClickHouse's position);
 *  - poison events are dead-lettered before any later offset of their partition is stored, so "≤ stored offset"
 *    always means "projected or dead-lettered";
 *  - the rollups are fed only by those inserts, so they never double count; ReplacingMergeTree on the event is
 *    the safety net for anything else.
 * ClickHouse outages pause consumption and retry the same batch with backoff: nothing is lost or skipped.
 */

export interface WriterOptions {
  /** Consumer group id. */
  groupId: string;
  topic: string;
  deadLetterTopic: string;
  database: string;
  /** Flush when this many rows are buffered … */
  batchMaxRows: number;
  /** … or about this many bytes … */
  batchMaxBytes: number;
  /** … or when the oldest buffered row is this old. */
  flushIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Apply the ClickHouse migrations at start. */
  migrate: boolean;
  /** Create the completions and dead-letter topics when missing. */
  ensureTopics: boolean;
  sessionTimeoutMs: number;
  /** How long a fetch waits for data (bounds the delay before a quiet partition's rows are buffered). */
  fetchMaxWaitMs: number;
  /**
   * How much one fetch asks for, per partition and in all (compressed bytes; a record batch larger than either
   * still comes whole). kafkajs decodes a fetch's messages at once and holds them until the last is handled.
   */
  fetchMaxBytesPerPartition: number;
  fetchMaxBytes: number;
  /**
   * The fewest bytes a fetch waits for (up to `fetchMaxWaitMs`). 1 answers every fetch as soon as anything
   * arrives: at a steady rate that is a fetch, its decoding and its bookkeeping for each small produce request.
   */
  fetchMinBytes: number;
}

/** Test seams. A throwing `afterInsert` behaves like a process crash between the insert and the Kafka commit. */
export interface WriterHooks {
  /** Called as each fetched batch is handed over (tests: a throw here crashes the consumer). */
  onBatch?(): void;
  beforeInsert?(rows: readonly RowKey[]): void | Promise<void>;
  afterInsert?(info: { rows: readonly RowKey[] }): void | Promise<void>;
}

export interface WriterDeps {
  logger: Logger;
  metrics: Metrics;
  kafka?: Kafka;
  clickhouse?: ClickHouseClient;
  hooks?: WriterHooks;
  options?: Partial<WriterOptions>;
}

type KafkaMessage = EachBatchPayload['batch']['messages'][number];

/**
 * What the writer keeps of a row once it is serialised: what its fences, metrics and hooks read. Not the row
 * itself — its request and response bodies would live as long as the batch (through a few young-generation
 * collections into the old one), where the line is all the insert needs.
 */
export type RowKey = Pick<CompletionRow, 'event_id' | 'created_ms' | 'kafka_offset'>;

/**
 * A row waiting for its insert. Its JSONEachRow line was serialised while decoding, so the insert body is ready
 * when it starts, and written into the writer's {@link LineArena} (`chunk`, `start`, `end`): outside the JS heap,
 * with no object of its own, so the string dies young instead of living as long as the batch.
 */
interface RowItem extends LineRange {
  kind: 'row';
  partition: number;
  offset: bigint;
  message: KafkaMessage;
  row: RowKey;
}

interface DeadItem {
  kind: 'dead';
  partition: number;
  offset: bigint;
  letter: DeadLetter;
}

type Item = RowItem | DeadItem;

interface PartitionState {
  generation: number;
  /** The next offset to accept; anything below is stored (or buffered) already. */
  expected: bigint | null;
  /** Set after seeking back to `expected`, to tell a real gap (retention) from a stale position. */
  seekedTo: bigint | null;
}

/** The partition's rows could not be inserted for a reason that is not the data: pause and retry. */
class OutageError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly remaining: Item[],
  ) {
    super(describeError(cause));
  }
}

/** The assignment changed while flushing: the buffered items belong to the previous generation. */
class RebalancedError extends Error {}

/** A test hook simulated a crash. */
class SimulatedCrash extends Error {}

/** Serialises batch handling, timed flushes, outage retries and rebalance resets. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export function defaultWriterOptions(config: GatewayConfig): WriterOptions {
  return {
    // One group per completions topic, so deployments sharing a Kafka cluster never share a group.
    groupId: `${config.kafka.client_id}-writer.${config.kafka.topics.completions}`,
    topic: config.kafka.topics.completions,
    deadLetterTopic: config.kafka.topics.dead_letter,
    database: config.clickhouse.database,
    // Large inserts: ClickHouse's cost per INSERT (a part per table, the views) is high next to its cost per row.
    batchMaxRows: 10_000,
    batchMaxBytes: 24 * 1024 * 1024,
    flushIntervalMs: 500,
    retryInitialMs: 200,
    retryMaxMs: 10_000,
    migrate: true,
    ensureTopics: true,
    sessionTimeoutMs: 30_000,
    // Fetches wait for 1 MiB or 100 ms: at a steady 1,500 events/s an answer per small produce request cost the
    // writer ~0.11 ms of CPU per event; waiting costs ~0.08 ms and ~+80 ms of freshness p50 (bench/FINDINGS.md).
    fetchMaxWaitMs: 100,
    // Small fetches: a fetch's messages live until its last one is handled, so a large one (it was 4 MiB per
    // partition, 32 MiB in all: most of a 200,000-event backlog of well-compressed events in one fetch) outlives
    // its scavenges and every GC traces it. 1,000,000-event catch-ups, 2 pairs: peak RSS ~1,500 → ~356 MB, heap
    // 511 → 78 MB, writer CPU per 1,000 events 52 → 35 ms.
    fetchMaxBytesPerPartition: 256 * 1024,
    fetchMaxBytes: 2 * 1024 * 1024,
    fetchMinBytes: 1024 * 1024,
  };
}

type State = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed';

export class CompletionWriter implements HostedComponent {
  readonly name = 'writer';
  readonly options: WriterOptions;
  private readonly logger: Logger;
  private readonly m: WriterMetrics;
  private readonly hooks: WriterHooks;
  private readonly kafka: Kafka;
  private readonly clickhouse: ClickHouseClient;
  private readonly ownsClickHouse: boolean;
  private readonly sink: ClickHouseSink;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private admin: Admin | null = null;
  private dlq: DeadLetterQueue | null = null;
  private state: State = 'idle';
  private readonly lock = new Mutex();

  private buffer: Item[] = [];
  private readonly lines = new LineArena();
  private decodedSinceYield = 0;
  private bufferRows = 0;
  private bufferBytes = 0;
  private bufferSince = 0;
  private flushQueued = false;
  /** The background insert in flight (see startFlush). */
  private inflight: Promise<void> | null = null;

  private generation = 0;
  private readonly partitions = new Map<number, PartitionState>();
  /** Highest skipped (already stored) offset per partition, committed with the next commit. */
  private readonly skippedDone = new Map<number, bigint>();
  private assigned: number[] = [];
  private joined = false;
  private crashReason: string | null = null;
  private readonly consumerRestart = new BackoffTimer(() => void this.restartConsumer());

  private outage: { since: number; attempts: number; lastError: string } | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  /** Fires when the buffer's first row is flushIntervalMs old (the tick is the fallback, e.g. after an outage). */
  private dueTimer: NodeJS.Timeout | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  private readonly joinWaiters = new Set<() => void>();

  constructor(
    private readonly config: GatewayConfig,
    deps: WriterDeps,
  ) {
    this.options = { ...defaultWriterOptions(config), ...deps.options };
    this.logger = deps.logger.child({ component: 'writer' });
    this.m = new WriterMetrics(deps.metrics);
    this.hooks = deps.hooks ?? {};
    this.kafka =
      deps.kafka ??
      createKafka({
        brokers: config.kafka.brokers,
        clientId: `${config.kafka.client_id}-writer`,
        logger: deps.logger,
      });
    this.ownsClickHouse = deps.clickhouse === undefined;
    this.clickhouse = deps.clickhouse ?? createClickHouse(config.clickhouse, { keepAlive: false });
    this.sink = new ClickHouseSink(this.clickhouse, this.options.database);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`writer cannot start from state ${this.state}`);
    this.state = 'starting';
    const o = this.options;
    if (o.migrate) await migrate(this.clickhouse, { database: o.database, logger: this.logger });
    await this.sink.init();

    this.admin = this.kafka.admin();
    await this.admin.connect();
    if (o.ensureTopics) {
      const topics = completionTopicSpecs(this.config);
      await ensureTopics(this.admin, [
        { ...topics.completions, topic: o.topic },
        { ...topics.deadLetter, topic: o.deadLetterTopic },
      ]);
    }
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    this.dlq = new DeadLetterQueue(this.producer, o.deadLetterTopic, o.groupId);

    await this.startConsumer();
    this.tickTimer = setInterval(() => this.onTick(), Math.max(50, Math.min(250, o.flushIntervalMs / 4)));
    this.tickTimer.unref();
    this.lagTimer = setInterval(() => void this.refreshLag(), 5_000);
    this.lagTimer.unref();
    this.logger.info(
      { topic: o.topic, group: o.groupId, database: o.database, batchMaxRows: o.batchMaxRows },
      'writer started',
    );
  }

  /** Creates, connects and runs the group consumer (at start, and again after kafkajs gave up on one). */
  private async startConsumer(): Promise<void> {
    const o = this.options;
    const consumer = this.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      rebalanceTimeout: Math.max(60_000, o.sessionTimeoutMs),
      heartbeatInterval: Math.max(500, Math.floor(o.sessionTimeoutMs / 10)),
      maxWaitTimeInMs: o.fetchMaxWaitMs,
      maxBytesPerPartition: o.fetchMaxBytesPerPartition,
      maxBytes: o.fetchMaxBytes,
      minBytes: o.fetchMinBytes,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onGroupJoin(event.payload.memberAssignment));
    consumer.on(consumer.events.REBALANCING, () => {
      // The assignment is about to end: stop flushing it (checked before every insert) and drop what is buffered.
      this.generation++;
      this.resetAssignment(null);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const restart = (event.payload as { restart?: boolean }).restart;
      this.logger.error({ err: event.payload.error, restart }, 'writer consumer crashed');
      this.joined = false;
      if (restart === false && this.consumer === consumer) {
        // kafkajs gives up on errors it deems non-retriable (e.g. no group coordinator while a broker
        // restarts): start a new consumer ourselves, with backoff, rather than stay down until a restart.
        this.crashReason = `consumer crashed: ${describeError(event.payload.error)}`;
        this.scheduleConsumerRestart();
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    if (this.state === 'starting') this.state = 'running';
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private scheduleConsumerRestart(): void {
    if (this.state !== 'running') return;
    const delay = this.consumerRestart.schedule();
    if (delay !== null) this.logger.warn({ delay_ms: delay }, 'restarting the writer consumer');
  }

  private async restartConsumer(): Promise<void> {
    if (this.state !== 'running') return;
    const old = this.consumer;
    this.consumer = null;
    // Like a rebalance: what is buffered is uncommitted and will be consumed again; positions come from ClickHouse.
    this.generation++;
    this.resetAssignment(null);
    await old?.disconnect().catch(() => undefined);
    try {
      await this.startConsumer();
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'writer consumer restart failed; will retry');
      const failed = this.consumer as Consumer | null;
      this.consumer = null;
      await failed?.disconnect().catch(() => undefined);
      this.scheduleConsumerRestart();
    }
  }

  /** Resolves once the consumer has joined its group (tests; readiness uses {@link checks}). */
  whenJoined(timeoutMs = 60_000): Promise<void> {
    if (this.joined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.joinWaiters.delete(done);
        reject(new Error('writer did not join its consumer group in time'));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.joinWaiters.add(done);
    });
  }

  /** Graceful: flushes what is buffered (one attempt), commits, and leaves the group. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'idle') {
      this.state = 'stopped';
      return;
    }
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    this.clearTimers();
    if (wasRunning) {
      await this.lock.run(async () => {
        await this.settleInflight();
        if (this.buffer.length > 0 && !this.outage) await this.flushLocked();
        if (this.buffer.length > 0) {
          this.logger.warn(
            { events: this.buffer.length },
            'stopping with unflushed events; they are uncommitted and will be consumed again',
          );
        }
      });
    }
    this.clearTimers();
    await this.disconnect();
  }

  /** Like a killed process: no flush, no commit (tests). */
  async kill(): Promise<void> {
    this.state = 'stopped';
    this.generation++;
    this.clearTimers();
    this.resetBuffer();
    await this.disconnect();
  }

  private async disconnect(): Promise<void> {
    this.state = 'stopped';
    await Promise.allSettled([
      this.consumer?.disconnect(),
      this.producer?.disconnect(),
      this.admin?.disconnect(),
    ]);
    this.consumer = null;
    this.producer = null;
    this.admin = null;
    if (this.ownsClickHouse) await this.clickhouse.close().catch(() => undefined);
  }

  private clearTimers(): void {
    for (const t of [this.retryTimer, this.tickTimer, this.dueTimer, this.lagTimer]) if (t) clearTimeout(t);
    this.retryTimer = this.tickTimer = this.dueTimer = this.lagTimer = null;
    this.consumerRestart.cancel();
  }

  checks(): ReadinessCheck[] {
    return [
      {
        name: 'writer_consumer',
        check: () => {
          if (this.crashReason) return this.crashReason;
          if (this.state !== 'running') return `writer is ${this.state}`;
          return this.joined ? null : 'consumer has not joined its group';
        },
      },
      {
        name: 'writer_clickhouse',
        check: () =>
          this.outage
            ? `inserts failing since ${new Date(this.outage.since).toISOString()}: ${this.outage.lastError}`
            : null,
      },
    ];
  }

  /**
   * True when nothing is buffered and no flush is in progress (queued behind any running batch or flush, so
   * every insert that started before has returned, materialized views included). For tests and tooling.
   */
  drained(): Promise<boolean> {
    return this.lock.run(async () => {
      await this.settleInflight();
      return this.buffer.length === 0 && !this.outage;
    });
  }

  /** For logs and tests. */
  status(): { state: State; joined: boolean; buffered: number; outage: boolean; assigned: number[] } {
    return {
      state: this.state,
      joined: this.joined,
      buffered: this.buffer.length,
      outage: this.outage !== null,
      assigned: [...this.assigned],
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Consuming

  private onGroupJoin(memberAssignment: Record<string, number[]>): void {
    this.generation++;
    const assigned = memberAssignment[this.options.topic] ?? [];
    this.resetAssignment(assigned);
    this.joined = true;
    if (this.crashReason?.startsWith('consumer crashed')) this.crashReason = null;
    this.consumerRestart.reset();
    this.logger.info({ partitions: assigned }, 'writer joined its consumer group');
    for (const waiter of this.joinWaiters) waiter();
    this.joinWaiters.clear();
  }

  /**
   * Buffered events belong to the previous assignment: they are uncommitted, so Kafka hands them out again (to us
   * or to the new owner), and positions are re-read from ClickHouse. Queued behind any flush in progress.
   */
  private resetAssignment(assigned: number[] | null): void {
    void this.lock.run(async () => {
      await this.settleInflight();
      if (this.buffer.length > 0) {
        this.logger.info({ events: this.buffer.length }, 'rebalance: dropping uncommitted buffered events');
      }
      this.resetBuffer();
      this.partitions.clear();
      this.skippedDone.clear();
      this.m.lag.reset();
      if (assigned === null) return;
      this.assigned = assigned;
      try {
        await this.positionPartitions(assigned);
      } catch (err) {
        // The first batch of each partition positions it instead (or pauses if ClickHouse is down).
        this.logger.warn({ err: describeError(err) }, 'could not position partitions on assignment');
      }
    });
  }

  /**
   * Points every assigned partition at ClickHouse's position (highest stored offset + 1, or the earliest offset
   * Kafka still has). Needed even when no new messages arrive: a group whose committed offset is ahead of
   * ClickHouse (tables dropped or restored) would otherwise never re-read what is missing.
   */
  private async positionPartitions(assigned: number[]): Promise<void> {
    if (!this.admin || !this.consumer || assigned.length === 0) return;
    const topic = this.options.topic;
    const [stored, committed, watermarks] = await Promise.all([
      this.sink.storedOffsets(topic),
      this.admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] }),
      this.admin.fetchTopicOffsets(topic),
    ]);
    const committedBy = new Map(
      (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
        p.partition,
        BigInt(p.offset),
      ]),
    );
    for (const partition of assigned) {
      const low = BigInt(watermarks.find((w) => w.partition === partition)?.low ?? '0');
      const last = stored.get(partition);
      let expected = last === undefined ? low : last + 1n;
      if (expected < low) {
        this.logger.warn(
          { partition, from: expected.toString(), to: low.toString() },
          'offsets no longer in Kafka (retention); continuing from the earliest available',
        );
        expected = low;
      }
      const c = committedBy.get(partition) ?? -1n;
      const start = c >= 0n ? c : low;
      const state: PartitionState = { generation: this.generation, expected, seekedTo: null };
      if (start !== expected) {
        state.seekedTo = expected;
        this.consumer.seek({ topic, partition, offset: expected.toString() });
        this.logger.info(
          { partition, committed: start.toString(), stored: expected.toString() },
          'positioning partition at ClickHouse’s offset (Kafka’s committed offset is only a hint)',
        );
      }
      this.partitions.set(partition, state);
      // Committed offset behind ClickHouse (a crash between insert and commit): catch the hint up.
      if (start < expected) markDone(this.skippedDone, partition, expected - 1n);
    }
    if (this.skippedDone.size > 0) await this.commit(new Map());
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    this.hooks.onBatch?.();
    await this.lock.run(async () => {
      const { batch } = payload;
      if (this.state !== 'running' || this.outage || !payload.isRunning() || payload.isStale()) return;
      const generation = this.generation;
      const partition = batch.partition;
      const firstOffset = batch.firstOffset();
      if (firstOffset === null) return;

      let state = this.partitions.get(partition);
      if (!state || state.generation !== this.generation) {
        let stored: Map<number, bigint>;
        try {
          stored = await this.sink.storedOffsets(this.options.topic);
        } catch (err) {
          this.enterOutage(err);
          return;
        }
        const last = stored.get(partition);
        state = {
          generation: this.generation,
          expected: last === undefined ? null : last + 1n,
          seekedTo: null,
        };
        this.partitions.set(partition, state);
        this.logger.debug(
          { partition, resumeAt: state.expected?.toString() ?? 'earliest' },
          'partition position',
        );
      }

      const first = BigInt(firstOffset);
      if (state.expected === null) state.expected = await this.lowWatermark(partition);
      if (first > state.expected) {
        // Kafka's committed offset is ahead of ClickHouse (tables dropped or restored): ClickHouse wins.
        const low = await this.lowWatermark(partition);
        if (state.expected < low) {
          this.logger.warn(
            { partition, from: state.expected.toString(), to: low.toString() },
            'offsets no longer in Kafka (retention); continuing from the earliest available',
          );
          state.expected = low;
        }
        if (first > state.expected) {
          if (state.seekedTo !== state.expected) {
            state.seekedTo = state.expected;
            this.logger.info(
              { partition, committed: first.toString(), stored: state.expected.toString() },
              'consumer position is ahead of ClickHouse; seeking back',
            );
            this.consumer?.seek({ topic: this.options.topic, partition, offset: state.expected.toString() });
            return;
          }
          this.logger.warn(
            { partition, from: state.expected.toString(), to: first.toString() },
            'gap in partition offsets; continuing after it',
          );
          state.expected = first;
        }
      }
      state.seekedTo = null;

      let skipped = 0;
      for (const message of batch.messages) {
        const offset = BigInt(message.offset);
        if (offset < state.expected) {
          skipped++;
          markDone(this.skippedDone, partition, offset);
          continue;
        }
        this.append(this.toItem(partition, offset, message));
        state.expected = offset + 1n;
        if (++this.decodedSinceYield >= YIELD_EVERY) {
          this.decodedSinceYield = 0;
          await yieldToLoop();
        }
        // A large fetch is flushed as it is decoded, so the next chunk is decoded while this one is inserted.
        if (this.bufferFull()) {
          await this.startFlush();
          if (this.outage || generation !== this.generation) {
            // The rest of the fetch is consumed again (the position check seeks back to `expected`).
            payload.resolveOffset(message.offset);
            return;
          }
        }
      }
      if (skipped > 0) {
        this.m.events.inc({ outcome: 'duplicate_skipped' }, skipped);
        this.logger.info({ partition, skipped }, 'skipped events already stored in ClickHouse');
      }
      payload.resolveOffset(batch.lastOffset());
      const high = BigInt(batch.highWatermark);
      this.m.lag.set(
        { topic: this.options.topic, partition: String(partition) },
        Number(high > state.expected ? high - state.expected : 0n),
      );
      // (A full buffer was handed to an insert inside the loop above.)
      if (this.buffer.length === 0 && this.skippedDone.size > 0) {
        // Only already-stored events: move the committed offset past them (a hint for lag tools and restarts).
        await this.commit(new Map());
      }
    });
  }

  private toItem(partition: number, offset: bigint, message: KafkaMessage): Item {
    const topic = this.options.topic;
    const dead = (stage: DeadLetter['stage'], reason: string, error: string): DeadItem => ({
      kind: 'dead',
      partition,
      offset,
      letter: {
        topic,
        partition,
        offset,
        key: message.key,
        value: message.value,
        headers: message.headers,
        stage,
        reason,
        error,
      },
    });
    if (!message.value || message.value.length === 0)
      return dead('decode', 'empty_value', 'message has no value');
    try {
      const event = decodeCompletionEventRecord(message.value, message.headers ?? {});
      const full = projectCompletion(event, { topic, partition, offset: message.offset });
      const { chunk, start, end } = this.lines.appendLine(completionRowJson(full));
      const row: RowKey = {
        event_id: full.event_id,
        created_ms: full.created_ms,
        kafka_offset: full.kafka_offset,
      };
      return { kind: 'row', partition, offset, message, row, chunk, start, end };
    } catch (err) {
      if (err instanceof EventDecodeError) return dead('decode', err.reason, err.message);
      if (err instanceof ProjectionError) return dead('project', 'invalid_event', err.message);
      return dead('decode', 'corrupt_payload', describeError(err));
    }
  }

  private bufferFull(): boolean {
    return this.bufferRows >= this.options.batchMaxRows || this.bufferBytes >= this.options.batchMaxBytes;
  }

  private append(item: Item): void {
    if (this.buffer.length === 0) {
      this.bufferSince = Date.now();
      this.armDueTimer();
    }
    this.buffer.push(item);
    if (item.kind === 'row') {
      this.bufferRows++;
      this.bufferBytes += item.end - item.start;
    }
  }

  private resetBuffer(): void {
    this.buffer = [];
    this.bufferRows = 0;
    this.bufferBytes = 0;
  }

  private restoreBuffer(items: Item[]): void {
    const rest = this.buffer;
    this.resetBuffer();
    for (const item of [...items, ...rest]) this.append(item);
  }

  /**
   * A timed flush exactly when the buffer's first row is due: the tick alone (a quarter of the interval) added up
   * to that much to every row's freshness.
   */
  private armDueTimer(delayMs = this.options.flushIntervalMs): void {
    if (this.dueTimer) return;
    this.dueTimer = setTimeout(() => {
      this.dueTimer = null;
      this.onTick();
    }, delayMs);
    this.dueTimer.unref();
  }

  private onTick(): void {
    if (this.state !== 'running' || this.outage || this.flushQueued || this.buffer.length === 0) return;
    const early = this.options.flushIntervalMs - (Date.now() - this.bufferSince);
    if (early > 0) {
      // A newer buffer than the one the timer was armed for.
      this.armDueTimer(early);
      return;
    }
    this.flushQueued = true;
    void this.lock
      .run(async () => {
        this.flushQueued = false;
        if (this.state === 'running' && !this.outage) await this.startFlush();
      })
      .catch((err: unknown) => this.logger.error({ err }, 'timed flush failed'));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Flushing

  /**
   * Pipelining, under the lock: hands the buffer to a background insert once the insert in flight (if any) has
   * finished, so the next batches are fetched and decoded while ClickHouse stores this one. Inserts stay strictly
   * one after another (each behind the offset fence, in offset order), and an outage puts the rows back at the
   * front of the buffer.
   */
  private async startFlush(): Promise<void> {
    await this.settleInflight();
    if (this.buffer.length === 0 || this.outage || this.state !== 'running') return;
    const flight: Promise<void> = this.flushLocked().then(
      () => undefined,
      (err: unknown) => this.logger.error({ err }, 'flush failed'),
    );
    this.inflight = flight;
    void flight.finally(() => {
      if (this.inflight === flight) this.inflight = null;
    });
  }

  /** Under the lock: waits until no insert is in flight. */
  private async settleInflight(): Promise<void> {
    while (this.inflight) await this.inflight;
  }

  /**
   * Stores the buffer: takes it at once (appends after that start a new one), then inserts and commits. Started
   * under the lock, by {@link startFlush} (the insert then runs on outside it) or awaited directly.
   * Returns true when the rows were stored.
   */
  private async flushLocked(): Promise<boolean> {
    if (this.buffer.length === 0) return true;
    const generation = this.generation;
    const items = this.buffer;
    const bufferedMs = Date.now() - this.bufferSince;
    this.resetBuffer();
    const done = new Map<number, bigint>();
    let crashed = false;
    this.logger.debug({ events: items.length, bufferedMs }, 'flushing');
    try {
      const started = Date.now();
      const fenceMs = await this.storeItems(items, generation, done);
      // Where a row's freshness goes: buffered (the flush interval, and any wait for the insert before it to
      // finish), then the fences, then the insert (tookMs: both).
      this.logger.debug(
        { events: items.length, bufferedMs, fenceMs, tookMs: Date.now() - started },
        'flushed',
      );
      return true;
    } catch (err) {
      if (err instanceof OutageError) {
        this.restoreBuffer(err.remaining);
        this.enterOutage(err.cause);
        return false;
      }
      if (err instanceof RebalancedError) {
        this.logger.info('rebalance during flush: the rest is consumed again under the new assignment');
        return false;
      }
      if (err instanceof SimulatedCrash) {
        crashed = true;
        this.state = 'crashed';
        this.crashReason = 'simulated crash';
        return false;
      }
      throw err;
    } finally {
      if (!crashed && generation === this.generation) await this.commit(done);
    }
  }

  /** Returns how long the fences took, ms. */
  private async storeItems(all: Item[], generation: number, done: Map<number, bigint>): Promise<number> {
    const fenceStarted = Date.now();
    const topic = this.options.topic;
    // Fence: drop whatever ClickHouse already has — an earlier insert whose response was lost (the connection
    // failed after the server stored the rows), or another writer that got there during a rebalance.
    // Both fences at once: the event-id lookup does not depend on the offset fence's answer (rows it drops are
    // looked up needlessly, which only costs a few ids).
    const rowsOf = (list: Item[]) => list.filter((i): i is RowItem => i.kind === 'row').map((i) => i.row);
    let stored: Map<number, bigint>;
    let storedEvents: Set<string>;
    try {
      [stored, storedEvents] = await Promise.all([
        this.sink.storedOffsets(topic),
        this.sink.storedEventIds(rowsOf(all)),
      ]);
    } catch (err) {
      throw new OutageError(err, all);
    }
    const fenceMs = Date.now() - fenceStarted;
    let items = all.filter((i) => {
      const last = stored.get(i.partition);
      if (last === undefined || i.offset > last) return true;
      markDone(done, i.partition, i.offset);
      return false;
    });
    if (items.length < all.length) {
      this.m.events.inc({ outcome: 'duplicate_skipped' }, all.length - items.length);
      this.logger.warn(
        { skipped: all.length - items.length },
        'events already stored (an earlier insert did land, or another writer stored them); skipped',
      );
    }

    // Fence by event: the same event at another offset (re-sent by the producer or the spool after an unknown
    // outcome) is stored once. Within the batch the first copy wins; stored copies are looked up.
    const unique = items.filter((i) => {
      if (i.kind !== 'row') return true;
      if (!storedEvents.has(i.row.event_id)) {
        storedEvents.add(i.row.event_id);
        return true;
      }
      markDone(done, i.partition, i.offset);
      return false;
    });
    if (unique.length < items.length) {
      this.m.events.inc({ outcome: 'duplicate_skipped' }, items.length - unique.length);
      this.logger.warn(
        { skipped: items.length - unique.length },
        'events already stored under another offset (re-sent by a producer); skipped',
      );
    }
    items = unique;

    // Dead letters first: once a later offset of the partition is stored, resume would never revisit them.
    const dead = items.filter((i): i is DeadItem => i.kind === 'dead');
    if (dead.length > 0) {
      try {
        await this.sendDeadLetters(dead.map((d) => d.letter));
      } catch (err) {
        throw new OutageError(err, items);
      }
      for (const d of dead) markDone(done, d.partition, d.offset);
    }

    const rows = items.filter((i): i is RowItem => i.kind === 'row');
    const rowMax = new Map<number, bigint>();
    const queue: RowItem[][] = [];
    for (let i = 0; i < rows.length; i += this.options.batchMaxRows) {
      queue.push(rows.slice(i, i + this.options.batchMaxRows));
    }
    while (queue.length > 0) {
      const chunk = queue[0] as RowItem[];
      if (generation !== this.generation) throw new RebalancedError();
      const chunkRows = chunk.map((c) => c.row);
      const started = process.hrtime.bigint();
      try {
        await this.hooks.beforeInsert?.(chunkRows);
        await this.sink.insertLines(bodyOf(chunk));
      } catch (err) {
        this.m.insertDuration.observe({ outcome: 'error' }, seconds(started));
        if (isDataError(err)) {
          if (chunk.length === 1) {
            const item = chunk[0] as RowItem;
            this.logger.error(
              { partition: item.partition, offset: item.offset.toString(), err: describeError(err) },
              'ClickHouse rejected an event; dead-lettering it',
            );
            try {
              await this.sendDeadLetters([this.rejectedLetter(item, err)]);
            } catch (dlqErr) {
              throw new OutageError(dlqErr, queue.flat());
            }
            markDone(done, item.partition, item.offset);
            queue.shift();
            continue;
          }
          // Find the offending rows: split the chunk, keeping offset order.
          const half = Math.ceil(chunk.length / 2);
          queue.splice(0, 1, chunk.slice(0, half), chunk.slice(half));
          this.logger.warn(
            { rows: chunk.length, err: describeError(err) },
            'insert rejected; bisecting the batch',
          );
          continue;
        }
        throw new OutageError(err, queue.flat());
      }
      const finished = Date.now();
      this.m.insertDuration.observe({ outcome: 'ok' }, seconds(started));
      this.m.batchRows.observe(chunk.length);
      this.m.batchBytes.observe(chunk.reduce((n, c) => n + c.end - c.start, 0));
      this.m.events.inc({ outcome: 'inserted' }, chunk.length);
      for (const c of chunk) {
        this.m.freshness.observe(Math.max(0, finished - c.row.created_ms) / 1000);
        markDone(done, c.partition, c.offset);
        markDone(rowMax, c.partition, c.offset);
      }
      queue.shift();
      if (this.hooks.afterInsert) {
        try {
          await this.hooks.afterInsert({ rows: chunkRows });
        } catch {
          throw new SimulatedCrash();
        }
      }
    }

    // Offsets handled without a row at the tail of a partition (dead letters) are recorded directly. If this
    // fails, the only consequence is that those events are dead-lettered again after a restart.
    const tail = new Map<number, bigint>();
    for (const [partition, offset] of done) {
      if (offset > (rowMax.get(partition) ?? -1n)) tail.set(partition, offset);
    }
    if (tail.size > 0) {
      await this.sink
        .recordOffsets(topic, tail)
        .catch((err: unknown) =>
          this.logger.warn({ err: describeError(err) }, 'could not record dead-letter offsets'),
        );
    }
    return fenceMs;
  }

  private rejectedLetter(item: RowItem, err: unknown): DeadLetter {
    return {
      topic: this.options.topic,
      partition: item.partition,
      offset: item.offset,
      key: item.message.key,
      value: item.message.value,
      headers: item.message.headers,
      stage: 'insert',
      reason: 'clickhouse_rejected',
      error: describeError(err),
    };
  }

  private async sendDeadLetters(letters: DeadLetter[]): Promise<void> {
    if (!this.dlq) throw new Error('dead-letter producer not connected');
    await this.dlq.send(letters);
    for (const l of letters) {
      this.m.deadLettered.inc({ reason: l.reason });
      this.logger.warn(
        {
          partition: l.partition,
          offset: l.offset.toString(),
          reason: l.reason,
          stage: l.stage,
          error: l.error,
        },
        'event dead-lettered',
      );
    }
    this.m.events.inc({ outcome: 'dead_lettered' }, letters.length);
  }

  /** Commits the offsets after `done` and after any skipped (already stored) events. Best-effort. */
  private async commit(done: Map<number, bigint>): Promise<void> {
    for (const [partition, offset] of this.skippedDone) markDone(done, partition, offset);
    this.skippedDone.clear();
    if (done.size === 0 || !this.consumer) return;
    const offsets = [...done].map(([partition, offset]) => ({
      topic: this.options.topic,
      partition,
      offset: (offset + 1n).toString(),
    }));
    const started = Date.now();
    try {
      await this.consumer.commitOffsets(offsets);
      this.logger.debug({ offsets, ms: Date.now() - started }, 'offsets committed');
    } catch (err) {
      // Harmless: ClickHouse's kafka_offsets is the resume position; the committed offset is only a hint.
      this.logger.warn({ err: describeError(err) }, 'offset commit failed');
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Outages

  private enterOutage(err: unknown): void {
    const message = describeError(err);
    if (!this.outage) {
      this.outage = { since: Date.now(), attempts: 0, lastError: message };
      this.m.outage.set(1);
      this.logger.error(
        { err: message, buffered: this.buffer.length },
        'ClickHouse unavailable: pausing consumption',
      );
      try {
        this.consumer?.pause([{ topic: this.options.topic }]);
      } catch (pauseErr) {
        this.logger.warn({ err: describeError(pauseErr) }, 'could not pause the consumer');
      }
    }
    this.outage.attempts++;
    this.outage.lastError = message;
    const delay = Math.min(
      this.options.retryMaxMs,
      this.options.retryInitialMs * 2 ** Math.min(this.outage.attempts - 1, 20),
    );
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.lock
        .run(() => this.retryOutage())
        .catch((e: unknown) => this.logger.error({ err: e }, 'retry failed'));
    }, jittered);
    this.retryTimer.unref();
  }

  private async retryOutage(): Promise<void> {
    if (!this.outage || this.state !== 'running') return;
    this.m.outageRetries.inc();
    await this.settleInflight();
    if (!this.outage) return;
    if (this.buffer.length > 0) {
      if (!(await this.flushLocked())) return;
    } else {
      try {
        await this.sink.storedOffsets(this.options.topic);
      } catch (err) {
        this.enterOutage(err);
        return;
      }
    }
    if (!this.outage) return;
    this.logger.info(
      { downtimeMs: Date.now() - this.outage.since, attempts: this.outage.attempts },
      'ClickHouse available again: resuming consumption',
    );
    this.outage = null;
    this.m.outage.set(0);
    try {
      this.consumer?.resume([{ topic: this.options.topic }]);
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'could not resume the consumer');
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Kafka positions

  private async lowWatermark(partition: number): Promise<bigint> {
    if (!this.admin) return 0n;
    const offsets = await this.admin.fetchTopicOffsets(this.options.topic);
    const entry = offsets.find((o) => o.partition === partition);
    return BigInt(entry?.low ?? '0');
  }

  private async refreshLag(): Promise<void> {
    if (!this.admin || this.state !== 'running' || this.assigned.length === 0) return;
    try {
      const offsets = await this.admin.fetchTopicOffsets(this.options.topic);
      for (const o of offsets) {
        const state = this.partitions.get(o.partition);
        if (!this.assigned.includes(o.partition) || !state?.expected) continue;
        const high = BigInt(o.high);
        this.m.lag.set(
          { topic: this.options.topic, partition: String(o.partition) },
          Number(high > state.expected ? high - state.expected : 0n),
        );
      }
    } catch {
      // Metrics only.
    }
  }
}

/**
 * Messages decoded between turns of the event loop. A fetch holds thousands; decoding them in one go delayed the
 * fence queries' and the insert's responses by up to a whole fetch's decoding time (~100 ms), all of it on the
 * serial insert path.
 */
const YIELD_EVERY = 500;

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function markDone(map: Map<number, bigint>, partition: number, offset: bigint): void {
  const current = map.get(partition);
  if (current === undefined || offset > current) map.set(partition, offset);
}

function seconds(startedNs: bigint): number {
  return Number(process.hrtime.bigint() - startedNs) / 1e9;
}

/**
 * The writer's tuning knobs from the environment (the standalone writer and `maniac-gateway start` alike); unset
 * means the default. WRITER_SESSION_TIMEOUT_MS: how soon a crashed writer's partitions move to another member
 * (default 30 s; the broker's minimum is 6 s; fault tests that SIGKILL the writer use a short one).
 * WRITER_FLUSH_INTERVAL_MS: the longest a row waits in the buffer before its insert starts (default 500 ms;
 * shorter: rows visible sooner, more and smaller inserts for ClickHouse to store and merge).
 */
export function writerOptionsFromEnv(env: NodeJS.ProcessEnv): Partial<WriterOptions> {
  const sessionTimeoutMs = positiveIntEnv(env.WRITER_SESSION_TIMEOUT_MS, 'WRITER_SESSION_TIMEOUT_MS', 0);
  const flushIntervalMs = positiveIntEnv(env.WRITER_FLUSH_INTERVAL_MS, 'WRITER_FLUSH_INTERVAL_MS', 0);
  const fetchMinBytes = positiveIntEnv(env.WRITER_FETCH_MIN_BYTES, 'WRITER_FETCH_MIN_BYTES', 0);
  const fetchMaxWaitMs = positiveIntEnv(env.WRITER_FETCH_MAX_WAIT_MS, 'WRITER_FETCH_MAX_WAIT_MS', 0);
  return {
    ...(fetchMaxWaitMs > 0 ? { fetchMaxWaitMs } : {}),
    ...(fetchMinBytes > 0 ? { fetchMinBytes } : {}),
    ...(sessionTimeoutMs > 0 ? { sessionTimeoutMs } : {}),
    ...(flushIntervalMs > 0 ? { flushIntervalMs } : {}),
  };
}

export function createWriter(config: GatewayConfig, deps: WriterDeps): CompletionWriter {
  return new CompletionWriter(config, deps);
}
