import type { ClickHouseClient } from '@clickhouse/client';
import {
  createClickHouse,
  type ControlPlane,
  type GatewayConfig,
  type HostedComponent,
  type Logger,
  type Metrics,
  type ReadinessCheck,
} from '@maniac-gateway/runtime';
import type { FastifyInstance } from 'fastify';
import { queryApi } from './plugin.js';

export interface QueryApiDeps {
  config: GatewayConfig;
  controlPlane: ControlPlane;
  logger: Logger;
  metrics: Metrics;
  /** Default: a client for `config.clickhouse` (closed on stop). */
  clickhouse?: ClickHouseClient;
}

/** query-api as a hosted component: its routes, and ClickHouse reachability for /readyz. */
export class QueryApi implements HostedComponent {
  readonly name = 'query-api';
  readonly clickhouse: ClickHouseClient;
  private readonly ownsClient: boolean;
  private lastPing: { at: number; problem: string | null } = { at: 0, problem: 'not checked yet' };

  constructor(private readonly deps: QueryApiDeps) {
    this.ownsClient = deps.clickhouse === undefined;
    this.clickhouse =
      deps.clickhouse ?? createClickHouse(deps.config.clickhouse, { requestTimeoutMs: 30_000 });
  }

  readonly plugin = async (app: FastifyInstance): Promise<void> => {
    await queryApi(app, {
      config: this.deps.config,
      clickhouse: this.clickhouse,
      controlPlane: this.deps.controlPlane,
      logger: this.deps.logger,
      metrics: this.deps.metrics,
    });
  };

  async start(): Promise<void> {
    const problem = await this.ping();
    if (problem) this.deps.logger.warn({ problem }, 'ClickHouse not reachable yet; reads fail until it is');
  }

  async stop(): Promise<void> {
    if (this.ownsClient) await this.clickhouse.close();
  }

  private async ping(): Promise<string | null> {
    try {
      const result = await this.clickhouse.ping();
      this.lastPing = { at: Date.now(), problem: result.success ? null : String(result.error) };
    } catch (err) {
      this.lastPing = { at: Date.now(), problem: err instanceof Error ? err.message : String(err) };
    }
    return this.lastPing.problem;
  }

  checks(): ReadinessCheck[] {
    return [
      {
        name: 'query_clickhouse',
        // At most one ping per second however often /readyz is polled.
        check: () => (Date.now() - this.lastPing.at < 1_000 ? this.lastPing.problem : this.ping()),
      },
    ];
  }
}
