import type { z } from 'zod';
import type { ValidationErrorEntry } from './api/errors.js';
import { INTEGER_ISSUE_MESSAGE } from './api/integer.js';

/*
 * zod issues → FastAPI/pydantic-v2 style 422 `detail` entries (`{type, loc, msg, input?, ctx?}`), using
 * pydantic's error type names and messages. One entry per location; unions report the single most useful
 * branch instead of pydantic's one-entry-per-branch.
 */

export type { ValidationErrorEntry } from './api/errors.js';

export type ValidationRoot = 'body' | 'query' | 'path';
export type LocItem = string | number;

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; detail: ValidationErrorEntry[] };

export interface ToValidationDetailOptions {
  /**
   * The value that was validated. Strongly recommended: it is how a missing key is told apart from a present
   * one (zod reports both as type errors), how `int_from_float` is detected, and it fills `input` on entries.
   */
  input?: unknown;
}

/**
 * A custom zod issue can name its pydantic error directly:
 * `ctx.addIssue({code: 'custom', message, params: {pydantic: {type: 'int_parsing', ctx?: {...}}}})`;
 * the issue message becomes `msg`.
 */
export interface PydanticIssueParams {
  type: string;
  ctx?: Record<string, unknown>;
}

type Issue = z.core.$ZodIssue;

interface Lookup {
  found: boolean;
  value: unknown;
}

interface ConvertContext {
  root: ValidationRoot;
  hasInput: boolean;
  input: unknown;
}

interface Candidate {
  entry: ValidationErrorEntry;
  /** A secondary complaint (zod's safe-integer range) that yields to any other issue at the same location. */
  weak: boolean;
}

const MESSAGES = {
  missing: 'Field required',
  extra_forbidden: 'Extra inputs are not permitted',
  string_type: 'Input should be a valid string',
  int_type: 'Input should be a valid integer',
  int_from_float: 'Input should be a valid integer, got a number with a fractional part',
  int_parsing: 'Input should be a valid integer, unable to parse string as an integer',
  float_type: 'Input should be a valid number',
  bool_type: 'Input should be a valid boolean',
  list_type: 'Input should be a valid list',
  dict_type: 'Input should be a valid dictionary',
  model_attributes_type: 'Input should be a valid dictionary or object to extract fields from',
  none_required: 'Input should be None',
  json_invalid: 'JSON decode error',
} as const;

/**
 * Error type for a multi-valued `z.enum` mismatch. pydantic says `literal_error` for `Literal[...]` fields and
 * `enum` for `Enum` classes (same message format). The spec's enums are inline `Literal[...]` fields (FastAPI
 * renders those as inline `enum` lists), so the gateway reports `literal_error`, as the reference server would.
 */
const ENUM_ERROR_TYPE = 'literal_error';

/** Converts a failed zod parse into FastAPI-style `detail` entries; never returns an empty list. */
export function toValidationDetail(
  error: z.ZodError,
  root: ValidationRoot,
  options?: ToValidationDetailOptions,
): ValidationErrorEntry[] {
  const ctx: ConvertContext = {
    root,
    hasInput: options !== undefined && 'input' in options,
    input: options?.input,
  };
  const candidates: Candidate[] = [];
  convertIssues(error.issues, [], ctx, candidates);

  const byLoc = new Map<string, Candidate>();
  for (const candidate of candidates) {
    const key = JSON.stringify(candidate.entry.loc);
    const existing = byLoc.get(key);
    if (existing === undefined || (existing.weak && !candidate.weak)) byLoc.set(key, candidate);
  }
  const detail = [...byLoc.values()].map((c) => c.entry);
  if (detail.length === 0) {
    detail.push({ type: 'value_error', loc: [root], msg: 'Value error, Invalid input' });
  }
  return detail;
}

