/**
 * The one way SQL text is built from values. ClickHouse 18.16 (the CI server) has no server-side query
 * parameters, so every value that reaches a query goes through {@link sqlLiteral}: strings are quoted and
 * escaped, numbers validated, identifiers checked against a strict pattern. Use the {@link sql} tag:
 *
 * ```ts
 * const q = sql`SELECT * FROM ${ident(db)}.completions WHERE project_id = ${projectId} LIMIT ${limit}`;
 * await client.query({ query: q.text, format: 'JSONEachRow' });
 * ```
 */

export class SqlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlError';
  }
}

/** A fragment of SQL text that is trusted as is (built by `sql`, `ident` or `raw`). */
export class SqlFragment {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type SqlValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Date
  | SqlFragment
  | readonly (string | number | bigint | boolean | null)[];

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True for a plain identifier (database, table, column name) that needs no quoting. */
export function isSqlIdentifier(name: string): boolean {
  return IDENT_RE.test(name) && name.length <= 128;
}

/** A validated identifier (letters, digits, `_`; not starting with a digit). Throws SqlError otherwise. */
export function ident(name: string): SqlFragment {
  if (!isSqlIdentifier(name)) throw new SqlError(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return new SqlFragment(name);
}

/** Trusted SQL text (keywords chosen by code, never user input). */
export function raw(text: string): SqlFragment {
  return new SqlFragment(text);
}

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
};

/**
 * A ClickHouse string literal: `'` + s + `'` with backslash, quote, NUL and the usual control characters
 * escaped. Everything else (non-ASCII, emoji) is sent as UTF-8 and round-trips exactly.
 */
export function sqlString(value: string): string {
  return `'${value.replace(/[\\'\n\r\t\0\b\f]/g, (c) => ESCAPES[c] ?? c)}'`;
}

/** An integer literal; throws for non-integers and unsafe (imprecise) numbers. */
export function sqlInteger(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (!Number.isSafeInteger(value)) throw new SqlError(`not a safe integer: ${String(value)}`);
  return String(value);
}

/** Any literal: strings quoted, integers/finite numbers validated, booleans as 1/0, null as NULL. */
export function sqlLiteral(value: Exclude<SqlValue, SqlFragment | readonly unknown[]>): string {
  if (value === null) return 'NULL';
  switch (typeof value) {
    case 'string':
      return sqlString(value);
    case 'bigint':
      return sqlInteger(value);
    case 'number':
      if (Number.isInteger(value)) return sqlInteger(value);
      if (!Number.isFinite(value)) throw new SqlError(`not a finite number: ${String(value)}`);
      return String(value);
    case 'boolean':
      return value ? '1' : '0';
    default:
      if (value instanceof Date) {
        const ms = value.getTime();
        if (!Number.isFinite(ms)) throw new SqlError('invalid date');
        return `toDateTime(${sqlInteger(Math.floor(ms / 1000))})`;
      }
      throw new SqlError(`unsupported SQL value of type ${typeof value}`);
  }
}

function formatValue(value: SqlValue): string {
  if (value instanceof SqlFragment) return value.text;
  if (Array.isArray(value)) {
    // An array literal `[…]` (for Array columns and has()); use inList() for `IN (…)`.
    return `[${(value as readonly (string | number | bigint | boolean | null)[]).map(sqlLiteral).join(', ')}]`;
  }
  return sqlLiteral(value as Exclude<SqlValue, SqlFragment | readonly unknown[]>);
}

/** `(a, b, c)` for `x IN ${inList(values)}`; an empty list becomes `(NULL)`, which matches nothing. */
export function inList(values: readonly (string | number | bigint)[]): SqlFragment {
  if (values.length === 0) return new SqlFragment('(NULL)');
  return new SqlFragment(`(${values.map((v) => sqlLiteral(v)).join(', ')})`);
}

/** Tagged template: interpolated values are formatted as literals; fragments are inserted as they are. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): SqlFragment {
  let text = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    text += formatValue(values[i] as SqlValue) + (strings[i + 1] ?? '');
  }
  return new SqlFragment(text);
}

/** Joins fragments with a separator (e.g. `AND` between conditions). */
export function joinSql(fragments: readonly SqlFragment[], separator: string): SqlFragment {
  return new SqlFragment(fragments.map((f) => f.text).join(separator));
}
