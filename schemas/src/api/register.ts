import { z } from 'zod';
import { ChatReq } from './chat-request.js';
import { ChatResRelaxedInput } from './chat-relaxed.js';
import { JsonObject } from './json-object.js';

/** One registered example: a request and (optionally) the output it produced. */
export const Item = z.strictObject({
  input: ChatReq,
  /** Omit to register an input-only example. */
  output: ChatResRelaxedInput.nullable().optional(),
  tags: z.array(z.string()).nullable().optional(),
  metadata: JsonObject.nullable().optional(),
});
export type Item = z.infer<typeof Item>;

/** `POST /v1/chat/completions/register` body (spec title `RegisterChatCompletionsRequest`). */
export const RegisterReq = z.strictObject({
  items: z.array(Item),
  /** Container label to associate these examples with. */
  container: z.string(),
});
export type RegisterReq = z.infer<typeof RegisterReq>;

/** `POST /v1/chat/completions/register` response (spec title `RegisterChatCompletionsResponse`). */
export const RegisterRes = z.strictObject({
  ok: z.boolean(),
  container: z.string(),
  /** Summary of inserted and skipped items. */
  summary: JsonObject,
  /** Up to 200 validation or upsert errors. */
  errors: z.array(JsonObject),
});
export type RegisterRes = z.infer<typeof RegisterRes>;
