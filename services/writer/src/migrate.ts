import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { sqlIdentifier, type Logger } from '@maniac-gateway/runtime';

/**
 * ClickHouse schema migrations: `infra/clickhouse/migrations/NNN_name.sql`, applied in order and recorded in
 * `{db}.schema_migrations`. Every statement is idempotent (`IF NOT EXISTS`), so a migration interrupted half-way
 * is simply applied again, and several writers may migrate at once. The database name is a `{db}` placeholder,
 * substituted with a validated identifier (so the same files build a fresh set of tables for `--rebuild`).
 */

export interface Migration {
  version: number;
  name: string;
  file: string;
  checksum: string;
  /** The file's text with `{db}` still in it. */
  template: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

const FILE_RE = /^(\d{3,})_([A-Za-z0-9_-]+)\.sql$/;

/** infra/clickhouse/migrations of this repository (from src/ and from dist/ alike). */
export function defaultMigrationsDir(): string {
  return (
    process.env.MANIAC_MIGRATIONS_DIR ??
    fileURLToPath(new URL('../../../infra/clickhouse/migrations/', import.meta.url))
  );
}

export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_RE.exec(file);
    if (!match?.[1] || !match[2])
      throw new MigrationError(`bad migration file name ${file}: expected NNN_name.sql`);
    const template = readFileSync(join(dir, file), 'utf8');
    migrations.push({
      version: Number(match[1]),
      name: match[2],
      file,
      checksum: createHash('sha256').update(template).digest('hex'),
      template,
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    const prev = migrations[i - 1];
    const cur = migrations[i];
    if (prev && cur && prev.version === cur.version) {
      throw new MigrationError(`duplicate migration version ${cur.version}: ${prev.file}, ${cur.file}`);
    }
  }
  return migrations;
}

/** Substitutes `{db}` with a validated database identifier. */
export function renderMigration(template: string, database: string): string {
  return template.replaceAll('{db}', sqlIdentifier(database));
}

/**
 * Splits a script into statements at `;` outside string literals, quoted identifiers and comments. Comment-only
 * statements are dropped.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  let meaningful = false;
  let i = 0;
  const n = script.length;
  while (i < n) {
    const c = script[i] as string;
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const end = script.indexOf('\n', i);
      const stop = end === -1 ? n : end + 1;
      current += script.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = script.indexOf('*/', i + 2);
      if (end === -1) throw new MigrationError('unterminated /* comment');
      current += script.slice(i, end + 2);
      i = end + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < n) {
        const d = script[j];
        if (d === '\\') {
          j += 2;
          continue;
        }
        if (d === c) break;
        j++;
      }
      if (j >= n) throw new MigrationError(`unterminated ${c} quote`);
      current += script.slice(i, j + 1);
      meaningful = true;
      i = j + 1;
      continue;
    }
    if (c === ';') {
      if (meaningful) statements.push(current.trim());
      current = '';
      meaningful = false;
      i++;
      continue;
    }
    if (!/\s/.test(c)) meaningful = true;
    current += c;
    i++;
  }
  if (meaningful) statements.push(current.trim());
  return statements;
}

export interface MigrateOptions {
  database: string;
  logger: Logger;
  dir?: string;
  /** Loaded migrations (tests); default: the files in `dir`. */
  migrations?: Migration[];
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

/** Creates the database if needed and applies the migrations not yet recorded. Safe to run again. */
export async function migrate(client: ClickHouseClient, options: MigrateOptions): Promise<MigrateResult> {
  const db = sqlIdentifier(options.database);
  const migrations = options.migrations ?? loadMigrations(options.dir);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations
      (version UInt32, name String, checksum String, applied_at DateTime('UTC') DEFAULT now())
      ENGINE = ReplacingMergeTree ORDER BY version`,
  });
  const rs = await client.query({
    query: `SELECT version, any(name) AS name, any(checksum) AS checksum
      FROM ${db}.schema_migrations GROUP BY version`,
    format: 'JSONEachRow',
  });
  const recorded = new Map(
    (await rs.json<{ version: number; name: string; checksum: string }>()).map((r) => [Number(r.version), r]),
  );
  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  for (const m of migrations) {
    const previous = recorded.get(m.version);
    if (previous) {
      if (previous.checksum !== m.checksum) {
        options.logger.warn(
          { migration: m.file, database: options.database },
          'applied migration has changed since it was applied; edit schemas with a new migration instead',
        );
      }
      result.alreadyApplied.push(m.file);
      continue;
    }
    const statements = splitStatements(renderMigration(m.template, options.database));
    for (const statement of statements) {
      try {
        await client.command({ query: statement });
      } catch (err) {
        throw new MigrationError(
          `migration ${m.file} failed: ${err instanceof Error ? err.message : String(err)}\n${statement}`,
        );
      }
    }
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [
        { version: m.version, name: m.name, checksum: m.checksum, applied_at: Math.floor(Date.now() / 1000) },
      ],
      format: 'JSONEachRow',
    });
    options.logger.info({ migration: m.file, database: options.database }, 'migration applied');
    result.applied.push(m.file);
  }
  return result;
}
