import {
  ApiError,
  sqlIdentifier,
  sqlInt,
  sqlString,
  type ClickHouseClient,
  type Logger,
} from '@maniac-gateway/runtime';
import type { ProjectRecord } from '@maniac-gateway/schemas';

const HOUR_MS = 3_600_000;
/** How far behind the writer may be: spend after the watermark is counted from this instance's own records. */
const WRITER_LAG_MS = 120_000;

export interface BudgetLimits {
  monthlyNanos: number | null;
  totalNanos: number | null;
}

interface ProjectSpend {
  /** From the ClickHouse hourly rollups, hours before `watermarkMs`. */
  baseMonth: number;
  baseTotal: number;
  month: string;
  watermarkMs: number;
  /** Settled by this instance at or after the watermark: minute index → nanos. */
  settled: Map<number, number>;
  /** Reserved by requests in flight. */
  reserved: number;
  loadedAt: number;
}

/** The UTC month holding the last instant asked about: every request asks, and the answer changes monthly. */
let cachedMonth = { startMs: 0, endMs: 0, month: '' };

export function monthBounds(ms: number): { startMs: number; endMs: number; month: string } {
  if (ms >= cachedMonth.startMs && ms < cachedMonth.endMs) return cachedMonth;
  const d = new Date(ms);
  cachedMonth = {
    startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
    month: d.toISOString().slice(0, 7),
  };
  return cachedMonth;
}

function monthOf(ms: number): string {
  return monthBounds(ms).month;
}

function monthStartMs(ms: number): number {
  return monthBounds(ms).startMs;
}

/** The hour boundary below which the writer has certainly stored everything. */
function watermark(now: number): number {
  return Math.floor((now - WRITER_LAG_MS) / HOUR_MS) * HOUR_MS;
}

/**
 * Project spend budgets (per calendar month, UTC, and in total). Spend is the ClickHouse rollups up to an hour
 * watermark plus what this instance settled since, plus reservations of requests in flight — so restarts do not
 * forget spend, and a burst of parallel requests overshoots by at most what is in flight. Checks are in memory;
 * the rollups are re-read in the background.
 */
export class BudgetTracker {
  private readonly spend = new Map<string, ProjectSpend>();
  private readonly loading = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly clickhouse: ClickHouseClient,
    private readonly database: string,
    private readonly logger: Logger,
    private readonly refreshMs = 30_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.refreshAll(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  problem(): string | null {
    return this.lastError;
  }

  private async load(projectId: string): Promise<void> {
    const now = Date.now();
    const mark = watermark(now);
    const db = sqlIdentifier(this.database);
    const monthStart = Math.floor(monthStartMs(now) / 1000);
    let baseMonth = 0;
    let baseTotal = 0;
    try {
      const rs = await this.clickhouse.query({
        query: `SELECT toString(sum(spend_nanos_sum)) AS total,
                       toString(sumIf(spend_nanos_sum, hour >= toDateTime(${sqlInt(monthStart)}))) AS month
                FROM ${db}.usage_hourly
                WHERE project_id = ${sqlString(projectId)} AND source = 'completion'
                  AND hour < toDateTime(${sqlInt(Math.floor(mark / 1000))})`,
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ total: string; month: string }>();
      baseTotal = Number(row?.total ?? 0);
      baseMonth = Number(row?.month ?? 0);
      this.lastError = null;
    } catch (err) {
      this.lastError = `budget reconcile failed: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.warn(
        { err, project_id: projectId },
        'could not read spend from ClickHouse; using local records',
      );
      const previous = this.spend.get(projectId);
      if (previous) return;
    }
    const previous = this.spend.get(projectId);
    const settled = new Map<number, number>();
    for (const [minute, nanos] of previous?.settled ?? []) {
      if (minute * 60_000 >= mark) settled.set(minute, nanos);
    }
    this.spend.set(projectId, {
      baseMonth,
      baseTotal,
      month: monthOf(now),
      watermarkMs: mark,
      settled,
      reserved: previous?.reserved ?? 0,
      loadedAt: now,
    });
  }

  private ensure(projectId: string): Promise<void> {
    let pending = this.loading.get(projectId);
    if (!pending) {
      pending = this.load(projectId).finally(() => this.loading.delete(projectId));
      this.loading.set(projectId, pending);
    }
    return pending;
  }

  private async refreshAll(): Promise<void> {
    for (const projectId of this.spend.keys()) await this.ensure(projectId);
  }

  /** Loads (or refreshes) a project's spend from the rollups when needed; cheap when current. */
  async prepare(projectId: string): Promise<void> {
    const state = this.spend.get(projectId);
    const now = Date.now();
    if (!state || state.month !== monthOf(now) || watermark(now) !== state.watermarkMs)
      await this.ensure(projectId);
  }

  /** Current spend (month UTC, and total): settled plus reserved. Synchronous; call `prepare` first. */
  current(projectId: string): { month: number; total: number } {
    const state = this.spend.get(projectId);
    if (!state) return { month: 0, total: 0 };
    const monthStart = monthStartMs(Date.now());
    let recentMonth = 0;
    let recentTotal = 0;
    for (const [minute, nanos] of state.settled) {
      recentTotal += nanos;
      if (minute * 60_000 >= monthStart) recentMonth += nanos;
    }
    return {
      month: state.baseMonth + recentMonth + state.reserved,
      total: state.baseTotal + recentTotal + state.reserved,
    };
  }

  /**
   * 402 `budget_exceeded` when a budget is reached; otherwise reserves the estimate in the same synchronous
   * step, so parallel requests see each other's reservations.
   */
  checkAndReserve(
    project: ProjectRecord,
    limits: BudgetLimits,
    estimateNanos: number,
    receivedMs: number,
  ): ((actualNanos: number | null) => void) | null {
    if (limits.monthlyNanos === null && limits.totalNanos === null) return null;
    const spent = this.current(project.id);
    const over = (period: 'month' | 'total', budget: number | null, value: number) => {
      if (budget === null || value < budget) return;
      throw new ApiError(
        402,
        'budget_exceeded',
        `Project ${project.name} has reached its ${period === 'month' ? 'monthly' : 'total'} budget`,
        {
          period: period === 'month' ? monthOf(Date.now()) : 'total',
          budget: budget / 1e9,
          spend: value / 1e9,
        },
      );
    };
    over('month', limits.monthlyNanos, spent.month);
    over('total', limits.totalNanos, spent.total);
    return this.reserve(project.id, estimateNanos, receivedMs);
  }

  /**
   * Reserves an estimate; `settle` replaces it with the real spend (null when unknown), recorded at the
   * request's receive time — the time its event carries, so the rollup watermark never counts it twice.
   */
  reserve(
    projectId: string,
    estimateNanos: number,
    receivedMs: number,
  ): (actualNanos: number | null) => void {
    const state = this.spend.get(projectId);
    if (state) state.reserved += estimateNanos;
    let done = false;
    return (actual) => {
      if (done) return;
      done = true;
      const s = this.spend.get(projectId);
      if (!s) return;
      if (state === s) s.reserved = Math.max(0, s.reserved - estimateNanos);
      if (actual !== null && actual > 0) {
        const minute = Math.floor(receivedMs / 60_000);
        s.settled.set(minute, (s.settled.get(minute) ?? 0) + actual);
      }
    };
  }
}
