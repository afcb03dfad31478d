import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sqlIdentifier, sqlInStrings, sqlInt, sqlString, sqlStringList } from './sql.js';

/** Reads a literal back the way ClickHouse's lexer does (for the property test without a server). */
function unescape(literal: string): string {
  expect(literal.startsWith("'") && literal.endsWith("'")).toBe(true);
  const body = literal.slice(1, -1);
  const map: Record<string, string> = {
    n: '\n',
    r: '\r',
    t: '\t',
    '0': '\0',
    b: '\b',
    f: '\f',
    '\\': '\\',
    "'": "'",
  };
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c === "'") throw new Error('unescaped quote inside literal');
    if (c === '\\') {
      const n = body[++i] as string;
      out += map[n] ?? n;
    } else out += c;
  }
  return out;
}

describe('sql literals', () => {
  it('escapes hostile strings', () => {
    expect(sqlString("x' OR 1=1 --")).toBe("'x\\' OR 1=1 --'");
    expect(sqlString('a\\')).toBe("'a\\\\'");
    expect(sqlString('\0\n\t')).toBe("'\\0\\n\\t'");
    expect(sqlStringList([])).toBe('(NULL)');
    expect(sqlStringList(['a', "b'"])).toBe("('a', 'b\\'')");
    expect(sqlInStrings([])).toBe('(NULL)');
    expect(sqlInStrings(['a', "b'"])).toBe("(SELECT arrayJoin(['a','b\\'']))");
  });

  it('round-trips any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(unescape(sqlString(s))).toBe(s);
      }),
      {
        numRuns: 2000,
      },
    );
  });

  it('accepts only safe integers and plain identifiers', () => {
    expect(sqlInt(42)).toBe('42');
    expect(() => sqlInt(1.5)).toThrow();
    expect(() => sqlInt(Number.NaN)).toThrow();
    expect(sqlIdentifier('maniac_1')).toBe('maniac_1');
    expect(() => sqlIdentifier('a; DROP TABLE x')).toThrow();
  });
});
