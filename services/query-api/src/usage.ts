import type { ClickHouseClient } from '@clickhouse/client';
import type { Metrics } from '@maniac-gateway/runtime';
import { z } from 'zod';
import { modelFilter } from './model-id.js';
import { spendUsd } from './render.js';
import { ident, inList, joinSql, raw, sql, type Sql } from './sql.js';

/**
 * `GET /usage` (beyond the spec): the usage rollups of the key's project over a time range, grouped by any of
 * container, model, provider, source, day and hour. Served from the hourly/daily SummingMergeTree rollups,
 * which the writer feeds exactly once, so they agree with the rows.
 */

export const USAGE_DIMENSIONS = ['container', 'model', 'provider', 'source', 'day', 'hour'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MAX_GROUPS = 10_000;

export function lastValue(value: unknown): unknown {
  return Array.isArray(value) ? value.at(-1) : value;
}

/** ISO 8601 date or date-time (UTC unless an offset is given), or unix seconds → epoch ms. */
export function parseInstant(text: string): number | null {
  const t = text.trim();
  if (/^\d{1,12}$/.test(t)) return Number(t) * 1000;
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const ms = Date.parse(`${t}T00:00:00Z`);
    return Number.isNaN(ms) ? null : ms;
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(t)) {
    const normalised = t.replace(' ', 'T');
    const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/i.test(normalised) ? normalised : `${normalised}Z`);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

export function instant() {
  return z.preprocess((raw, ctx) => {
    const value = lastValue(raw);
    if (value === undefined) return undefined;
    const ms = typeof value === 'string' ? parseInstant(value) : null;
    if (ms === null) {
      ctx.addIssue({
        code: 'custom',
        input: value,
        message: 'Input should be a valid datetime or date (ISO 8601) or unix seconds',
        params: { pydantic: { type: 'datetime_parsing' } },
      });
      return z.NEVER;
    }
    return ms;
  }, z.number().optional());
}

/** `group_by=model,day` or `group_by=model&group_by=day`. */
const groupBy = z.preprocess(
  (raw) => {
    if (raw === undefined) return [];
    const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(','));
    return parts.map((p) => p.trim()).filter((p) => p !== '');
  },
  z.array(z.enum(USAGE_DIMENSIONS)),
);

export const UsageQuery = z.object({
  from: instant(),
  to: instant(),
  group_by: groupBy,
  source: z.preprocess(lastValue, z.enum(['completion', 'register', 'all'])).default('completion'),
  model: z.preprocess(lastValue, z.string()).optional(),
  container: z.preprocess(lastValue, z.string()).optional(),
});
export type UsageQuery = z.infer<typeof UsageQuery>;

export interface UsageRange {
  fromMs: number;
  toMs: number;
  /** Daily rollup when both bounds are whole UTC days and no hourly grouping is asked for. */
  table: 'usage_daily' | 'usage_hourly';
}

/**
 * Range defaults (the last 30 days up to now) and resolution: bounds are rounded down to the hour (hourly
 * buckets are the finest); a bucket is included when it starts within [from, to).
 */
export function resolveRange(query: UsageQuery, nowMs: number = Date.now()): UsageRange | { error: string } {
  const toMs = query.to ?? nowMs;
  const fromMs = query.from ?? Math.floor((toMs - 30 * DAY_MS) / DAY_MS) * DAY_MS;
  if (fromMs >= toMs) return { error: '`from` must be before `to`' };
  const from = Math.floor(fromMs / HOUR_MS) * HOUR_MS;
  const wholeDays = from % DAY_MS === 0 && toMs % DAY_MS === 0;
  return {
    fromMs: from,
    toMs,
    table: wholeDays && !query.group_by.includes('hour') ? 'usage_daily' : 'usage_hourly',
  };
}

export interface UsageTotals {
  requests: number;
  errors: number;
  cancelled: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
  cache_creation_tokens: number;
  reasoning_tokens: number;
  /** USD, over the requests whose price was known. */
  spend: number;
  /** Requests whose spend is unknown (no price): `spend` excludes them. */
  spend_unknown_requests: number;
  avg_latency_ms: number | null;
}

export type UsageRow = Partial<Record<UsageDimension, string>> & UsageTotals;

export interface UsageResult {
  object: 'usage';
  from: string;
  to: string;
  source: UsageQuery['source'];
  group_by: UsageDimension[];
  granularity: 'day' | 'hour';
  data: UsageRow[];
  totals: UsageTotals;
  truncated: boolean;
}

const MEASURES = raw(`sum(requests) AS t_requests, sum(errors) AS t_errors, sum(cancelled) AS t_cancelled,
  sum(prompt_tokens_sum) AS t_prompt_tokens, sum(completion_tokens_sum) AS t_completion_tokens,
  sum(total_tokens_sum) AS t_total_tokens, sum(cached_tokens_sum) AS t_cached_tokens,
  sum(cache_creation_tokens_sum) AS t_cache_creation_tokens, sum(reasoning_tokens_sum) AS t_reasoning_tokens,
  sum(spend_nanos_sum) AS t_spend_nanos, sum(spend_unknown) AS t_spend_unknown, sum(latency_ms_sum) AS t_latency_ms`);

