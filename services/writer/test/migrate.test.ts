import { createLogger } from '@maniac-gateway/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { ClickHouseSink } from '../src/clickhouse-sink.js';
import { loadMigrations, migrate } from '../src/index.js';
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
      '005_event_ids.sql',
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
      'event_ids',
      'event_ids_mv',
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
    expect(recorded.map((r) => Number(r.version))).toEqual([1, 2, 3, 4, 5]);
  });

  it('005 backfills the event-id fence from rows stored before it', async () => {
    const other = uniqueName('wt_mig3');
    try {
      const all = loadMigrations();
      await migrate(ch, { database: other, logger, migrations: all.filter((m) => m.version < 5) });
      const rows = [0, 1, 2].map((i) => sampleRow(i));
      await ch.insert({ table: `${other}.completions`, values: rows, format: 'JSONEachRow' });
      const result = await migrate(ch, { database: other, logger });
      expect(result.applied).toEqual(['005_event_ids.sql']);
      const sink = new ClickHouseSink(ch, other);
      const found = await sink.storedEventIds([
        ...rows,
        { event_id: 'not-stored', created_ms: rows[0]!.created_ms },
      ]);
      expect([...found].sort()).toEqual(rows.map((r) => r.event_id).sort());
      // …and the view keeps it current for rows inserted afterwards.
      const later = sampleRow(3);
      await ch.insert({ table: `${other}.completions`, values: [later], format: 'JSONEachRow' });
      expect([...(await sink.storedEventIds([later]))]).toEqual([later.event_id]);
    } finally {
      await dropDatabase(ch, other);
    }
  });

  it('two migrators at once converge', async () => {
    const other = uniqueName('wt_mig2');
    try {
      await Promise.all([migrate(ch, { database: other, logger }), migrate(ch, { database: other, logger })]);
      const tables = await queryRows<{ n: string }>(
        ch,
        `SELECT count() AS n FROM system.tables WHERE database = '${other}'`,
      );
      expect(Number(tables[0]!.n)).toBe(12);
    } finally {
      await dropDatabase(ch, other);
    }
  });
});

/** A minimal completions row (the columns without defaults). */
function sampleRow(i: number) {
  const created_ms = Date.UTC(2026, 10, 27, 12, 0, i);
  return {
    event_id: `evt-${i}-${created_ms}`,
    source: 'completion',
    completion_id: `chatcmpl-${i}`,
    project_id: 'proj_mig',
    container: '',
    model: 'openai/gpt-4o',
    provider: 'openai',
    stream: 0,
    status: 'success',
    http_status: 200,
    has_usage: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    latency_ms: 1,
    attempt_count: 1,
    attempts_json: '[]',
    tags: [],
    request_json: '{}',
    created_at: Math.floor(created_ms / 1000),
    created_ms,
    kafka_topic: 't',
    kafka_partition: 0,
    kafka_offset: i,
  };
}
