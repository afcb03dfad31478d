import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { GatewayConfig } from './config.js';

export type { ClickHouseClient } from '@clickhouse/client';

/**
 * A ClickHouse HTTP client for the configured server. The database is not selected here: SQL names it
 * explicitly (`db.table`), so the same client serves migrations (which create the database) and queries.
 */
export function createClickHouse(
  config: GatewayConfig['clickhouse'],
  options: {
    requestTimeoutMs?: number;
    /**
     * Reuse connections (default true). Off for writers: ClickHouse keeps serving requests on open keep-alive
     * connections for seconds after SIGTERM, while it shuts down, and an INSERT cut there stores its rows and the
     * first views' rows but not the rest (18.16's views are not atomic; seen: rows in `completions` and the
     * offset fence, none in the rollups). On fresh connections a stopping server refuses the request instead.
     */
    keepAlive?: boolean;
  } = {},
): ClickHouseClient {
  return createClient({
    keep_alive: { enabled: options.keepAlive ?? true },
    url: config.url,
    username: config.username,
    password: config.password,
    request_timeout: options.requestTimeoutMs ?? 30_000,
    max_open_connections: 16,
    compression: { request: false, response: false },
    clickhouse_settings: {},
    // Failures surface as rejected promises that callers log with context; the client's own console logging is off.
    log: { level: ClickHouseLogLevel.OFF },
  });
}