/** Measures are aliased t_<name>: `sum(requests) AS requests` would be a cycle for ClickHouse 18.16. */
type RawTotals = Record<
  | 't_requests'
  | 't_errors'
  | 't_cancelled'
  | 't_prompt_tokens'
  | 't_completion_tokens'
  | 't_total_tokens'
  | 't_cached_tokens'
  | 't_cache_creation_tokens'
  | 't_reasoning_tokens'
  | 't_spend_nanos'
  | 't_spend_unknown'
  | 't_latency_ms',
  string
>;

function totalsOf(row: RawTotals | undefined): UsageTotals {
  const n = (v: string | undefined) => Number(v ?? 0);
  const requests = n(row?.t_requests);
  return {
    requests,
    errors: n(row?.t_errors),
    cancelled: n(row?.t_cancelled),
    prompt_tokens: n(row?.t_prompt_tokens),
    completion_tokens: n(row?.t_completion_tokens),
    total_tokens: n(row?.t_total_tokens),
    cached_tokens: n(row?.t_cached_tokens),
    cache_creation_tokens: n(row?.t_cache_creation_tokens),
    reasoning_tokens: n(row?.t_reasoning_tokens),
    spend: spendUsd(row?.t_spend_nanos ?? 0) ?? 0,
    spend_unknown_requests: n(row?.t_spend_unknown),
    avg_latency_ms: requests > 0 ? Math.round(n(row?.t_latency_ms) / requests) : null,
  };
}

function dimensionExpr(dim: UsageDimension, table: UsageRange['table']): Sql {
  switch (dim) {
    case 'day':
      return raw(table === 'usage_daily' ? 'toString(day)' : 'toString(toDate(hour))');
    case 'hour':
      return raw("concat(replaceOne(toString(hour), ' ', 'T'), 'Z')");
    default:
      return raw(dim);
  }
}

export class UsageStore {
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

  async usage(projectId: string, query: UsageQuery, range: UsageRange): Promise<UsageResult> {
    const groupBy = [...new Set(query.group_by)];
    const table = ident(range.table);
    const conditions = [sql`project_id = ${projectId}`];
    if (range.table === 'usage_daily') {
      conditions.push(sql`day >= toDate(${isoDay(range.fromMs)})`, sql`day < toDate(${isoDay(range.toMs)})`);
    } else {
      conditions.push(
        sql`hour >= toDateTime(${Math.floor(range.fromMs / 1000)})`,
        sql`hour < toDateTime(${Math.ceil(range.toMs / 1000)})`,
      );
    }
    if (query.source !== 'all') conditions.push(sql`source = ${query.source}`);
    if (query.model !== undefined && query.model.trim() !== '') {
      const filter = modelFilter(query.model);
      if (filter.container !== null) conditions.push(sql`container = ${filter.container}`);
      if (filter.models.length > 0 || filter.container === null) {
        conditions.push(sql`model IN ${inList(filter.models)}`);
      }
    }
    if (query.container !== undefined && query.container !== '') {
      conditions.push(sql`container = ${query.container}`);
    }
    const where = joinSql(conditions, ' AND ');
    // Aliased g_<dim>: an alias equal to the column it is computed from is a cycle for ClickHouse 18.16.
    const dims = groupBy.map((d) => sql`${dimensionExpr(d, range.table)} AS ${raw(`g_${d}`)}`);
    const aliases = raw(groupBy.map((d) => `g_${d}`).join(', '));
    const [totals, groups] = await Promise.all([
      this.rows<RawTotals>('usage_totals', sql`SELECT ${MEASURES} FROM ${this.db}.${table} WHERE ${where}`),
      groupBy.length === 0
        ? Promise.resolve([] as (RawTotals & Record<string, string>)[])
        : this.rows<RawTotals & Record<string, string>>(
            'usage_groups',
            sql`SELECT ${joinSql(dims, ', ')}, ${MEASURES} FROM ${this.db}.${table} WHERE ${where}
              GROUP BY ${aliases} ORDER BY ${aliases}
              LIMIT ${MAX_GROUPS + 1}`,
          ),
    ]);
    const data: UsageRow[] = groups.slice(0, MAX_GROUPS).map((g) => {
      const keys: Partial<Record<UsageDimension, string>> = {};
      for (const d of groupBy) keys[d] = g[`g_${d}`] ?? '';
      return { ...keys, ...totalsOf(g) };
    });
    return {
      object: 'usage',
      from: new Date(range.fromMs).toISOString(),
      to: new Date(range.toMs).toISOString(),
      source: query.source,
      group_by: groupBy,
      granularity: range.table === 'usage_daily' ? 'day' : 'hour',
      data,
      totals: totalsOf(totals[0]),
      truncated: groups.length > MAX_GROUPS,
    };
  }
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
