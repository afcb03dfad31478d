import type { ClickHouseClient } from '@clickhouse/client';
import type { ControlPlane, GatewayConfig } from '@maniac-gateway/runtime';
import { z } from 'zod';
import { arrayOf, ident, inList, joinSql, sql, type Sql } from './sql.js';
import { instant, lastValue } from './usage.js';

/**
 * Dataset export: a container's successful completions and registered examples as fine-tuning JSONL (OpenAI's
 * chat format), one line per example, oldest first. Served by `GET /containers/{label}/dataset` and used as is
 * by the CLI's `containers export`.
 *
 * Constant memory at any size: the time range is cut into windows of at most `windowRows` rows from the hourly
 * rollup (fed by the same inserts as the rows), each window is one ordered ClickHouse query whose rows are
 * streamed (JSONEachRow) and turned into lines as the consumer pulls them — so a slow client slows the query
 * instead of filling memory, and ClickHouse never sorts more than one window.
 */

export const DATASET_SOURCES = ['completion', 'register', 'all'] as const;

/** `tags=a,b` or `tags=a&tags=b`. */
const tagList = z.preprocess((raw) => {
  if (raw === undefined) return [];
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(','));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}, z.array(z.string()));

export const DatasetQuery = z.object({
  format: z.preprocess(lastValue, z.enum(['openai-jsonl'])).default('openai-jsonl'),
  /** Inclusive lower bound on the created time (ISO 8601 or unix seconds). */
  since: instant(),
  /** Exclusive upper bound on the created time. */
  until: instant(),
  tags: tagList,
  /** `any` (default): an example with at least one of `tags`; `all`: with every one of them. */
  tags_match: z.preprocess(lastValue, z.enum(['any', 'all'])).default('any'),
  source: z.preprocess(lastValue, z.enum(DATASET_SOURCES)).default('all'),
  /**
   * `stored` (default): the request's messages exactly as the client sent them. `container`: the container's
   * current system prompt is prepended when an example has no system/developer message (as routing does).
   */
  system_prompt: z.preprocess(lastValue, z.enum(['stored', 'container'])).default('stored'),
});
export type DatasetQuery = z.infer<typeof DatasetQuery>;

export interface DatasetFilter {
  projectId: string;
  container: string;
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  tags: readonly string[];
  tagsMatch: 'any' | 'all';
  source: (typeof DATASET_SOURCES)[number];
}

export interface DatasetContainer {
  label: string;
  systemPrompt: string | null;
}

/**
 * The container a project may export: one of its own live containers, or a config-defined one (every project can
 * route through those, so each project has its own dataset under the label). Null → 404.
 */
export function resolveDatasetContainer(
  controlPlane: ControlPlane,
  configContainers: GatewayConfig['containers'],
  projectId: string,
  label: string,
): DatasetContainer | null {
  const own = controlPlane.container(projectId, label);
  if (own) return { label: own.label, systemPrompt: own.system_prompt };
  const configured = configContainers.find((c) => c.label === label);
  return configured ? { label: configured.label, systemPrompt: configured.system_prompt ?? null } : null;
}

export function datasetFilter(projectId: string, container: string, query: DatasetQuery): DatasetFilter {
  return {
    projectId,
    container,
    sinceMs: query.since,
    untilMs: query.until,
    tags: query.tags,
    tagsMatch: query.tags_match,
    source: query.source,
  };
}