/** Parses `value` with `schema`; on failure returns the 422 `detail` entries rooted at `root`. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, root: ValidationRoot): ValidationResult<T> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, detail: toValidationDetail(result.error, root, { input: value }) };
}

/** The 422 detail FastAPI sends for an unparseable JSON body. */
export function jsonInvalidDetail(position: number, message: string): ValidationErrorEntry[] {
  return [
    {
      type: 'json_invalid',
      loc: ['body', position],
      msg: MESSAGES.json_invalid,
      input: {},
      ctx: { error: message },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------

function convertIssues(
  issues: readonly Issue[],
  base: readonly PropertyKey[],
  ctx: ConvertContext,
  out: Candidate[],
): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    switch (issue.code) {
      case 'invalid_union':
        convertUnion(issue, path, ctx, out);
        break;
      case 'unrecognized_keys': {
        const holder = lookup(ctx, path);
        for (const key of issue.keys) {
          const entry = makeEntry(ctx, [...path, key], 'extra_forbidden', MESSAGES.extra_forbidden);
          if (ctx.hasInput && isRecord(holder.value)) entry.input = holder.value[key];
          out.push({ entry, weak: false });
        }
        break;
      }
      case 'invalid_key':
      case 'invalid_element':
        if (issue.issues.length > 0) convertIssues(issue.issues, path, ctx, out);
        else out.push({ entry: valueError(ctx, path, issue), weak: false });
        break;
      default:
        out.push(convertLeaf(issue, path, ctx));
    }
  }
}

function convertLeaf(issue: Issue, path: PropertyKey[], ctx: ConvertContext): Candidate {
  const here = lookup(ctx, path);
  if (isMissing(issue, path, here, ctx)) {
    const entry = makeEntry(ctx, path, 'missing', MESSAGES.missing);
    if (ctx.hasInput) {
      // pydantic echoes the object that lacks the key; FastAPI sends null for a missing body/parameter.
      entry.input =
        ctx.root === 'body' && path.length > 0 ? (lookup(ctx, path.slice(0, -1)).value ?? null) : null;
    }
    return { entry, weak: false };
  }
  const entry = (type: string, msg: string, extra?: Record<string, unknown>): Candidate => {
    const e = makeEntry(ctx, path, type, msg);
    if (ctx.hasInput) e.input = here.value;
    else if ('input' in issue) e.input = issue.input;
    if (extra !== undefined) e.ctx = extra;
    return { entry: e, weak: false };
  };

  switch (issue.code) {
    case 'invalid_type':
      switch (
        issue.expected === 'number' && issue.message === INTEGER_ISSUE_MESSAGE ? 'int' : issue.expected
      ) {
        case 'string':
          return entry('string_type', MESSAGES.string_type);
        case 'int':
        case 'bigint':
          return typeof here.value === 'number' &&
            Number.isFinite(here.value) &&
            !Number.isInteger(here.value)
            ? entry('int_from_float', MESSAGES.int_from_float)
            : entry('int_type', MESSAGES.int_type);
        case 'number':
        case 'nan':
          return entry('float_type', MESSAGES.float_type);
        case 'boolean':
          return entry('bool_type', MESSAGES.bool_type);
        case 'array':
        case 'tuple':
        case 'set':
          return entry('list_type', MESSAGES.list_type);
        case 'object':
          return entry('model_attributes_type', MESSAGES.model_attributes_type);
        case 'record':
        case 'map':
          return entry('dict_type', MESSAGES.dict_type);
        case 'null':
          return entry('none_required', MESSAGES.none_required);
        default:
          return entry(`${issue.expected}_type`, `Input should be a valid ${issue.expected}`);
      }
    case 'invalid_value': {
      const expected = pyJoin(issue.values.map(pyRepr));
      const type = issue.values.length === 1 ? 'literal_error' : ENUM_ERROR_TYPE;
      return entry(type, `Input should be ${expected}`, { expected });
    }
    case 'too_small': {
      const min = issue.minimum;
      if (issue.origin === 'string') {
        return entry('string_too_short', `String should have at least ${min} character${plural(min)}`, {
          min_length: toJsonNumber(min),
        });
      }
      if (issue.origin === 'array' || issue.origin === 'set') {
        const actual = Array.isArray(here.value) ? here.value.length : 0;
        return entry(
          'too_short',
          `List should have at least ${min} item${plural(min)} after validation, not ${actual}`,
          { field_type: 'List', min_length: toJsonNumber(min), actual_length: actual },
        );
      }
      const candidate =
        issue.inclusive === false
          ? entry('greater_than', `Input should be greater than ${min}`, { gt: toJsonNumber(min) })
          : entry('greater_than_equal', `Input should be greater than or equal to ${min}`, {
              ge: toJsonNumber(min),
            });
      candidate.weak = issue.origin === 'int' && min === Number.MIN_SAFE_INTEGER;
      return candidate;
    }
    case 'too_big': {
      const max = issue.maximum;
      if (issue.origin === 'string') {
        return entry('string_too_long', `String should have at most ${max} character${plural(max)}`, {
          max_length: toJsonNumber(max),
        });
      }
      if (issue.origin === 'array' || issue.origin === 'set') {
        const actual = Array.isArray(here.value) ? here.value.length : 0;
        return entry(
          'too_long',
          `List should have at most ${max} item${plural(max)} after validation, not ${actual}`,
          {
            field_type: 'List',
            max_length: toJsonNumber(max),
            actual_length: actual,
          },
        );
      }
      const candidate =
        issue.inclusive === false
          ? entry('less_than', `Input should be less than ${max}`, { lt: toJsonNumber(max) })
          : entry('less_than_equal', `Input should be less than or equal to ${max}`, {
              le: toJsonNumber(max),
            });
      candidate.weak = issue.origin === 'int' && max === Number.MAX_SAFE_INTEGER;
      return candidate;
    }
    case 'not_multiple_of':
      return entry('multiple_of', `Input should be a multiple of ${issue.divisor}`, {
        multiple_of: issue.divisor,
      });
    case 'invalid_format':
      if (issue.pattern !== undefined) {
        return entry('string_pattern_mismatch', `String should match pattern '${issue.pattern}'`, {
          pattern: issue.pattern,
        });
      }
      return { entry: valueError(ctx, path, issue), weak: false };
    case 'custom': {
      const pydantic = pydanticParams(issue.params);
      if (pydantic !== undefined) return entry(pydantic.type, issue.message, pydantic.ctx);
      return { entry: valueError(ctx, path, issue), weak: false };
    }
    default:
      return { entry: valueError(ctx, path, issue), weak: false };
  }
}

/**
 * pydantic reports every union branch separately; we report one branch: among the branches whose JSON type
 * matches the input, the one with the fewest problems (a mismatching single-value literal such as `type`
 * counts as a strong mismatch), else the first branch's type error.
 */
function convertUnion(
  issue: z.core.$ZodIssueInvalidUnion,
  path: PropertyKey[],
  ctx: ConvertContext,
  out: Candidate[],
): void {
  const here = lookup(ctx, path);
  const branches = issue.errors;
  const first = branches[0];
  if (isMissing(issue, path, here, ctx)) {
    out.push(convertLeaf(issue, path, ctx));
    return;
  }
  if (first === undefined) {
    out.push({ entry: valueError(ctx, path, issue), weak: false });
    return;
  }
  let best: { issues: readonly Issue[]; score: number } | undefined;
  for (const branch of branches) {
    if (!branchTypeMatches(branch, here.value)) continue;
    const score = branchPenalty(branch);
    if (best === undefined || score < best.score) best = { issues: branch, score };
  }
  convertIssues(best?.issues ?? first, path, ctx, out);
}

function branchTypeMatches(issues: readonly Issue[], value: unknown): boolean {
  for (const issue of issues) {
    if (issue.path.length > 0) continue;
    if (issue.code === 'invalid_type') return false;
    if (issue.code === 'invalid_value' && !issue.values.some((v) => typeof v === typeof value)) return false;
    if (issue.code === 'invalid_union' && !issue.errors.some((b) => branchTypeMatches(b, value)))
      return false;
  }
  return true;
}

function branchPenalty(issues: readonly Issue[]): number {
  let score = 0;
  for (const issue of issues) {
    const discriminatorMismatch =
      issue.code === 'invalid_value' && issue.path.length === 1 && issue.values.length === 1;
    score += discriminatorMismatch ? 100 : 1;
  }
  return score;
}

function isMissing(issue: Issue, path: readonly PropertyKey[], here: Lookup, ctx: ConvertContext): boolean {
  if (ctx.hasInput) {
    if (path.length === 0) return here.value === undefined || (ctx.root === 'body' && here.value === null);
    return !here.found;
  }
  if ('input' in issue) return issue.input === undefined;
  return issue.code === 'invalid_type' && /received undefined$/.test(issue.message);
}

function lookup(ctx: ConvertContext, path: readonly PropertyKey[]): Lookup {
  let value: unknown = ctx.input;
  for (const key of path) {
    if (Array.isArray(value) && typeof key === 'number') {
      if (key < 0 || key >= value.length) return { found: false, value: undefined };
      value = value[key];
    } else if (isRecord(value) && typeof key !== 'symbol' && Object.hasOwn(value, key)) {
      value = value[key];
    } else {
      return { found: false, value: undefined };
    }
  }
  return { found: true, value };
}

function makeEntry(
  ctx: ConvertContext,
  path: readonly PropertyKey[],
  type: string,
  msg: string,
): ValidationErrorEntry {
  const loc: LocItem[] = [ctx.root];
  for (const key of path) loc.push(typeof key === 'number' ? key : String(key));
  return { type, loc, msg };
}

function valueError(ctx: ConvertContext, path: readonly PropertyKey[], issue: Issue): ValidationErrorEntry {
  const entry = makeEntry(ctx, path, 'value_error', `Value error, ${issue.message}`);
  if (ctx.hasInput) entry.input = lookup(ctx, path).value;
  return entry;
}

function pydanticParams(params: Record<string, unknown> | undefined): PydanticIssueParams | undefined {
  const candidate = params?.['pydantic'];
  if (!isRecord(candidate) || typeof candidate['type'] !== 'string') return undefined;
  const extra = candidate['ctx'];
  return isRecord(extra) ? { type: candidate['type'], ctx: extra } : { type: candidate['type'] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Python `repr` of a JSON-ish primitive, as pydantic prints expected values. */
function pyRepr(value: unknown): string {
  if (typeof value === 'string') {
    return value.includes("'") && !value.includes('"') ? `"${value}"` : `'${value.replace(/'/g, "\\'")}'`;
  }
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/** pydantic's list formatting: `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`. */
function pyJoin(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function plural(n: number | bigint): string {
  return Number(n) === 1 ? '' : 's';
}

function toJsonNumber(n: number | bigint): number {
  return typeof n === 'bigint' ? Number(n) : n;
}
