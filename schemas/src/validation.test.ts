import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ChatReq, CompletionListQuery, RegisterReq } from './api/index.js';
import { jsonInvalidDetail, toValidationDetail, validate } from './validation.js';
import type { ValidationErrorEntry } from './validation.js';

function detailOf(
  schema: z.ZodType,
  value: unknown,
  root: 'body' | 'query' | 'path' = 'body',
): ValidationErrorEntry[] {
  const result = validate(schema, value, root);
  if (result.ok) throw new Error(`expected ${JSON.stringify(value)} to be invalid`);
  return result.detail;
}

/** `{type, loc, msg}` only, for compact assertions. */
function brief(detail: ValidationErrorEntry[]): Array<Pick<ValidationErrorEntry, 'type' | 'loc' | 'msg'>> {
  return detail.map(({ type, loc, msg }) => ({ type, loc, msg }));
}

const ok = { messages: [{ role: 'user', content: 'hi' }] };

describe('validate', () => {
  it('returns the parsed value on success', () => {
    const result = validate(ChatReq, ok, 'body');
    expect(result).toEqual({ ok: true, value: { ...ok, stream: false, store: true } });
  });
});

describe('pydantic error types', () => {
  it('missing', () => {
    expect(detailOf(ChatReq, {})).toEqual([
      { type: 'missing', loc: ['body', 'messages'], msg: 'Field required', input: {} },
    ]);
    expect(brief(detailOf(ChatReq, { messages: [{ content: 'x' }] }))).toEqual([
      { type: 'missing', loc: ['body', 'messages', 0, 'role'], msg: 'Field required' },
    ]);
  });

  it('missing body (undefined or null) is reported at ["body"]', () => {
    expect(detailOf(ChatReq, undefined)).toEqual([
      { type: 'missing', loc: ['body'], msg: 'Field required', input: null },
    ]);
    expect(detailOf(ChatReq, null)).toEqual([
      { type: 'missing', loc: ['body'], msg: 'Field required', input: null },
    ]);
  });

  it('model_attributes_type for a non-object where a model is expected', () => {
    expect(detailOf(ChatReq, [])).toEqual([
      {
        type: 'model_attributes_type',
        loc: ['body'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
        input: [],
      },
    ]);
    expect(brief(detailOf(ChatReq, { ...ok, trace: 'abc' }))).toEqual([
      {
        type: 'model_attributes_type',
        loc: ['body', 'trace'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
      },
    ]);
  });

  it('dict_type for free-form dictionaries', () => {
    expect(brief(detailOf(ChatReq, { ...ok, metadata: ['x'] }))).toEqual([
      { type: 'dict_type', loc: ['body', 'metadata'], msg: 'Input should be a valid dictionary' },
    ]);
  });

  it('string_type, float_type, bool_type, list_type', () => {
    expect(
      brief(detailOf(ChatReq, { ...ok, model: 5, temperature: 'hot', stream: 'yes', models: 'm' })),
    ).toEqual([
      { type: 'string_type', loc: ['body', 'model'], msg: 'Input should be a valid string' },
      { type: 'list_type', loc: ['body', 'models'], msg: 'Input should be a valid list' },
      { type: 'bool_type', loc: ['body', 'stream'], msg: 'Input should be a valid boolean' },
      { type: 'float_type', loc: ['body', 'temperature'], msg: 'Input should be a valid number' },
    ]);
  });

  it('int_type and int_from_float', () => {
    expect(brief(detailOf(ChatReq, { ...ok, seed: 'x' }))).toEqual([
      { type: 'int_type', loc: ['body', 'seed'], msg: 'Input should be a valid integer' },
    ]);
    expect(detailOf(ChatReq, { ...ok, seed: 1.5 })).toEqual([
      {
        type: 'int_from_float',
        loc: ['body', 'seed'],
        msg: 'Input should be a valid integer, got a number with a fractional part',
        input: 1.5,
      },
    ]);
  });

  it('extra_forbidden, with the key at the end of loc', () => {
    expect(detailOf(ChatReq, { ...ok, foo: 1, bar: { x: 1 } })).toEqual([
      { type: 'extra_forbidden', loc: ['body', 'foo'], msg: 'Extra inputs are not permitted', input: 1 },
      {
        type: 'extra_forbidden',
        loc: ['body', 'bar'],
        msg: 'Extra inputs are not permitted',
        input: { x: 1 },
      },
    ]);
    expect(brief(detailOf(ChatReq, { messages: [{ role: 'user', content: 'x', annotations: [] }] }))).toEqual(
      [
        {
          type: 'extra_forbidden',
          loc: ['body', 'messages', 0, 'annotations'],
          msg: 'Extra inputs are not permitted',
        },
      ],
    );
  });

  it('literal_error', () => {
    const schema = z.object({ type: z.literal('text') });
    expect(detailOf(schema, { type: 'image' })).toEqual([
      {
        type: 'literal_error',
        loc: ['body', 'type'],
        msg: "Input should be 'text'",
        input: 'image',
        ctx: { expected: "'text'" },
      },
    ]);
  });

  it('enum with pydantic list formatting', () => {
    expect(detailOf(CompletionListQuery, { order: 'up' }, 'query')).toEqual([
      {
        type: 'literal_error',
        loc: ['query', 'order'],
        msg: "Input should be 'asc' or 'desc'",
        input: 'up',
        ctx: { expected: "'asc' or 'desc'" },
      },
    ]);
    expect(brief(detailOf(ChatReq, { messages: [{ role: 'bot' }] }))).toEqual([
      {
        type: 'literal_error',
        loc: ['body', 'messages', 0, 'role'],
        msg: "Input should be 'system', 'user', 'assistant', 'developer' or 'tool'",
      },
    ]);
  });

  it('greater_than_equal and less_than_equal', () => {
    expect(detailOf(CompletionListQuery, { limit: '0' }, 'query')).toEqual([
      {
        type: 'greater_than_equal',
        loc: ['query', 'limit'],
        msg: 'Input should be greater than or equal to 1',
        input: '0',
        ctx: { ge: 1 },
      },
    ]);
    expect(detailOf(CompletionListQuery, { limit: '101' }, 'query')).toEqual([
      {
        type: 'less_than_equal',
        loc: ['query', 'limit'],
        msg: 'Input should be less than or equal to 100',
        input: '101',
        ctx: { le: 100 },
      },
    ]);
    expect(brief(detailOf(ChatReq, { ...ok, n: 0 }))).toEqual([
      { type: 'greater_than_equal', loc: ['body', 'n'], msg: 'Input should be greater than or equal to 1' },
    ]);
  });

  it('a huge query integer reports the real bound, not the safe-integer range', () => {
    expect(brief(detailOf(CompletionListQuery, { limit: '99999999999999999999' }, 'query'))).toEqual([
      { type: 'less_than_equal', loc: ['query', 'limit'], msg: 'Input should be less than or equal to 100' },
    ]);
  });

  it('greater_than and less_than (exclusive bounds)', () => {
    const schema = z.object({ x: z.number().gt(0).lt(1) });
    expect(brief(detailOf(schema, { x: 0 }))).toEqual([
      { type: 'greater_than', loc: ['body', 'x'], msg: 'Input should be greater than 0' },
    ]);
    expect(brief(detailOf(schema, { x: 1 }))).toEqual([
      { type: 'less_than', loc: ['body', 'x'], msg: 'Input should be less than 1' },
    ]);
  });

  it('too_short / too_long for lists, string_too_short / string_too_long for strings', () => {
    const schema = z.object({ list: z.array(z.string()).min(1).max(2), name: z.string().min(2).max(3) });
    expect(detailOf(schema, { list: [], name: 'a' })).toEqual([
      {
        type: 'too_short',
        loc: ['body', 'list'],
        msg: 'List should have at least 1 item after validation, not 0',
        input: [],
        ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
      },
      {
        type: 'string_too_short',
        loc: ['body', 'name'],
        msg: 'String should have at least 2 characters',
        input: 'a',
        ctx: { min_length: 2 },
      },
    ]);
    expect(brief(detailOf(schema, { list: ['a', 'b', 'c'], name: 'abcd' }))).toEqual([
      {
        type: 'too_long',
        loc: ['body', 'list'],
        msg: 'List should have at most 2 items after validation, not 3',
      },
      { type: 'string_too_long', loc: ['body', 'name'], msg: 'String should have at most 3 characters' },
    ]);
  });

  it('int_parsing for query strings', () => {
    for (const limit of ['1.5', 'abc', '', '1e3']) {
      expect(detailOf(CompletionListQuery, { limit }, 'query')).toEqual([
        {
          type: 'int_parsing',
          loc: ['query', 'limit'],
          msg: 'Input should be a valid integer, unable to parse string as an integer',
          input: limit,
        },
      ]);
    }
  });

  it('missing query and path parameters echo input null', () => {
    const schema = z.object({ completion_id: z.string() });
    expect(detailOf(schema, {}, 'path')).toEqual([
      { type: 'missing', loc: ['path', 'completion_id'], msg: 'Field required', input: null },
    ]);
  });

  it('json_invalid', () => {
    expect(jsonInvalidDetail(7, 'Expecting value')).toEqual([
      {
        type: 'json_invalid',
        loc: ['body', 7],
        msg: 'JSON decode error',
        input: {},
        ctx: { error: 'Expecting value' },
      },
    ]);
  });

  it('custom issues can name a pydantic type; other refinements become value_error', () => {
    const schema = z.object({
      a: z.string().superRefine((_v, ctx) => {
        ctx.addIssue({
          code: 'custom',
          message: 'Nope',
          params: { pydantic: { type: 'my_error', ctx: { k: 1 } } },
        });
      }),
      b: z.string().refine(() => false, 'bad b'),
    });
    expect(detailOf(schema, { a: 'x', b: 'y' })).toEqual([
      { type: 'my_error', loc: ['body', 'a'], msg: 'Nope', input: 'x', ctx: { k: 1 } },
      { type: 'value_error', loc: ['body', 'b'], msg: 'Value error, bad b', input: 'y' },
    ]);
  });
});

describe('unions', () => {
  it('reports the first branch type error when no branch matches the JSON type', () => {
    expect(brief(detailOf(ChatReq, { ...ok, stop: 5 }))).toEqual([
      { type: 'string_type', loc: ['body', 'stop'], msg: 'Input should be a valid string' },
    ]);
    expect(brief(detailOf(ChatReq, { messages: [{ role: 'user', content: { text: 'x' } }] }))).toEqual([
      { type: 'string_type', loc: ['body', 'messages', 0, 'content'], msg: 'Input should be a valid string' },
    ]);
  });

  it('follows the branch matching the input type and reports its nested issues', () => {
    expect(brief(detailOf(ChatReq, { ...ok, stop: ['a', 3] }))).toEqual([
      { type: 'string_type', loc: ['body', 'stop', 1], msg: 'Input should be a valid string' },
    ]);
    expect(brief(detailOf(ChatReq, { ...ok, tool_choice: 'sometimes' }))).toEqual([
      {
        type: 'literal_error',
        loc: ['body', 'tool_choice'],
        msg: "Input should be 'none', 'auto' or 'required'",
      },
    ]);
    expect(brief(detailOf(ChatReq, { ...ok, tool_choice: { type: 'function' } }))).toEqual([
      { type: 'missing', loc: ['body', 'tool_choice', 'function'], msg: 'Field required' },
    ]);
  });

  it('picks the object branch whose literal `type` matches', () => {
    expect(brief(detailOf(ChatReq, { ...ok, response_format: { type: 'json_schema' } }))).toEqual([
      { type: 'missing', loc: ['body', 'response_format', 'json_schema'], msg: 'Field required' },
    ]);
    expect(
      brief(
        detailOf(ChatReq, {
          messages: [
            { role: 'user', content: [{ type: 'image_url', image_url: 'https://x' }, { type: 'text' }] },
          ],
        }),
      ),
    ).toEqual([
      {
        type: 'dict_type',
        loc: ['body', 'messages', 0, 'content', 0, 'image_url'],
        msg: 'Input should be a valid dictionary',
      },
      { type: 'missing', loc: ['body', 'messages', 0, 'content', 1, 'text'], msg: 'Field required' },
    ]);
  });
});

describe('nested locations and multiple problems', () => {
  it('reports every problem with array indices as numbers', () => {
    const detail = detailOf(RegisterReq, {
      container: 7,
      items: [
        { input: ok },
        {
          input: { messages: [ok.messages[0], { role: 'user', content: [{ type: 'text', text: 1 }] }] },
          extra: true,
        },
        { output: { choices: [{}] } },
      ],
    });
    expect(brief(detail)).toEqual([
      {
        type: 'string_type',
        loc: ['body', 'items', 1, 'input', 'messages', 1, 'content', 0, 'text'],
        msg: 'Input should be a valid string',
      },
      { type: 'extra_forbidden', loc: ['body', 'items', 1, 'extra'], msg: 'Extra inputs are not permitted' },
      { type: 'missing', loc: ['body', 'items', 2, 'input'], msg: 'Field required' },
      {
        type: 'missing',
        loc: ['body', 'items', 2, 'output', 'choices', 0, 'message'],
        msg: 'Field required',
      },
      { type: 'string_type', loc: ['body', 'container'], msg: 'Input should be a valid string' },
    ]);
    for (const entry of detail) {
      for (const part of entry.loc) expect(['string', 'number']).toContain(typeof part);
    }
  });

  it('reports one entry per location', () => {
    const detail = detailOf(ChatReq, { ...ok, n: 0.5 });
    expect(brief(detail)).toEqual([
      {
        type: 'int_from_float',
        loc: ['body', 'n'],
        msg: 'Input should be a valid integer, got a number with a fractional part',
      },
    ]);
  });
});

describe('toValidationDetail without the input', () => {
  it('still tells missing keys apart using the zod messages', () => {
    const result = ChatReq.safeParse({ messages: [{}], model: 3 });
    expect(result.success).toBe(false);
    if (result.success) return;
    const detail = toValidationDetail(result.error, 'body');
    expect(brief(detail)).toEqual([
      {
        type: 'literal_error',
        loc: ['body', 'messages', 0, 'role'],
        msg: "Input should be 'system', 'user', 'assistant', 'developer' or 'tool'",
      },
      { type: 'string_type', loc: ['body', 'model'], msg: 'Input should be a valid string' },
    ]);
    // With reportInput, missing keys are recognised even for enums.
    const reported = ChatReq.safeParse({ messages: [{}] }, { reportInput: true });
    if (reported.success) return;
    expect(brief(toValidationDetail(reported.error, 'body'))).toEqual([
      { type: 'missing', loc: ['body', 'messages', 0, 'role'], msg: 'Field required' },
    ]);
  });
});

describe('property: ChatReq validation never produces an empty or malformed detail', () => {
  const check = (value: unknown): void => {
    const result = validate(ChatReq, value, 'body');
    if (result.ok) return;
    expect(result.detail.length).toBeGreaterThan(0);
    for (const entry of result.detail) {
      expect(entry.loc[0]).toBe('body');
      expect(typeof entry.msg).toBe('string');
      expect(typeof entry.type).toBe('string');
      for (const part of entry.loc) expect(['string', 'number']).toContain(typeof part);
    }
    expect(new Set(result.detail.map((e) => JSON.stringify(e.loc))).size).toBe(result.detail.length);
  };

  it('for arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 500 });
  });

  it('for near-valid requests', () => {
    const message = fc.record(
      {
        role: fc.oneof(fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer'), fc.jsonValue()),
        content: fc.oneof(
          fc.string(),
          fc.constant(null),
          fc.array(
            fc.oneof(
              fc.record({ type: fc.constant('text'), text: fc.oneof(fc.string(), fc.jsonValue()) }),
              fc.record({ type: fc.constant('image_url'), image_url: fc.jsonValue() }),
              fc.jsonValue(),
            ),
          ),
          fc.jsonValue(),
        ),
        name: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    const request = fc.record(
      {
        messages: fc.oneof(fc.array(message), fc.jsonValue()),
        model: fc.oneof(fc.string(), fc.jsonValue()),
        stop: fc.jsonValue(),
        tool_choice: fc.oneof(fc.constantFrom('auto', 'none', 'bogus'), fc.jsonValue()),
        response_format: fc.oneof(
          fc.record({ type: fc.constantFrom('text', 'json_object', 'json_schema', 'xml') }),
          fc.jsonValue(),
        ),
        n: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
        seed: fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.jsonValue()),
        tags: fc.jsonValue(),
        trace: fc.jsonValue(),
        unknown_key: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(fc.property(request, check), { numRuns: 500 });
  });
});
