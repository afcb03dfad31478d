import { z } from 'zod';
import { JsonObject } from './json-object.js';

/** External trace/span context used to group related requests across containers. */
export const TraceContext = z.strictObject({
  id: z.string(),
  span_id: z.string().nullable().optional(),
  parent_span_id: z.string().nullable().optional(),
  name: z.string().nullable().optional(),
  source: z.string().nullable().optional(),
  metadata: JsonObject.nullable().optional(),
});
export type TraceContext = z.infer<typeof TraceContext>;
