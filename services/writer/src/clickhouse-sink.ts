import { Readable } from 'node:stream';
import { ClickHouseError, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { sqlIdentifier, sqlInStrings, sqlString } from '@maniac-gateway/runtime';
import type { CompletionRow } from './projection.js';

/**
 * The writer's side of ClickHouse: row inserts, and the offset bookkeeping that makes them exactly-once
 * (`kafka_offsets`, fed by a materialized view from the very INSERT that stores the rows).
 */

/**
 * Server exceptions caused by the data itself (a row ClickHouse cannot parse or store). The writer bisects a
 * batch that fails with one of these to find the offending rows and dead-letters them. Every other failure
 * (connection refused, timeout, too many parts, memory, unknown table, authentication…) is an outage: the writer
 * pauses and retries the same batch until it succeeds, losing nothing.
 */
const DATA_ERROR_CODES = new Set([
  '6', // CANNOT_PARSE_TEXT
  '26', // CANNOT_PARSE_QUOTED_STRING
  '27', // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  '32', // ATTEMPT_TO_READ_AFTER_EOF
  '33', // CANNOT_READ_ALL_DATA
  '38', // CANNOT_PARSE_DATE
  '41', // CANNOT_PARSE_DATETIME
  '53', // TYPE_MISMATCH
  '69', // ARGUMENT_OUT_OF_BOUND
  '70', // CANNOT_CONVERT_TYPE
  '72', // CANNOT_PARSE_NUMBER
  '117', // INCORRECT_DATA
  '131', // TOO_LARGE_STRING_SIZE
  '349', // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
]);

export function isDataError(err: unknown): boolean {
  return err instanceof ClickHouseError && DATA_ERROR_CODES.has(err.code);
}

export function describeError(err: unknown): string {
  if (err instanceof ClickHouseError)
    return `ClickHouse error ${err.code}${err.type ? ` ${err.type}` : ''}: ${err.message}`;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

export class ClickHouseSink {
  private readonly db: string;
  private insertSettings: ClickHouseSettings = {};

  constructor(
    private readonly client: ClickHouseClient,
    database: string,
  ) {
    this.db = sqlIdentifier(database);
  }

  get database(): string {
    return this.db;
  }

  /**
   * Per-version insert settings. Current releases parse large JSON inputs in parallel chunks and would write a
   * batch as several blocks (a failure half-way would store a prefix); one block keeps an insert all-or-nothing.
   * 18.16 knows neither setting and always parses sequentially into one block (our batches are far below
   * max_insert_block_size).
   */
  async init(): Promise<void> {
    const rs = await this.client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    const [row] = await rs.json<{ v: string }>();
    const major = Number((row?.v ?? '0').split('.')[0]);
    this.insertSettings =
      major >= 20
        ? {
            input_format_parallel_parsing: 0,
            max_insert_block_size: '10000000',
            min_insert_block_size_rows: '0',
          }
        : {};
  }

  async ping(): Promise<string | null> {
    try {
      const result = await this.client.ping();
      return result.success ? null : describeError(result.error);
    } catch (err) {
      return describeError(err);
    }
  }

  /** The highest stored (or dead-lettered) offset per partition of a topic. */
  async storedOffsets(topic: string): Promise<Map<number, bigint>> {
    const rs = await this.client.query({
      query: `SELECT kafka_partition AS partition, toString(max(last_offset)) AS last
        FROM ${this.db}.kafka_offsets WHERE kafka_topic = ${sqlString(topic)} GROUP BY kafka_partition`,
      format: 'JSONEachRow',
    });
    const rows = await rs.json<{ partition: number; last: string }>();
    return new Map(rows.map((r) => [Number(r.partition), BigInt(r.last)]));
  }

  /**
   * Which of these rows' events are already stored. The offset fence cannot see the same event at another
   * offset — a produce whose outcome was unknown (timeout, broker stalled or stopping) is spooled and replayed,
   * and a crash during replay re-sends a batch — so the writer also skips event ids already in `event_ids`.
   * That table is sorted by creation time: the rows are grouped into runs of close creation times, and each run
   * is one query over its time range, so a lookup reads a few granules however large the table is. The ids go in
   * as one array literal ({@link sqlInStrings}): parsing an `IN (...)` tuple of them was most of the lookup's cost.
   */
  async storedEventIds(
    rows: readonly Pick<CompletionRow, 'event_id' | 'created_ms'>[],
  ): Promise<Set<string>> {
    const found = new Set<string>();
    const queries = eventIdRuns(rows).map(async (run) => {
      const rs = await this.client.query({
        query: `SELECT event_id FROM ${this.db}.event_ids
          WHERE created_ms >= ${run.from} AND created_ms <= ${run.to}
            AND event_id IN ${sqlInStrings(run.ids)}`,
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ event_id: string }>()) found.add(r.event_id);
    });
    // A handful of runs per batch; concurrent, and each one small.
    await Promise.all(queries);
    return found;
  }

  /**
   * One INSERT (one block) of rows already serialised as JSONEachRow lines (UTF-8, each ending in a newline), in
   * a few large buffers: the body streams at network speed whatever else the event loop is doing.
   */
  async insertLines(lines: readonly Buffer[]): Promise<void> {
    if (lines.length === 0) return;
    const result = await this.client.exec({
      query: `INSERT INTO ${this.db}.completions FORMAT JSONEachRow`,
      // As they are, without a copy: the writer's are views of its line arena, one per run of lines back to back.
      values: Readable.from(lines),
      clickhouse_settings: this.insertSettings,
    });
    // The response body is empty for an INSERT; read it to the end so the request completes.
    for await (const chunk of result.stream) void chunk;
  }

  /** Records offsets handled without a row (dead-lettered at the tail of a batch). */
  async recordOffsets(topic: string, offsets: ReadonlyMap<number, bigint>): Promise<void> {
    if (offsets.size === 0) return;
    const now = Math.floor(Date.now() / 1000);
    await this.client.insert({
      table: `${this.db}.kafka_offsets`,
      values: [...offsets].map(([partition, offset]) => ({
        kafka_topic: topic,
        kafka_partition: partition,
        last_offset: offset.toString(),
        updated_at: now,
      })),
      format: 'JSONEachRow',
    });
  }
}

/** A run of event ids whose creation times lie close together (one fence query). */
export interface EventIdRun {
  from: number;
  to: number;
  ids: string[];
}

/**
 * Groups rows by creation time into runs for the event-id fence: a new run starts where consecutive creation
 * times (sorted) are more than `maxGapMs` apart, or after `maxIds` ids — so a batch that mixes fresh events with
 * replayed old ones reads two narrow time ranges, not everything in between.
 */
export function eventIdRuns(
  rows: readonly Pick<CompletionRow, 'event_id' | 'created_ms'>[],
  maxGapMs = 60_000,
  maxIds = 2_000,
): EventIdRun[] {
  const sorted = [...rows].sort((a, b) => a.created_ms - b.created_ms);
  const runs: EventIdRun[] = [];
  let run: EventIdRun | null = null;
  for (const r of sorted) {
    if (!run || r.created_ms - run.to > maxGapMs || run.ids.length >= maxIds) {
      run = { from: r.created_ms, to: r.created_ms, ids: [] };
      runs.push(run);
    }
    run.to = r.created_ms;
    run.ids.push(r.event_id);
  }
  return runs;
}
