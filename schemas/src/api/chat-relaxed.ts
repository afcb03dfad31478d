import { z } from 'zod';
import { integer } from './integer.js';
import { ChatResponseUsage } from './chat-response.js';
import { JsonObject } from './json-object.js';
import { TraceContext } from './trace.js';

/** Message inside a registered/stored output: only `role` is required; extra keys allowed. */
export const RegisterOutputMessage = z.looseObject({
  role: z.string(),
  content: z
    .union([z.string(), z.array(z.unknown())])
    .nullable()
    .optional(),
});
export type RegisterOutputMessage = z.infer<typeof RegisterOutputMessage>;

/** Choice inside a registered/stored output; extra keys allowed. */
export const RegisterOutputChoice = z.looseObject({
  index: integer().nullable().optional(),
  message: RegisterOutputMessage,
  finish_reason: z.string().nullable().optional(),
});
export type RegisterOutputChoice = z.infer<typeof RegisterOutputChoice>;

const chatResRelaxedShape = {
  id: z.string().nullable().optional(),
  choices: z.array(RegisterOutputChoice),
  /** Unix seconds (any JSON value is accepted). */
  created: z.unknown().optional(),
  model: z.string().nullable().optional(),
  object: z.literal('chat.completion').default('chat.completion'),
  usage: ChatResponseUsage.nullable().optional(),
  provider: z.string().nullable().optional(),
  container: z.string().nullable().optional(),
  /** Model ID (uuid). */
  model_id: z.string().nullable().optional(),
  /** Estimated spend in USD. */
  spend: z.number().nullable().optional(),
  tags: z.array(z.string()).nullable().optional(),
  metadata: JsonObject.nullable().optional(),
  trace: TraceContext.nullable().optional(),
};

/**
 * Relaxed chat completion as accepted by `/register` (spec `ChatResRelaxed-Input`). The spec leaves
 * `additionalProperties` unset (pydantic ignores extras): extras are accepted and kept so the stored output
 * is what the client sent.
 */
export const ChatResRelaxedInput = z.looseObject(chatResRelaxedShape);
export type ChatResRelaxedInput = z.infer<typeof ChatResRelaxedInput>;

/**
 * Relaxed chat completion as returned by list/get (spec `ChatResRelaxed-Output`): same fields, unknown keys
 * stripped like pydantic's serializer would.
 */
export const ChatResRelaxedOutput = z.object(chatResRelaxedShape);
export type ChatResRelaxedOutput = z.infer<typeof ChatResRelaxedOutput>;

/** Alias of {@link ChatResRelaxedOutput}. */
export const ChatResRelaxed = ChatResRelaxedOutput;
export type ChatResRelaxed = ChatResRelaxedOutput;
