import type { ClickHouseClient } from '@clickhouse/client';
import type { Metrics } from '@maniac-gateway/runtime';
import { ident, inList, joinSql, raw, sql, type Sql } from './sql.js';

/**
 * Reads of the `completions` projection. The writer keeps rows unique (exactly-once by Kafka offset), so reads
 * use no FINAL. A list page is found in three steps: the hourly rollup gives the total and bounds the time window
 * that holds the first offset+limit rows; the page's keys are sorted out of that window on the narrow sort
 * columns; only then are the page's wide rows fetched — deep offsets never read request/response bodies of the
 * rows they skip.
 */

/** The columns an API item is built from (request bodies are not part of the item). */
export interface StoredCompletion {
  completion_id: string;
  event_id: string;
  source: string;
  model: string;
  provider: string;
  container: string;
  has_usage: number;
  prompt_tokens: string;
  completion_tokens: string;
  total_tokens: string;
  cached_tokens: string | null;
  cache_creation_tokens: string | null;
  reasoning_tokens: string | null;
  spend_nanos: string | null;
  tags: string[];
  metadata_json: string | null;
  trace_json: string | null;
  response_json: string | null;
  created_ms: string;
}

const ITEM_COLUMNS = raw(
  [
    'completion_id',
    'event_id',
    'source',
    'model',
    'provider',
    'container',
    'has_usage',
    'prompt_tokens',
    'completion_tokens',
    'total_tokens',
    'cached_tokens',
    'cache_creation_tokens',
    'reasoning_tokens',
    'spend_nanos',
    'tags',
    'metadata_json',
    'trace_json',
    'response_json',
    'created_ms',
  ].join(', '),
);

export interface ListFilter {
  /** Stored model values to match (any). */
  models?: readonly string[] | undefined;
  container?: string | undefined;
}

export interface ListParams extends ListFilter {
  limit: number;
  offset: number;
  order: 'asc' | 'desc';
}

interface PageKey {
  completion_id: string;
  event_id: string;
  created_s: number;
}

export class CompletionStore {
  private readonly db: Sql;

  constructor(
    private readonly client: ClickHouseClient,
    database: string,
    private readonly duration?: ReturnType<typeof Metrics.prototype.histogram<'query'>>,
  ) {
    this.db = ident(database);
  }

  private async rows<T>(name: string, query: Sql): Promise<T[]> {
    const end = this.duration?.startTimer({ query: name });
    try {
      const rs = await this.client.query({ query: query.text, format: 'JSONEachRow' });
      return await rs.json<T>();
    } finally {
      end?.();
    }
  }

  private where(projectId: string, filter: ListFilter): Sql {
    const conditions = [sql`project_id = ${projectId}`];
    if (filter.models !== undefined) conditions.push(sql`model IN ${inList(filter.models)}`);
    if (filter.container !== undefined) conditions.push(sql`container = ${filter.container}`);
    return joinSql(conditions, ' AND ');
  }

  /**
   * From the hourly rollup (fed by the same inserts as the rows, so its counts are the rows' counts): the total
   * matching the filter, and a time bound that contains the first `offset + limit` rows in the requested order,
   * so the page query reads only the newest (or oldest) hours instead of sorting the project's whole history.
   * The bound is null when the whole history is needed anyway. One small query: a `count()` over the rows reads
   * a column of every matching row (~50 ms for 8 million), the rollup a row per hour.
   */
  private async window(projectId: string, params: ListParams): Promise<{ bound: Sql | null; total: number }> {
    const need = params.offset + params.limit;
    const direction = raw(params.order === 'asc' ? 'ASC' : 'DESC');
    const hours = await this.rows<{ h: number; n: string }>(
      'list_window',
      sql`SELECT toUInt32(hour) AS h, sum(requests) AS n FROM ${this.db}.usage_hourly
        WHERE ${this.where(projectId, params)}
        GROUP BY hour ORDER BY hour ${direction}`,
    );
    let total = 0;
    let bound: Sql | null = null;
    for (const [i, { h, n }] of hours.entries()) {
      total += Number(n);
      if (bound || total < need || i === hours.length - 1) continue;
      const hour = Number(h);
      bound =
        params.order === 'asc'
          ? sql`created_at < toDateTime(${hour + 3600})`
          : sql`created_at >= toDateTime(${hour})`;
    }
    return { bound, total };
  }

  private page(projectId: string, params: ListParams, bound: Sql | null): Promise<PageKey[]> {
    const where = this.where(projectId, params);
    const direction = raw(params.order === 'asc' ? 'ASC' : 'DESC');
    return this.rows<PageKey>(
      bound ? 'list_page' : 'list_page_unbounded',
      sql`SELECT completion_id, event_id, toUInt32(created_at) AS created_s
        FROM ${this.db}.completions
        WHERE ${bound ? sql`${where} AND ${bound}` : where}
        ORDER BY created_ms ${direction}, completion_id ${direction}, event_id ${direction}
        LIMIT ${params.limit} OFFSET ${params.offset}`,
    );
  }

  async list(projectId: string, params: ListParams): Promise<{ items: StoredCompletion[]; total: number }> {
    const window = await this.window(projectId, params);
    let total = window.total;
    let keys = await this.page(projectId, params, window.bound);
    if (keys.length !== Math.max(0, Math.min(params.limit, total - params.offset))) {
      // The rollup disagrees with the rows (rows stored between the two queries, or a rollup that was altered by
      // hand): answer from the rows alone.
      const [counted, page] = await Promise.all([
        this.rows<{ total: string }>(
          'list_total',
          sql`SELECT count() AS total FROM ${this.db}.completions WHERE ${this.where(projectId, params)}`,
        ),
        window.bound ? this.page(projectId, params, null) : Promise.resolve(keys),
      ]);
      total = Number(counted[0]?.total ?? 0);
      keys = page;
    }
    if (keys.length === 0) return { items: [], total };
    const seconds = keys.map((k) => Number(k.created_s));
    const rows = await this.rows<StoredCompletion>(
      'list_rows',
      sql`SELECT ${ITEM_COLUMNS} FROM ${this.db}.completions
        WHERE project_id = ${projectId}
          AND created_at >= toDateTime(${Math.min(...seconds)}) AND created_at <= toDateTime(${Math.max(...seconds)})
          AND completion_id IN ${inList(keys.map((k) => k.completion_id))}
          AND event_id IN ${inList(keys.map((k) => k.event_id))}`,
    );
    const byEvent = new Map(rows.map((r) => [r.event_id, r]));
    const items: StoredCompletion[] = [];
    for (const key of keys) {
      const row = byEvent.get(key.event_id);
      if (row) items.push(row);
    }
    return { items, total };
  }

  /** The completion with this id in this project, or null (another project's id is simply not found). */
  async get(projectId: string, completionId: string): Promise<StoredCompletion | null> {
    const [key] = await this.rows<PageKey>(
      'get_lookup',
      sql`SELECT completion_id, event_id, toUInt32(created_at) AS created_s
        FROM ${this.db}.completions_by_id
        WHERE project_id = ${projectId} AND completion_id = ${completionId}
        ORDER BY created_ms, event_id
        LIMIT 1`,
    );
    if (!key) return null;
    const [row] = await this.rows<StoredCompletion>(
      'get_row',
      sql`SELECT ${ITEM_COLUMNS} FROM ${this.db}.completions
        WHERE project_id = ${projectId} AND created_at = toDateTime(${Number(key.created_s)})
          AND completion_id = ${completionId} AND event_id = ${key.event_id}
        LIMIT 1`,
    );
    return row ?? null;
  }
}
