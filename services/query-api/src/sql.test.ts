import { describe, expect, it } from 'vitest';
import { ident, inList, joinSql, raw, sql } from './sql.js';

describe('sql tag', () => {
  it('formats every interpolated value as a literal', () => {
    const q = sql`SELECT * FROM ${ident('maniac')}.completions WHERE project_id = ${"p' OR 1=1 --"} LIMIT ${20} OFFSET ${0}`;
    expect(q.text).toBe(
      "SELECT * FROM maniac.completions WHERE project_id = 'p\\' OR 1=1 --' LIMIT 20 OFFSET 0",
    );
  });

  it('escapes backslashes, quotes and control characters', () => {
    expect(sql`${'a\\b'}`.text).toBe("'a\\\\b'");
    expect(sql`${"\\'; DROP TABLE x; --"}`.text).toBe("'\\\\\\'; DROP TABLE x; --'");
    expect(sql`${'\n\t\r\0'}`.text).toBe("'\\n\\t\\r\\0'");
  });

  it('rejects what cannot be a safe literal', () => {
    expect(() => sql`${1.5}`).toThrow();
    expect(() => sql`${Number.NaN}`).toThrow();
    expect(() => sql`${2 ** 60}`).toThrow();
    expect(() => ident('maniac; DROP DATABASE x')).toThrow();
    expect(() => ident('1abc')).toThrow();
  });

  it('composes fragments and IN lists', () => {
    const where = joinSql([sql`a = ${'x'}`, sql`b IN ${inList(['1', "2'"])}`], ' AND ');
    expect(sql`SELECT 1 WHERE ${where} ORDER BY ${raw('a DESC')}`.text).toBe(
      "SELECT 1 WHERE a = 'x' AND b IN ('1', '2\\'') ORDER BY a DESC",
    );
    expect(inList([]).text).toBe('(NULL)');
    expect(sql`${9007199254740993n}`.text).toBe('9007199254740993');
  });
});
