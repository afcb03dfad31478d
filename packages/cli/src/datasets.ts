import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import {
  ClickHouseContainerStats,
  ClickHouseExistingIds,
  ContainerDirectory,
  PriceBook,
  RegisterService,
  type ContainerStats,
  type EventSink,
} from '@maniac-gateway/ingest-api';
import {
  DatasetExporter,
  DatasetQuery,
  datasetFilter,
  resolveDatasetContainer,
} from '@maniac-gateway/query-api';
import {
  ApiError,
  CompressionTypes,
  completionTopicSpecs,
  ErrorCodes,
  ValidationFailure,
  createClickHouse,
  createKafka,
  ensureTopics,
  type ControlPlane,
  type GatewayConfig,
  type Logger,
} from '@maniac-gateway/runtime';
import { encodeCompletionEvent, validate, type CompletionEvent } from '@maniac-gateway/schemas';

/**
 * The CLI's dataset commands: `containers export` (the same exporter as `GET /containers/{label}/dataset`, reading
 * ClickHouse directly) and `register` (bulk import through the register logic, produced straight to the
 * completions topic, where the writer stores it like any registered example).
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A progress line on stderr, redrawn with `\r` (at most every 100 ms) on a terminal; the final line always. */
export class Progress {
  private last = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = 100,
  ) {}

  static bar(fraction: number, width = 24): string {
    const f = Math.max(0, Math.min(1, fraction));
    const full = Math.round(f * width);
    return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
  }

  update(text: string): void {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.out.write(`\r${text}\u001b[K`);
    this.drawn = true;
  }

  done(text: string): void {
    this.out.write(`${this.drawn ? '\r' : ''}${text}${this.drawn ? '\u001b[K' : ''}\n`);
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** A container's counters for `containers show` (null when ClickHouse cannot answer). */
export async function readContainerStats(
  config: GatewayConfig,
  projectId: string,
  label: string,
  logger: Logger,
): Promise<ContainerStats | null> {
  const client = createClickHouse(config.clickhouse, { requestTimeoutMs: 10_000 });
  try {
    return await new ClickHouseContainerStats(client, config.clickhouse.database, logger).forLabel(
      projectId,
      label,
    );
  } finally {
    await client.close();
  }
}

export interface ExportOptions {
  config: GatewayConfig;
  controlPlane: ControlPlane;
  projectId: string;
  label: string;
  /** As the HTTP route's query: since, until, tags, tags_match, source, system_prompt, format. */
  query: Record<string, string | undefined>;
  out: NodeJS.WritableStream;
  progress: Progress;
}

/** Streams the container's dataset to `out` (with back-pressure); returns the number of examples written. */
export async function exportDataset(o: ExportOptions): Promise<number> {
  const raw = Object.fromEntries(Object.entries(o.query).filter(([, v]) => v !== undefined));
  const parsed = validate(DatasetQuery, raw, 'query');
  if (!parsed.ok) throw new ValidationFailure(parsed.detail);
  const query = parsed.value;
  const container = resolveDatasetContainer(o.controlPlane, o.config.containers, o.projectId, o.label);
  if (!container) {
    throw new ApiError(404, ErrorCodes.containerNotFound, `Container '${o.label}' not found`);
  }
  const client = createClickHouse(o.config.clickhouse, { requestTimeoutMs: 300_000 });
  try {
    const exporter = new DatasetExporter(client, o.config.clickhouse.database);
    const filter = datasetFilter(o.projectId, container.label, query);
    const windows = await exporter.plan(filter);
    const bound = windows.reduce((n, w) => n + w.rows, 0);
    let written = 0;
    for await (const chunk of exporter.chunks(filter, {
      windows,
      systemPrompt: query.system_prompt === 'container' ? container.systemPrompt : null,
    })) {
      if (!o.out.write(chunk.text)) await once(o.out, 'drain');
      written += chunk.rows;
      // The rollup's count includes errors and rows the filters drop: an upper bound.
      o.progress.update(`${Progress.bar(bound > 0 ? written / bound : 1)} ${fmt(written)} examples`);
    }
    o.progress.done(`exported ${fmt(written)} examples from ${container.label}`);
    return written;
  } finally {
    await client.close();
  }
}

/** One JSONL line → a register item: the export format (`{"messages":[…]}`) or the register item format. */
export function toRegisterItem(
  value: unknown,
  container: string,
): { ok: true; item: Json } | { ok: false; error: string } {
  if (!isObject(value)) return { ok: false, error: 'a line must be a JSON object' };
  if ('input' in value) return { ok: true, item: value };
  if (!Array.isArray(value.messages)) {
    return {
      ok: false,
      error: 'expected {"messages":[…]} (fine-tuning format) or {"input":…,"output":…}',
    };
  }
  // OpenAI's fine-tuning `weight` is not part of a chat message.
  const messages = value.messages.map((m) => {
    if (!isObject(m) || !('weight' in m)) return m;
    const { weight: _weight, ...rest } = m;
    return rest;
  });
  const input: Json = {};
  for (const key of ['tools', 'parallel_tool_calls', 'functions']) {
    if (value[key] !== undefined) input[key] = value[key];
  }
  const last = messages.at(-1);
  if (!isObject(last) || last.role !== 'assistant') {
    // No answer: an input-only example.
    return { ok: true, item: { input: { messages, ...input } } };
  }
  // A stable id from the content: re-importing the same file skips the lines already stored.
  const id = `imp-${createHash('sha256')
    .update(`${container}\0${JSON.stringify(value)}`)
    .digest('hex')
    .slice(0, 32)}`;
  const toolCalls = Array.isArray(last.tool_calls) && last.tool_calls.length > 0;
  return {
    ok: true,
    item: {
      input: { messages: messages.slice(0, -1), ...input },
      output: {
        id,
        object: 'chat.completion',
        choices: [{ index: 0, message: last, finish_reason: toolCalls ? 'tool_calls' : 'stop' }],
      },
    },
  };
}

export interface ImportSummary {
  received: number;
  inserted: number;
  skipped: number;
  failed: number;
  /** Up to 1,000 failures, by line number (1-based). */
  errors: { line: number; message: string; loc?: unknown }[];
  dedup_checked: boolean;
}

export interface ImportOptions {
  config: GatewayConfig;
  controlPlane: ControlPlane;
  projectId: string;
  label: string;
  /** A JSONL file, or '-' for stdin. */
  file: string;
  batchSize: number;
  progress: Progress;
  logger: Logger;
}

const MAX_REPORTED = 1000;

/** Collects the events a register call emits, to produce them and await the broker's acknowledgement. */
class CollectingSink implements EventSink {
  events: CompletionEvent[] = [];
  emit(event: CompletionEvent): void {
    this.events.push(event);
  }
}

/**
 * Bulk register: reads the file line by line (constant memory), validates and deduplicates each batch through
 * {@link RegisterService} (the same logic as `POST /chat/completions/register`), and produces the batch's events
 * to the completions topic, waiting for the acknowledgement before the next batch.
 */
export async function importDataset(o: ImportOptions): Promise<ImportSummary> {
  const directory = new ContainerDirectory(o.controlPlane, o.config.containers);
  if (!directory.get(o.projectId, o.label)) {
    throw new ApiError(404, ErrorCodes.containerNotFound, `Container '${o.label}' not found`);
  }
  const summary: ImportSummary = {
    received: 0,
    inserted: 0,
    skipped: 0,
    failed: 0,
    errors: [],
    dedup_checked: true,
  };
  const fail = (line: number, message: string, loc?: unknown) => {
    summary.failed++;
    if (summary.errors.length < MAX_REPORTED) {
      summary.errors.push(loc === undefined ? { line, message } : { line, message, loc });
    }
  };

  const kafka = createKafka({
    brokers: o.config.kafka.brokers,
    clientId: `${o.config.kafka.client_id}-cli-register`,
    logger: o.logger,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [completionTopicSpecs(o.config).completions]);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const clickhouse = createClickHouse(o.config.clickhouse, { requestTimeoutMs: 30_000 });
  const sink = new CollectingSink();
  const register = new RegisterService({
    events: sink,
    prices: PriceBook.builtin(),
    existing: new ClickHouseExistingIds(clickhouse, o.config.clickhouse.database),
    hasContainer: (projectId, label) => directory.get(projectId, label) !== undefined,
    logger: o.logger,
  });
  const auth = { projectId: o.projectId, keyId: 'cli' };

  let batch: { line: number; item: Json }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const lines = batch.map((b) => b.line);
    const result = await register.register(
      { container: o.label, items: batch.map((b) => b.item) },
      auth,
      `cli-register-${randomBytes(6).toString('hex')}`,
    );
    batch = [];
    summary.skipped += result.summary.skipped;
    if (!result.summary.dedup_checked) summary.dedup_checked = false;
    // Per-item validation errors, mapped back to line numbers (one entry per failed item).
    const reported = new Set<number>();
    for (const e of result.errors) {
      const index = typeof e.index === 'number' ? e.index : -1;
      if (reported.has(index)) continue;
      reported.add(index);
      const loc = Array.isArray(e.loc) ? e.loc.slice(3) : undefined;
      fail(lines[index] ?? 0, String(e.message), loc);
    }
    // Items beyond the service's error cap still count as failed.
    summary.failed += result.summary.failed - reported.size;
    const events = sink.events;
    sink.events = [];
    if (events.length === 0) return;
    try {
      await producer.send({
        topic: o.config.kafka.topics.completions,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: events.map((event) => {
          const { value, headers } = encodeCompletionEvent(event);
          return { key: event.completion_id, value, headers };
        }),
      });
      summary.inserted += events.length;
    } catch (err) {
      const message = `not stored: Kafka: ${err instanceof Error ? err.message : String(err)}`;
      summary.failed += events.length;
      if (summary.errors.length < MAX_REPORTED) summary.errors.push({ line: lines[0] ?? 0, message });
    }
  };

  const stdin = o.file === '-';
  const size = stdin ? 0 : statSync(o.file).size;
  const input = stdin ? process.stdin : createReadStream(o.file);
  const reader = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let bytes = 0;
  const status = () =>
    `${size > 0 ? `${Progress.bar(bytes / size)} ` : ''}${fmt(summary.received)} lines: ` +
    `${fmt(summary.inserted)} inserted, ${fmt(summary.skipped)} skipped, ${fmt(summary.failed)} failed`;
  try {
    for await (const line of reader) {
      lineNo++;
      bytes += Buffer.byteLength(line) + 1;
      if (line.trim() === '') continue;
      summary.received++;
      let value: unknown;
      try {
        value = JSON.parse(line) as unknown;
      } catch (err) {
        fail(lineNo, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const converted = toRegisterItem(value, o.label);
      if (!converted.ok) {
        fail(lineNo, converted.error);
        continue;
      }
      batch.push({ line: lineNo, item: converted.item });
      if (batch.length >= o.batchSize) {
        await flush();
        o.progress.update(status());
      }
    }
    await flush();
  } finally {
    reader.close();
    await producer.disconnect().catch(() => undefined);
    await clickhouse.close();
  }
  o.progress.done(status());
  return summary;
}
