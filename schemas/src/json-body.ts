import { jsonInvalidDetail } from './validation.js';
import type { ValidationResult } from './validation.js';

/*
 * Request-body JSON parsing with FastAPI's 422 for malformed JSON:
 * `{"type": "json_invalid", "loc": ["body", <char position>], "msg": "JSON decode error",
 *   "ctx": {"error": "<Python json message>"}}`.
 * JSON.parse does the work; only on failure does a small scanner find the position and message that Python's
 * `json` module would report (V8's messages and positions differ).
 */

export interface JsonSyntaxProblem {
  /** Position in code points (Python string index). */
  position: number;
  /** Python `json.JSONDecodeError.msg`, e.g. `Expecting value`. */
  message: string;
}

/**
 * Parses a request body. An empty body yields `undefined` (FastAPI then reports the body as `missing`); a
 * leading UTF-8 BOM is ignored like Starlette does.
 */
export function parseJsonBody(text: string): ValidationResult<unknown> {
  if (text.length === 0) return { ok: true, value: undefined };
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(source) as unknown };
  } catch {
    const problem = locateJsonSyntaxError(source) ?? { position: 0, message: 'Expecting value' };
    return { ok: false, detail: jsonInvalidDetail(problem.position, problem.message) };
  }
}

class JsonScanError extends Error {
  constructor(
    readonly index: number,
    readonly pythonMessage: string,
  ) {
    super(pythonMessage);
  }
}

function fail(at: number, message: string): never {
  throw new JsonScanError(at, message);
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/**
 * Returns where and why Python's `json.loads` would reject `text`, or undefined if it would accept it.
 * (Python also accepts `NaN`/`Infinity`, which JSON.parse rejects; they are treated as values here.)
 */
export function locateJsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  let i = 0;

  const skipWs = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r'))
      i++;
  };

  const scanString = (): void => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail(start, 'Unterminated string starting at');
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return;
      }
      if (code < 0x20) fail(i, 'Invalid control character at');
      if (code === 0x5c) {
        const esc = text[i + 1];
        if (esc === undefined) fail(start, 'Unterminated string starting at');
        if (esc === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail(i + 1, 'Invalid \\uXXXX escape');
          i += 6;
          continue;
        }
        if (!ESCAPES.has(esc)) fail(i, 'Invalid \\escape');
        i += 2;
        continue;
      }
      i++;
    }
  };

  const scanValue = (): void => {
    const ch = text[i];
    if (ch === '"') return scanString();
    if (ch === '{') return scanObject();
    if (ch === '[') return scanArray();
    for (const literal of ['null', 'true', 'false', 'NaN', 'Infinity', '-Infinity']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (match === null) fail(i, 'Expecting value');
    else i += match[0].length;
  };

  const scanObject = (): void => {
    i++;
    skipWs();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      if (text[i] !== '"') fail(i, 'Expecting property name enclosed in double quotes');
      scanString();
      skipWs();
      if (text[i] !== ':') fail(i, "Expecting ':' delimiter");
      i++;
      skipWs();
      scanValue();
      skipWs();
      if (text[i] === '}') {
        i++;
        return;
      }
      if (text[i] !== ',') fail(i, "Expecting ',' delimiter");
      i++;
      skipWs();
    }
  };

  const scanArray = (): void => {
    i++;
    skipWs();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (;;) {
      scanValue();
      skipWs();
      if (text[i] === ']') {
        i++;
        return;
      }
      if (text[i] !== ',') fail(i, "Expecting ',' delimiter");
      i++;
      skipWs();
    }
  };

  try {
    skipWs();
    scanValue();
    skipWs();
    if (i < text.length) fail(i, 'Extra data');
    return undefined;
  } catch (err) {
    if (err instanceof JsonScanError)
      return { position: codePointIndex(text, err.index), message: err.pythonMessage };
    if (err instanceof RangeError) return { position: 0, message: 'Expecting value' }; // nesting too deep
    throw err;
  }
}

/** Converts a UTF-16 index into a code-point index (Python's string positions). */
function codePointIndex(text: string, index: number): number {
  let position = 0;
  for (let k = 0; k < index && k < text.length; k++) {
    const code = text.charCodeAt(k);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(k + 1);
      if (next >= 0xdc00 && next <= 0xdfff && k + 1 < index) k++;
    }
    position++;
  }
  return position;
}