/** The columns an example is built from. */
export interface DatasetRow {
  source: string;
  completion_id: string;
  request_json: string;
  response_json: string | null;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(json: string | null): Json | null {
  if (json === null || json === '') return null;
  try {
    const value: unknown = JSON.parse(json);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/** Text of an assistant message's content: a string as is; text parts joined; anything else null. */
function contentText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  const texts = content
    .filter((p): p is Json => isObject(p) && typeof p.text === 'string')
    .map((p) => p.text as string);
  return texts.length > 0 ? texts.join('') : null;
}

/**
 * One stored example → an OpenAI fine-tuning line (`{"messages":[…, assistant], "tools"?, "parallel_tool_calls"?}`),
 * or null when there is nothing to learn from (no output, or an answer with neither text nor tool calls).
 * Messages are the request's as stored (what the client sent); with `systemPrompt` it is prepended when the
 * request has no system/developer message. The assistant message is the first choice's.
 */
export function fineTuningExample(row: DatasetRow, systemPrompt: string | null = null): Json | null {
  const request = parseObject(row.request_json);
  const response = parseObject(row.response_json);
  if (!request || !response || !Array.isArray(request.messages)) return null;
  const choices = Array.isArray(response.choices) ? response.choices.filter(isObject) : [];
  const choice =
    choices.find((c) => c.index === 0 || c.index === undefined || c.index === null) ?? choices[0];
  const message = choice && isObject(choice.message) ? choice.message : null;
  if (!message) return null;
  const content = contentText(message.content);
  const toolCalls = Array.isArray(message.tool_calls) ? message.tool_calls.filter(isObject) : [];
  if ((content === null || content === '') && toolCalls.length === 0) return null;
  const assistant: Json = { role: 'assistant' };
  if (content !== null) assistant.content = content;
  if (toolCalls.length > 0) {
    assistant.tool_calls = toolCalls.map((t) => {
      const fn = isObject(t.function) ? t.function : {};
      return {
        id: t.id,
        type: t.type ?? 'function',
        function: { name: fn.name, arguments: fn.arguments ?? '' },
      };
    });
  }
  const messages = request.messages as unknown[];
  const hasSystem = messages.some((m) => isObject(m) && (m.role === 'system' || m.role === 'developer'));
  const example: Json = {
    messages: [
      ...(systemPrompt && !hasSystem ? [{ role: 'system', content: systemPrompt }] : []),
      ...messages,
      assistant,
    ],
  };
  if (Array.isArray(request.tools) && request.tools.length > 0) example.tools = request.tools;
  if (typeof request.parallel_tool_calls === 'boolean') {
    example.parallel_tool_calls = request.parallel_tool_calls;
  }
  return example;
}

export interface DatasetWindow {
  /** Unix seconds: [fromS, toS) on `created_at`. */
  fromS: number;
  toS: number;
  /** Rows in the window per the rollup (before the status/tag/time filters): an upper bound. */
  rows: number;
}

export interface DatasetChunk {
  text: string;
  rows: number;
}

export interface DatasetExporterOptions {
  /** Rows per ClickHouse query (default 20,000); an hour holding more is one window of its own. */
  windowRows?: number;
  /** Bytes of JSONL per chunk handed to the consumer (default 64 KiB). */
  chunkBytes?: number;
}

const HOUR_S = 3600;

export class DatasetExporter {
  private readonly db: Sql;
  private readonly windowRows: number;
  private readonly chunkBytes: number;

  constructor(
    private readonly client: ClickHouseClient,
    database: string,
    options: DatasetExporterOptions = {},
  ) {
    this.db = ident(database);
    this.windowRows = options.windowRows ?? 20_000;
    this.chunkBytes = options.chunkBytes ?? 64 * 1024;
  }

  private sources(filter: DatasetFilter): Sql {
    return inList(filter.source === 'all' ? ['completion', 'register'] : [filter.source]);
  }

  /** The non-empty hours of the range, grouped into windows of at most `windowRows` rows, oldest first. */
  async plan(filter: DatasetFilter): Promise<DatasetWindow[]> {
    const conditions = [
      sql`project_id = ${filter.projectId}`,
      sql`container = ${filter.container}`,
      sql`source IN ${this.sources(filter)}`,
    ];
    if (filter.sinceMs !== undefined) {
      conditions.push(sql`hour >= toDateTime(${Math.floor(filter.sinceMs / 1000 / HOUR_S) * HOUR_S})`);
    }
    if (filter.untilMs !== undefined) {
      conditions.push(sql`hour < toDateTime(${Math.ceil(filter.untilMs / 1000)})`);
    }
    const rs = await this.client.query({
      query: sql`SELECT toUInt32(hour) AS h, sum(requests) AS n FROM ${this.db}.usage_hourly
        WHERE ${joinSql(conditions, ' AND ')}
        GROUP BY hour HAVING n > 0 ORDER BY hour`.text,
      format: 'JSONEachRow',
    });
    const hours = await rs.json<{ h: number | string; n: string }>();
    const windows: DatasetWindow[] = [];
    let current: DatasetWindow | null = null;
    for (const { h, n } of hours) {
      const hour = Number(h);
      const rows = Number(n);
      if (current && current.rows + rows <= this.windowRows) {
        current.toS = hour + HOUR_S;
        current.rows += rows;
        continue;
      }
      current = { fromS: hour, toS: hour + HOUR_S, rows };
      windows.push(current);
    }
    return windows;
  }

  private windowQuery(filter: DatasetFilter, window: DatasetWindow): Sql {
    const conditions = [
      sql`project_id = ${filter.projectId}`,
      sql`created_at >= toDateTime(${window.fromS})`,
      sql`created_at < toDateTime(${window.toS})`,
      sql`container = ${filter.container}`,
      sql`source IN ${this.sources(filter)}`,
      sql`status = 'success'`,
      sql`isNotNull(response_json)`,
    ];
    if (filter.sinceMs !== undefined) conditions.push(sql`created_ms >= ${Math.ceil(filter.sinceMs)}`);
    if (filter.untilMs !== undefined) conditions.push(sql`created_ms < ${Math.ceil(filter.untilMs)}`);
    if (filter.tags.length > 0) {
      conditions.push(
        filter.tagsMatch === 'all'
          ? sql`hasAll(tags, ${arrayOf(filter.tags)})`
          : sql`hasAny(tags, ${arrayOf(filter.tags)})`,
      );
    }
    return sql`SELECT source, completion_id, request_json, response_json FROM ${this.db}.completions
      WHERE ${joinSql(conditions, ' AND ')}
      ORDER BY created_ms, completion_id, event_id`;
  }

  /** The matching rows, oldest first, streamed window by window (pulled: nothing is read ahead of the consumer). */
  async *rows(filter: DatasetFilter, windows?: DatasetWindow[]): AsyncGenerator<DatasetRow> {
    for (const window of windows ?? (await this.plan(filter))) {
      const rs = await this.client.query({
        query: this.windowQuery(filter, window).text,
        format: 'JSONEachRow',
      });
      try {
        for await (const batch of rs.stream<DatasetRow>()) {
          for (const row of batch) yield row.json();
        }
      } finally {
        rs.close();
      }
    }
  }

  /**
   * JSONL in chunks of about `chunkBytes` (each a whole number of lines), with the number of examples in each.
   * Rows without a usable answer are skipped.
   */
  async *chunks(
    filter: DatasetFilter,
    options: { systemPrompt?: string | null; windows?: DatasetWindow[] } = {},
  ): AsyncGenerator<DatasetChunk> {
    let text = '';
    let rows = 0;
    for await (const row of this.rows(filter, options.windows)) {
      const example = fineTuningExample(row, options.systemPrompt ?? null);
      if (!example) continue;
      text += `${JSON.stringify(example)}\n`;
      rows++;
      if (text.length >= this.chunkBytes) {
        yield { text, rows };
        text = '';
        rows = 0;
      }
    }
    if (rows > 0) yield { text, rows };
  }
}
