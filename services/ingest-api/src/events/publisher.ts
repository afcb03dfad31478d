import { encodeCompletionEvent, type CompletionEvent } from '@maniac-gateway/schemas';
import {
  CompressionTypes,
  partitionPerSend,
  type Kafka,
  type Logger,
  type Producer,
} from '@maniac-gateway/runtime';
import type { IngestMetrics } from '../metrics.js';
import type { EventSink } from '../completion/service.js';
import type { Spool } from './spool.js';
import { DEFAULT_BATCH_MAX_BYTES, batchEnd, messageBytes, type SpooledMessage } from './spool.js';

export interface PublisherOptions {
  topic: string;
  lingerMs: number;
  batchMax: number;
  spool: Spool;
  kafka: Kafka;
  logger: Logger;
  metrics: IngestMetrics;
  /**
   * How long one produce (connect included) may take before the batch is spooled instead (`kafka.produce_timeout_ms`).
   * Without it a stalled broker (accepting connections but not answering) holds events in memory for the
   * client's whole retry budget. Default: no limit beyond the Kafka client's own.
   */
  produceTimeoutMs?: number;
  /**
   * The most bytes (keys and values, before compression) one produce request carries. Default 900 KiB, under
   * Kafka's default `max.message.bytes`; ingest-api raises it from the topic's actual limit at start
   * ({@link EventPublisher.setBatchMaxBytes}).
   */
  batchMaxBytes?: number;
  /**
   * The most encoded event bytes held in memory (`kafka.queue_max_mb`, default 64 MiB). When Kafka is slower than
   * the load (a CPU-starved process, a slow broker) the queue would otherwise grow until the process runs out of
   * memory; beyond this bound what is queued moves to the spool and is replayed from there, in order.
   */
  queueMaxBytes?: number;
}

const DEFAULT_QUEUE_MAX_BYTES = 64 * 1024 * 1024;
/** At most one "spilled to the spool" warning per this interval (the spill repeats while the overload lasts). */
const SPILL_WARN_INTERVAL_MS = 10_000;

/** The largest produce request the publisher builds, whatever the topic allows (memory, and one gzip call). */
const BATCH_MAX_BYTES_CEILING = 8 * 1024 * 1024;

/**
 * Completion events → Kafka, off the request path. `emit` only encodes and enqueues; one worker loop sends
 * batches (by count or after `lingerMs`) with an idempotent producer (acks from all in-sync replicas, gzip).
 * When a send fails the batch goes to the durable spool and so does everything after it, until the spool has
 * been replayed in order — so the topic receives events in the order they were emitted.
 */
export class EventPublisher implements EventSink {
  /** Encoded messages, and deferred events (built and encoded by `materialize` just before a batch is cut). */
  private queue: (SpooledMessage | (() => CompletionEvent))[] = [];
  private producer: Producer | null = null;
  private wake: (() => void) | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private kafkaOk = true;
  private lastError: string | null = null;
  private nextReplayAt = 0;
  private replayBackoffMs = 250;
  private idleResolvers: (() => void)[] = [];

  private batchMaxBytes: number;
  private readonly queueMaxBytes: number;
  /** Bytes of the encoded messages in the queue, as batches count them ({@link messageBytes}). */
  private queuedBytes = 0;
  private lastSpillWarnAt = -Infinity;
  /** Each produce request goes to one partition, the next one each time. */
  private readonly partitions = partitionPerSend();

  constructor(private readonly options: PublisherOptions) {
    this.batchMaxBytes = options.batchMaxBytes ?? DEFAULT_BATCH_MAX_BYTES;
    this.queueMaxBytes = options.queueMaxBytes ?? DEFAULT_QUEUE_MAX_BYTES;
  }

  /**
   * Sizes produce requests for a topic whose `max.message.bytes` is `topicMax`: that limit applies to each
   * partition's record batch (compressed), so a whole request below it, counted uncompressed, can never be refused
   * (10 % is left for the batch framing). At most {@link BATCH_MAX_BYTES_CEILING}.
   */
  setBatchMaxBytes(topicMax: number): void {
    this.batchMaxBytes = Math.max(64 * 1024, Math.min(BATCH_MAX_BYTES_CEILING, Math.floor(topicMax * 0.9)));
  }

