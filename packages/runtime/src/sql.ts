/**
 * The one place SQL literals are made. ClickHouse 18.16 has no server-side query parameters, so every value
 * that reaches a query goes through these functions; nothing else pastes input into SQL.
 */

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

/** A ClickHouse string literal: `'…'` with backslash escapes; round-trips any JS string exactly. */
export function sqlString(value: string): string {
  return `'${value.replace(/[\\'\n\r\t\0\b\f]/g, (c) => ESCAPES[c] ?? c)}'`;
}

/** An integer literal; throws on anything that is not a safe integer. */
export function sqlInt(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (!Number.isSafeInteger(value)) throw new TypeError(`not a safe integer: ${String(value)}`);
  return String(value);
}

/** `(a, b, c)` for IN lists; an empty list is `(NULL)` so `x IN (NULL)` matches nothing. */
export function sqlStringList(values: readonly string[]): string {
  return values.length === 0 ? '(NULL)' : `(${values.map(sqlString).join(', ')})`;
}

/**
 * The right side of `x IN …` for many strings: `(SELECT arrayJoin(['a','b',…]))`. ClickHouse 18.16 parses an array
 * literal in about a third of the time of the same ids as an `(a, b, …)` tuple (2,000 ids at 10 M rows: 8–14 against
 * 24–27 ms per lookup, timed by hand); for short lists either will do. Empty is `(NULL)`, which matches nothing.
 */
export function sqlInStrings(values: readonly string[]): string {
  return values.length === 0 ? '(NULL)' : `(SELECT arrayJoin([${values.map(sqlString).join(',')}]))`;
}

/** A validated identifier (database/table names come from config, never from requests). */
export function sqlIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`invalid SQL identifier: ${name}`);
  return name;
}
