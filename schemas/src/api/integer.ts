import { z } from 'zod';

/** pydantic's `int_type` message, also the marker that lets the 422 converter recognise integer schemas. */
export const INTEGER_ISSUE_MESSAGE = 'Input should be a valid integer';

/**
 * A JSON integer (safe range). zod reports a non-number given to `z.int()` as `expected: "number"`, exactly like
 * `z.number()`; the custom message tells the 422 converter to say `int_type` rather than `float_type`.
 */
export function integer() {
  return z.int({ error: INTEGER_ISSUE_MESSAGE });
}