  /** The current bound of one produce request (bytes before compression). */
  get maxBatchBytes(): number {
    return this.batchMaxBytes;
  }

  async start(): Promise<void> {
    await this.options.spool.open();
    this.options.metrics.spoolBytes.set(this.options.spool.bytes());
    if (!this.options.spool.isEmpty()) {
      this.options.logger.warn({ bytes: this.options.spool.bytes() }, 'spooled events found: replaying');
    }
    this.loop = this.run();
  }

  /** Non-blocking: encodes and enqueues (throws EventEncodeError for an event that cannot be encoded). */
  emit(event: CompletionEvent): void {
    const { value, headers } = encodeCompletionEvent(event);
    const message = { key: event.completion_id, value, headers };
    this.queuedBytes += messageBytes(message);
    this.enqueue(message);
  }

  /**
   * Non-blocking and cheaper on the request path: the event is built and encoded when the next batch is cut
   * (an event that cannot be encoded is then counted in `maniac_events_dropped_total{reason="encode"}`).
   */
  defer(build: () => CompletionEvent): void {
    this.enqueue(build);
    if (!this.materializeScheduled) {
      this.materializeScheduled = true;
      setImmediate(this.materializeSoon);
    }
  }

  private materializeScheduled = false;
  /** How many items at the head of the queue are encoded already. */
  private encoded = 0;
  /**
   * Deferred events are built in the check phase right after the responses of this loop turn were written: off
   * the request path still, but while the request's objects are young (kept until the batch is cut, they
   * outlived scavenges and grew the old space: ingest RSS at 256 connections).
   */
  private readonly materializeSoon = (): void => {
    this.materializeScheduled = false;
    this.encodeDeferred(Infinity);
  };

  private enqueue(item: SpooledMessage | (() => CompletionEvent)): void {
    this.queue.push(item);
    if (this.queue.length >= this.options.batchMax) this.signal();
    else if (!this.lingerTimer) this.lingerTimer = setTimeout(() => this.signal(), this.options.lingerMs);
  }

  /**
   * Builds and encodes the deferred events at the head of the queue, in place, until `max` items are encoded (or
   * the queue ends); returns how many of the first `max` items are encoded. Resumes after the items encoded
   * before.
   */
  private encodeDeferred(max: number): number {
    let i = this.encoded;
    while (i < this.queue.length && i < max) {
      const item = this.queue[i];
      if (typeof item === 'function') {
        try {
          const event = item();
          const { value, headers } = encodeCompletionEvent(event);
          const message = { key: event.completion_id, value, headers };
          this.queue[i] = message;
          this.queuedBytes += messageBytes(message);
        } catch (err) {
          // An event that cannot be encoded must never stop the others.
          this.queue.splice(i, 1);
          this.options.metrics.eventsDropped.inc({ reason: 'encode' });
          this.options.logger.error({ err }, 'completion event could not be encoded');
          continue;
        }
      }
      i++;
    }
    this.encoded = i;
    return Math.min(i, max);
  }

  /** The encoded messages at the head of the queue, one batch's worth at most. */
  private materialize(): SpooledMessage[] {
    return this.queue.slice(0, this.encodeDeferred(this.options.batchMax)) as SpooledMessage[];
  }

