import { createLogger } from '@maniac-gateway/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/index.js';
import { dropDatabase, queryRows, testClickHouse, uniqueName } from './support.js';

describe('ClickHouse migrations', () => {
  const ch = testClickHouse();
  const db = uniqueName('wt_mig');
  const logger = createLogger({ name: 'test', level: 'warn' });

  afterAll(async () => {
    await dropDatabase(ch, db);
    await ch.close();
  });

  it('apply in order, are recorded, and are a no-op the second time', async () => {
    const first = await migrate(ch, { database: db, logger });
    expect(first.applied).toEqual([
      '001_completions.sql',
      '002_completions_by_id.sql',
      '003_kafka_offsets.sql',
      '004_usage_rollups.sql',
    ]);
    const second = await migrate(ch, { database: db, logger });
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(first.applied);
    const tables = await queryRows<{ name: string }>(
      ch,
      `SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`,
    );
    expect(tables.map((t) => t.name)).toEqual([
      'completions',
      'completions_by_id',
      'completions_by_id_mv',
      'kafka_offsets',
      'kafka_offsets_mv',
      'schema_migrations',
      'usage_daily',
      'usage_daily_mv',
      'usage_hourly',
      'usage_hourly_mv',
    ]);
    const recorded = await queryRows<{ version: number }>(
      ch,
      `SELECT version FROM ${db}.schema_migrations FINAL ORDER BY version`,
    );
    expect(recorded.map((r) => Number(r.version))).toEqual([1, 2, 3, 4]);
  });

  it('two migrators at once converge', async () => {
    const other = uniqueName('wt_mig2');
    try {
      await Promise.all([migrate(ch, { database: other, logger }), migrate(ch, { database: other, logger })]);
      const tables = await queryRows<{ n: string }>(
        ch,
        `SELECT count() AS n FROM system.tables WHERE database = '${other}'`,
      );
      expect(Number(tables[0]!.n)).toBe(10);
    } finally {
      await dropDatabase(ch, other);
    }
  });
});
