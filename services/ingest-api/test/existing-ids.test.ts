import { createClient } from '@clickhouse/client';
import { afterAll, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '@maniac-gateway/testkit';
import { ClickHouseExistingIds } from '../src/register/existing-ids.js';

/** The register path's lookup of stored ids, against real ClickHouse (more ids than one query's chunk). */
describe('ClickHouseExistingIds', () => {
  const ch = createClient({ url: testEnv().clickhouseUrl });
  const db = uniqueName('existing').replace(/[^A-Za-z0-9_]/g, '_');

  afterAll(async () => {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await ch.close();
  });

  it('finds the stored ids of the project, and only those', async () => {
    await ch.command({ query: `CREATE DATABASE ${db}` });
    await ch.command({
      query: `CREATE TABLE ${db}.completions_by_id (project_id String, completion_id String)
        ENGINE = MergeTree ORDER BY (project_id, completion_id)`,
    });
    const stored = Array.from({ length: 1500 }, (_, i) => `chatcmpl-${i}`);
    await ch.insert({
      table: `${db}.completions_by_id`,
      values: [
        ...stored.filter((_, i) => i % 2 === 0).map((id) => ({ project_id: 'proj_a', completion_id: id })),
        { project_id: 'proj_b', completion_id: 'chatcmpl-1' },
        { project_id: 'proj_a', completion_id: "it's \\ odd" },
      ],
      format: 'JSONEachRow',
    });
    const found = await new ClickHouseExistingIds(ch, db).find('proj_a', [
      ...stored,
      "it's \\ odd",
      'missing',
    ]);
    expect(found.size).toBe(751);
    expect(found.has('chatcmpl-1498')).toBe(true);
    expect(found.has('chatcmpl-1')).toBe(false);
    expect(found.has("it's \\ odd")).toBe(true);
    expect((await new ClickHouseExistingIds(ch, db).find('proj_a', [])).size).toBe(0);
  });
});
