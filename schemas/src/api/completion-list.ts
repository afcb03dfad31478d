import { z } from 'zod';
import { integer } from './integer.js';
import { ChatResRelaxedOutput } from './chat-relaxed.js';

/** OpenAI-style list response for chat completions (`GET /v1/chat/completions`). */
export const ChatListRes = z.strictObject({
  object: z.literal('list').default('list'),
  data: z.array(ChatResRelaxedOutput),
  /** Total number of items available for this resource. */
  total: integer().gte(0),
});
export type ChatListRes = z.infer<typeof ChatListRes>;

/** Repeated query keys (`?a=1&a=2`) arrive as arrays; Starlette/FastAPI use the last value. */
function lastValue(value: unknown): unknown {
  return Array.isArray(value) ? value.at(-1) : value;
}

const INT_STRING = /^[+-]?\d+(?:\.0*)?$|^[+-]?\d+(?:_\d+)+$/;

/**
 * Parses a query-string integer the way pydantic does in lax mode: surrounding whitespace ignored, optional
 * sign, `"5.0"`/`"5."` and `"1_000"` accepted; anything else (`"1.5"`, `"abc"`, `""`) → `int_parsing`.
 * Numbers (already-coerced input) pass through to the integer check.
 */
export function queryInt<T extends z.ZodType>(inner: T) {
  return z.preprocess((raw, ctx) => {
    const value = lastValue(raw);
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (!INT_STRING.test(text)) {
      ctx.addIssue({
        code: 'custom',
        input: value,
        message: 'Input should be a valid integer, unable to parse string as an integer',
        params: { pydantic: { type: 'int_parsing' } },
      });
      return z.NEVER;
    }
    return Number(text.replace(/_/g, '').replace(/\.0*$/, ''));
  }, inner);
}

function queryString() {
  return z.preprocess(lastValue, z.string());
}

/** Query parameters of `GET /v1/chat/completions`, coerced from query strings like FastAPI does. */
export const CompletionListQuery = z.object({
  limit: queryInt(integer().gte(1).lte(100)).default(20),
  offset: queryInt(integer().gte(0)).default(0),
  model: queryString().optional(),
  container: queryString().optional(),
  order: z.preprocess(lastValue, z.enum(['asc', 'desc'])).default('desc'),
});
export type CompletionListQuery = z.infer<typeof CompletionListQuery>;
