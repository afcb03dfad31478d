import { randomUUID } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident, sql } from '../src/sql.js';

/** Every string survives the literal formatter through a real ClickHouse: as a value and as a filter. */

const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const database = `qa_sql_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;

const HOSTILE = [
  "'",
  "\\'",
  "\\\\'",
  "' OR '1'='1",
  "'; DROP DATABASE default; --",
  '\\',
  'a\\',
  'back\\slash\\n (not a newline)',
  'line\nbreak',
  'tab\there',
  'cr\r\nlf',
  'nul\0byte',
  '\b\f\v\u0007\u001b',
  '/* comment */ --',
  '`backtick` "double"',
  '{name:String}',
  '$1 ? :param',
  'ünïcödé — 中文 — العربية',
  '😀👍🏽🏳️‍🌈',
  '\u2028\u2029',
  "x' FORMAT TabSeparated --",
  ' leading and trailing ',
  '',
];

/** Lone surrogates cannot be sent as UTF-8; everything else must round-trip exactly. */
const wellFormed = (s: string) => !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''));

describe('SQL literals round-trip through ClickHouse', () => {
  const ch = createClient({ url: CLICKHOUSE_URL });
  const db = ident(database);

  beforeAll(async () => {
    await ch.command({ query: sql`CREATE DATABASE IF NOT EXISTS ${db}`.text });
    await ch.command({
      query: sql`CREATE TABLE ${db}.strings (id UInt32, v String) ENGINE = MergeTree ORDER BY id`.text,
    });
  });

  afterAll(async () => {
    await ch.command({ query: sql`DROP DATABASE IF EXISTS ${db}`.text });
    await ch.close();
  });

  async function echo(values: string[]): Promise<string[]> {
    const select = values.map((v, i) => sql`${v} AS ${ident(`v${i}`)}`.text).join(', ');
    const rs = await ch.query({ query: `SELECT ${select}`, format: 'JSONEachRow' });
    const [row] = await rs.json<Record<string, string>>();
    return values.map((_, i) => row?.[`v${i}`] as string);
  }

  it('returns hostile strings unchanged as values', async () => {
    expect(await echo(HOSTILE)).toEqual(HOSTILE);
  });

  it('matches hostile strings exactly in WHERE (and nothing else)', async () => {
    await ch.insert({
      table: `${database}.strings`,
      values: HOSTILE.map((v, id) => ({ id, v })),
      format: 'JSONEachRow',
    });
    for (const [id, v] of HOSTILE.entries()) {
      const rs = await ch.query({
        query: sql`SELECT groupArray(id) AS ids FROM ${db}.strings WHERE v = ${v}`.text,
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ ids: number[] }>();
      expect(row?.ids, JSON.stringify(v)).toEqual([id]);
    }
  });

  it('round-trips arbitrary strings (property, against the server)', async () => {
    const samples = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }).filter(wellFormed), 300);
    for (let i = 0; i < samples.length; i += 50) {
      const chunk = samples.slice(i, i + 50);
      expect(await echo(chunk)).toEqual(chunk);
    }
  });
});
