import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { locateJsonSyntaxError, parseJsonBody } from './json-body.js';

describe('parseJsonBody', () => {
  it('parses valid JSON, ignoring a UTF-8 BOM', () => {
    expect(parseJsonBody('{"a":[1,"x",null]}')).toEqual({ ok: true, value: { a: [1, 'x', null] } });
    expect(parseJsonBody('\ufeff{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it('treats an empty body as absent', () => {
    expect(parseJsonBody('')).toEqual({ ok: true, value: undefined });
  });

  it('reports json_invalid with the position and message of Python json', () => {
    expect(parseJsonBody('{"a": }')).toEqual({
      ok: false,
      detail: [
        {
          type: 'json_invalid',
          loc: ['body', 6],
          msg: 'JSON decode error',
          input: {},
          ctx: { error: 'Expecting value' },
        },
      ],
    });
  });

  it.each([
    ['  ', 2, 'Expecting value'],
    ['{a:1}', 1, 'Expecting property name enclosed in double quotes'],
    ['{"a":1,}', 7, 'Expecting property name enclosed in double quotes'],
    ['{"a" 1}', 5, "Expecting ':' delimiter"],
    ['[1 2]', 3, "Expecting ',' delimiter"],
    ['{"a":1 "b":2}', 7, "Expecting ',' delimiter"],
    ['[1,]', 3, 'Expecting value'],
    ['{"a":1} x', 8, 'Extra data'],
    ['01', 1, 'Extra data'],
    ['"abc', 0, 'Unterminated string starting at'],
    ['{"k": "abc', 6, 'Unterminated string starting at'],
    ['"a\\qb"', 2, 'Invalid \\escape'],
    ['"\\u12"', 2, 'Invalid \\uXXXX escape'],
    ['"a\nb"', 2, 'Invalid control character at'],
    ['{"a":tru}', 5, 'Expecting value'],
    ["{'a':1}", 1, 'Expecting property name enclosed in double quotes'],
    ['{"😀":1, x}', 8, 'Expecting property name enclosed in double quotes'],
  ])('%j → position %i, %s', (text, position, message) => {
    expect(locateJsonSyntaxError(text)).toEqual({ position, message });
    const result = parseJsonBody(text);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.detail[0]).toMatchObject({ loc: ['body', position], ctx: { error: message } });
  });

  it('the scanner accepts everything JSON.parse accepts', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(locateJsonSyntaxError(text)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('never throws and always yields one json_invalid entry for malformed text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (text) => {
        const result = parseJsonBody(text);
        if (result.ok) return;
        expect(result.detail).toHaveLength(1);
        expect(result.detail[0]?.type).toBe('json_invalid');
        expect(typeof result.detail[0]?.loc[1]).toBe('number');
      }),
      { numRuns: 300 },
    );
  });
});
