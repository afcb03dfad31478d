import { describe, expect, it } from 'vitest';
import { loadMigrations, renderMigration, splitStatements } from './migrate.js';

describe('splitStatements', () => {
  it('splits at semicolons outside quotes and comments and drops comment-only parts', () => {
    const script = `-- header; with a semicolon
CREATE TABLE a (x String DEFAULT 'a;b') ENGINE = Memory;
/* block; comment */
SELECT "weird;ident", \`other;ident\`, 'it\\'s; fine';
-- trailing comment only;
`;
    expect(splitStatements(script)).toEqual([
      "-- header; with a semicolon\nCREATE TABLE a (x String DEFAULT 'a;b') ENGINE = Memory",
      "/* block; comment */\nSELECT \"weird;ident\", `other;ident`, 'it\\'s; fine'",
    ]);
  });

  it('keeps a final statement without a semicolon and rejects unterminated quotes', () => {
    expect(splitStatements('SELECT 1; SELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(() => splitStatements("SELECT 'oops")).toThrow(/unterminated/);
  });
});

describe('migrations', () => {
  const migrations = loadMigrations();

  it('are ordered, uniquely numbered and templated on {db}', () => {
    expect(migrations.length).toBeGreaterThanOrEqual(4);
    const versions = migrations.map((m) => m.version);
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    expect(new Set(versions).size).toBe(versions.length);
    for (const m of migrations) {
      for (const statement of splitStatements(m.template)) {
        const sqlOnly = statement.replace(/--.*$/gm, '');
        expect(sqlOnly).toMatch(/\{db\}\./);
        // Idempotent: DDL says IF NOT EXISTS; the one backfill fills a table only asked for membership.
        if (/^\s*INSERT INTO/i.test(sqlOnly))
          expect(sqlOnly).toMatch(/^\s*INSERT INTO \{db\}\.event_ids SELECT/);
        else expect(sqlOnly).toMatch(/IF NOT EXISTS/);
      }
    }
  });

  it('avoid what ClickHouse 18.16 lacks', () => {
    for (const m of migrations) {
      const sqlOnly = m.template.replace(/--.*$/gm, '');
      expect(sqlOnly).not.toMatch(
        /DateTime64|\bMap\(|JSONExtract|LowCardinality|\bTTL\b|EXCHANGE|\{[a-z_]+:[A-Za-z]/,
      );
    }
  });

  it('substitute only a valid database identifier', () => {
    expect(renderMigration('CREATE TABLE {db}.t', 'maniac_test')).toBe('CREATE TABLE maniac_test.t');
    expect(() => renderMigration('x', 'bad-name')).toThrow();
    expect(() => renderMigration('x', 'a; DROP DATABASE default')).toThrow();
  });
});
