import {
  sqlIdentifier,
  sqlString,
  sqlStringList,
  type ClickHouseClient,
  type Logger,
} from '@maniac-gateway/runtime';

/** A container's counters, from the daily usage rollup (all time). */
export interface ContainerStats {
  /** Completions sent through `maniac:<label>` (every outcome: success, error, cancelled). */
  completions: number;
  /** Examples registered to the container. */
  registered_examples: number;
  /** USD spent through the container (completions whose price is known; registered examples excluded). */
  spend: number;
}

export interface ContainerStatsSource {
  /** Counters per label (labels without telemetry get zeros), or null when ClickHouse cannot answer. */
  forLabels(projectId: string, labels: readonly string[]): Promise<Map<string, ContainerStats> | null>;
}

const EMPTY: ContainerStats = { completions: 0, registered_examples: 0, spend: 0 };

/**
 * Reads the counters from `usage_daily` (summed per project, container and source; the writer feeds it exactly
 * once, so the sums are exact). A container response never fails because of this: if ClickHouse is down or slow
 * (past `timeoutMs`) the counters are null and a warning is logged.
 */
export class ClickHouseContainerStats implements ContainerStatsSource {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
    private readonly logger: Logger,
    private readonly timeoutMs = 2_000,
  ) {}

  async forLabels(projectId: string, labels: readonly string[]): Promise<Map<string, ContainerStats> | null> {
    const stats = new Map<string, ContainerStats>(labels.map((l) => [l, { ...EMPTY }]));
    if (labels.length === 0) return stats;
    try {
      const rs = await this.client.query({
        query: `SELECT container, source, sum(requests) AS n, sum(spend_nanos_sum) AS spend_nanos
          FROM ${sqlIdentifier(this.database)}.usage_daily
          WHERE project_id = ${sqlString(projectId)} AND container IN ${sqlStringList([...new Set(labels)])}
          GROUP BY container, source`,
        format: 'JSONEachRow',
        abort_signal: AbortSignal.timeout(this.timeoutMs),
      });
      const rows = await rs.json<{ container: string; source: string; n: string; spend_nanos: string }>();
      for (const row of rows) {
        const s = stats.get(row.container);
        if (!s) continue;
        if (row.source === 'completion') {
          s.completions += Number(row.n);
          s.spend += Number(row.spend_nanos) / 1e9;
        } else if (row.source === 'register') {
          s.registered_examples += Number(row.n);
        }
      }
      return stats;
    } catch (err) {
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'container stats: ClickHouse did not answer; counters are null',
      );
      return null;
    }
  }

  async forLabel(projectId: string, label: string): Promise<ContainerStats | null> {
    return (await this.forLabels(projectId, [label]))?.get(label) ?? null;
  }
}
