import { z } from 'zod';
import { ToolCall } from './chat-request.js';
import { JsonObject } from './json-object.js';

/** Token usage in a chat completion response (extra keys allowed). */
export const ChatResponseUsage = z.looseObject({
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number(),
  completion_tokens_details: JsonObject.nullable().optional(),
  prompt_tokens_details: JsonObject.nullable().optional(),
});
export type ChatResponseUsage = z.infer<typeof ChatResponseUsage>;

/** Assistant message in a choice (extra keys allowed, e.g. `refusal`, `reasoning`). */
export const ChatResponseMessage = z.looseObject({
  role: z.string(),
  content: z.unknown().optional(),
  name: z.string().nullable().optional(),
  tool_calls: z.array(ToolCall).nullable().optional(),
});
export type ChatResponseMessage = z.infer<typeof ChatResponseMessage>;

/**
 * Spec values plus OpenAI's legacy `function_call` (the gateway forwards `functions`, so upstreams may answer
 * with it).
 */
export const FinishReason = z.enum([
  'stop',
  'length',
  'tool_calls',
  'content_filter',
  'error',
  'function_call',
]);
export type FinishReason = z.infer<typeof FinishReason>;

/** Single choice in a chat completion response. */
export const ChatResponseChoice = z.strictObject({
  index: z.number(),
  message: ChatResponseMessage,
  finish_reason: FinishReason.nullable().optional(),
  logprobs: z.unknown().optional(),
});
export type ChatResponseChoice = z.infer<typeof ChatResponseChoice>;

/** Non-streaming chat completion response. */
export const ChatRes = z.strictObject({
  id: z.string(),
  choices: z.array(ChatResponseChoice),
  /** Unix seconds. */
  created: z.number(),
  model: z.string(),
  object: z.literal('chat.completion').default('chat.completion'),
  usage: ChatResponseUsage.nullable().optional(),
  /** Upstream provider name, if available. */
  provider: z.string().nullable().optional(),
  /** Container label used for routing, if any. */
  container: z.string().nullable().optional(),
});
export type ChatRes = z.infer<typeof ChatRes>;
export type ChatResInput = z.input<typeof ChatRes>;
