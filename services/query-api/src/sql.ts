import { sqlIdentifier, sqlInt, sqlString, sqlStringList } from '@maniac-gateway/runtime';

/**
 * Query text for ClickHouse, composed with a tagged template. Every interpolated value is formatted by the
 * runtime's literal formatter (the one place literals are made: strings escaped, integers validated,
 * identifiers checked); nothing from a request is pasted into SQL any other way.
 *
 * ```ts
 * sql`SELECT count() FROM ${ident(db)}.completions WHERE project_id = ${projectId} LIMIT ${limit}`
 * ```
 */
export class Sql {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type SqlValue = string | number | bigint | Sql;

/** A validated identifier (database/table names from configuration). */
export function ident(name: string): Sql {
  return new Sql(sqlIdentifier(name));
}

/** Fixed SQL chosen by code (keywords, column lists) — never request input. */
export function raw(text: string): Sql {
  return new Sql(text);
}

/** `(a, b, c)` for `x IN …`; an empty list matches nothing. */
export function inList(values: readonly string[]): Sql {
  return new Sql(sqlStringList(values));
}

/** `['a', 'b']`: an array literal of strings (e.g. for `hasAny(tags, …)`). */
export function arrayOf(values: readonly string[]): Sql {
  return new Sql(`[${values.map((v) => sqlString(v)).join(', ')}]`);
}

function literal(value: SqlValue): string {
  if (value instanceof Sql) return value.text;
  if (typeof value === 'string') return sqlString(value);
  return sqlInt(value);
}

export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): Sql {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += literal(value) + (strings[i + 1] ?? '');
  });
  return new Sql(text);
}

/** Joins fragments (e.g. WHERE conditions with ' AND '). */
export function joinSql(parts: readonly Sql[], separator: string): Sql {
  return new Sql(parts.map((p) => p.text).join(separator));
}
