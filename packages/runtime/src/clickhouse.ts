import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { GatewayConfig } from './config.js';

export type { ClickHouseClient } from '@clickhouse/client';

/**
 * A ClickHouse HTTP client for the configured server. Queries name their database explicitly
 * (`db.table`), so the same client serves the live tables and a rebuild's fresh set.
 */
export function createClickHouse(
  config: GatewayConfig['clickhouse'],
  options: { requestTimeoutMs?: number; maxOpenConnections?: number } = {},
): ClickHouseClient {
  return createClient({
    url: config.url,
    username: config.username,
    password: config.password,
    request_timeout: options.requestTimeoutMs ?? 30_000,
    max_open_connections: options.maxOpenConnections ?? 10,
    application: 'maniac-gateway',
  });
}

/** The server's major.minor version (e.g. [18, 16]); features differ between 18.16 (CI) and current releases. */
export async function clickhouseVersion(client: ClickHouseClient): Promise<[number, number]> {
  const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
  const rows = await rs.json<{ v: string }>();
  const [major, minor] = (rows[0]?.v ?? '0.0').split('.').map(Number);
  return [major ?? 0, minor ?? 0];
}