  /** For /readyz (non-critical: inference continues while events are spooled). */
  problem(): string | null {
    if (this.kafkaOk && this.options.spool.isEmpty()) return null;
    return `kafka unavailable, ${this.options.spool.bytes()} bytes spooled${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  pending(): number {
    return this.queue.length;
  }

  /** Bytes of the encoded events waiting in memory (the gauge `maniac_event_queue_bytes` is set as batches are cut). */
  pendingBytes(): number {
    return this.queuedBytes;
  }

  /** Resolves when everything emitted so far has been sent or spooled (tests, shutdown). */
  async drain(): Promise<void> {
    if (this.queue.length === 0 && !this.busy) return;
    await new Promise<void>((resolve) => {
      this.idleResolvers.push(resolve);
      this.signal();
    });
  }

  private busy = false;

  private signal(): void {
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async connectedProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    const producer = this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
      createPartitioner: this.partitions.createPartitioner,
    });
    await producer.connect();
    this.producer = producer;
    return producer;
  }

  private async send(batch: SpooledMessage[]): Promise<void> {
    const end = this.options.metrics.produceDuration.startTimer();
    try {
      const sending = (async () => {
        const producer = await this.connectedProducer();
        this.partitions.advance();
        await producer.send({
          topic: this.options.topic,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: batch.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        });
      })();
      await withTimeout(sending, this.options.produceTimeoutMs);
      end();
      this.kafkaOk = true;
      this.lastError = null;
      this.options.metrics.kafkaUp.set(1);
    } catch (err) {
      this.kafkaOk = false;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.options.metrics.kafkaUp.set(0);
      // A fresh producer (new producer id) after a failure avoids stale idempotence sequence state.
      const stale = this.producer;
      this.producer = null;
      void stale?.disconnect().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Replay's send: a batch the broker refuses as too large is split, and a single event it refuses is moved to
   * the spool's `rejected/` directory, so one oversized event can never block the in-order replay forever.
   */
  private async sendOrQuarantine(batch: SpooledMessage[]): Promise<void> {
    try {
      await this.send(batch);
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      if (batch.length > 1) {
        const mid = batch.length >> 1;
        await this.sendOrQuarantine(batch.slice(0, mid));
        await this.sendOrQuarantine(batch.slice(mid));
        return;
      }
      const path = await this.options.spool.quarantine(batch);
      this.options.metrics.eventsRejected.inc(batch.length);
      this.options.logger.error(
        { path, bytes: batch[0]?.value.length, completion_id: batch[0]?.key },
        'Kafka refused a completion event as too large for the topic: kept on disk (raise the topic max.message.bytes and re-produce it)',
      );
    }
  }

  private async spoolBatch(batch: SpooledMessage[]): Promise<void> {
    let ok: boolean;
    try {
      ok = await this.options.spool.append(batch);
    } catch (err) {
      // The disk refused the write: these events are lost, and it must show (thrown on, the batch was gone
      // without a count).
      this.options.metrics.eventsDropped.inc({ reason: 'spool_error' }, batch.length);
      this.options.logger.error(
        { err, events: batch.length, dir: this.options.spool.dir },
        'spool write failed: completion events dropped (check the spool directory and disk)',
      );
      this.options.metrics.spoolBytes.set(this.options.spool.bytes());
      return;
    }
    if (ok) {
      this.options.metrics.eventsSpooled.inc(batch.length);
    } else {
      this.options.metrics.eventsDropped.inc({ reason: 'spool_full' }, batch.length);
      this.options.logger.error(
        {
          events: batch.length,
          spool_bytes: this.options.spool.bytes(),
          max_bytes: this.options.spool.maxBytes,
        },
        'spool full: completion events dropped (raise spool.max_bytes or restore Kafka)',
      );
    }
    this.options.metrics.spoolBytes.set(this.options.spool.bytes());
  }

  /** Takes the next batch (encoded messages) off the head of the queue. */
  private cut(): SpooledMessage[] {
    const ready = this.materialize();
    const end = batchEnd(ready, 0, this.options.batchMax, this.batchMaxBytes);
    this.queue.splice(0, end);
    this.encoded = Math.max(0, this.encoded - end);
    const batch = end === ready.length ? ready : ready.slice(0, end);
    for (const m of batch) this.queuedBytes -= messageBytes(m);
    this.options.metrics.queueBytes.set(this.queuedBytes);
    return batch;
  }

  /**
   * Moves everything queued to the spool when the queue is over its bound. Only between sends (the spool then
   * holds everything after the last acknowledged batch, in order); replay takes over from there.
   */
  private async spillIfOver(): Promise<void> {
    if (this.queuedBytes <= this.queueMaxBytes) return;
    const bytes = this.queuedBytes;
    let events = 0;
    for (let batch = this.cut(); batch.length > 0; batch = this.cut()) {
      events += batch.length;
      await this.spoolBatch(batch);
    }
    const now = Date.now();
    if (now - this.lastSpillWarnAt >= SPILL_WARN_INTERVAL_MS) {
      this.lastSpillWarnAt = now;
      this.options.logger.warn(
        { events, bytes, queue_max_bytes: this.queueMaxBytes },
        'Kafka is not keeping up with the load: queued events moved to the spool (replayed in order)',
      );
    }
  }

  private async step(): Promise<void> {
    await this.spillIfOver();
    const batch = this.cut();
    const spool = this.options.spool;
    if (spool.isEmpty() && batch.length > 0) {
      try {
        await this.send(batch);
        this.options.metrics.eventsProduced.inc(batch.length);
        return;
      } catch (err) {
        this.options.logger.warn({ err, events: batch.length }, 'produce failed: spooling events');
        this.nextReplayAt = Date.now() + this.replayBackoffMs;
        await this.spoolBatch(batch);
        return;
      }
    }
    if (batch.length > 0) await this.spoolBatch(batch);
    // While the spool is in use everything queued goes to disk before each replay step, and a step replays one
    // segment: after an outage the backlog can take minutes to replay, and what arrives meanwhile waits on disk,
    // not in memory (replaying the whole spool in one go held every event of those minutes in the queue).
    while (this.queue.length > 0 && !spool.isEmpty()) {
      const more = this.cut();
      if (more.length === 0) break;
      await this.spoolBatch(more);
    }
    if (spool.isEmpty() || Date.now() < this.nextReplayAt) return;
    try {
      const replayed = await spool.replay(
        async (b) => {
          await this.sendOrQuarantine(b);
          // A segment's replay takes many sends: what arrives meanwhile is bounded too (appended behind it).
          await this.spillIfOver();
        },
        this.options.batchMax,
        this.batchMaxBytes,
        1,
      );
      this.options.metrics.eventsReplayed.inc(replayed);
      this.options.metrics.eventsProduced.inc(replayed);
      this.options.metrics.spoolBytes.set(spool.bytes());
      this.replayBackoffMs = 250;
      if (replayed > 0) this.options.logger.info({ events: replayed }, 'spool replayed into Kafka');
    } catch (err) {
      this.options.metrics.spoolBytes.set(spool.bytes());
      this.replayBackoffMs = Math.min(this.replayBackoffMs * 2, 5_000);
      this.nextReplayAt = Date.now() + this.replayBackoffMs;
      this.options.logger.debug({ err }, 'spool replay failed; will retry');
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0 && (this.options.spool.isEmpty() || this.stopping)) {
        for (const resolve of this.idleResolvers.splice(0)) resolve();
        if (this.stopping) return;
        await this.sleep(60_000);
        continue;
      }
      this.busy = true;
      try {
        await this.step();
      } catch (err) {
        this.options.logger.error({ err }, 'event publisher step failed');
      } finally {
        this.busy = false;
      }
      if (this.queue.length === 0 && !this.options.spool.isEmpty() && !this.stopping) {
        await this.sleep(Math.max(10, this.nextReplayAt - Date.now()));
      } else if (
        this.lingerTimer &&
        this.queue.length < this.options.batchMax &&
        !this.stopping &&
        this.idleResolvers.length === 0
      ) {
        // What arrived during the last send waits out its linger too (or until a batch is full): fewer, larger
        // produce requests — kafkajs's per-request cost dominated at small batches.
        await this.sleep(this.options.lingerMs + 1_000);
      }
      if (this.queue.length === 0 && this.options.spool.isEmpty()) {
        for (const resolve of this.idleResolvers.splice(0)) resolve();
      }
    }
  }

  /** Sends or spools everything still queued, then disconnects. Spooled events are replayed at next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signal();
    await this.loop;
    // One last try to send what is queued; anything that fails is spooled by step().
    while (this.queue.length > 0) await this.step();
    await this.options.spool.close();
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
  }
}

/** Whether a (kafkajs) error, or one it wraps, is the broker refusing the batch or a record as too large. */
export function isTooLarge(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { type, cause, originalError } = e as { type?: unknown; cause?: unknown; originalError?: unknown };
    if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') return true;
    e = cause ?? originalError;
  }
  return false;
}

/** Rejects when `promise` has not settled within `ms` (the promise itself keeps running; its outcome is ignored). */
function withTimeout(promise: Promise<void>, ms: number | undefined): Promise<void> {
  if (ms === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        promise.catch(() => undefined);
        reject(new Error(`produce timed out after ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
