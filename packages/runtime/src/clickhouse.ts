import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { GatewayConfig } from './config.js';

export type { ClickHouseClient } from '@clickhouse/client';

/**
 * A ClickHouse HTTP client for the configured server. The database is not selected here: SQL names it
 * explicitly (`db.table`), so the same client serves migrations (which create the database) and queries.
 */
export function createClickHouse(
  config: GatewayConfig['clickhouse'],
  options: { requestTimeoutMs?: number } = {},
): ClickHouseClient {
  return createClient({
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
