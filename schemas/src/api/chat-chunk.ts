import { z } from 'zod';
import { integer } from './integer.js';
import { ChatResponseUsage, FinishReason } from './chat-response.js';

/*
 * Streaming chunk (`object: "chat.completion.chunk"`), OpenAI's CreateChatCompletionStreamResponse plus the
 * Maniac `provider` / `container` fields. The spec does not describe it (SSE is `format: binary` there), so all
 * objects are loose: OpenAI adds fields to chunks over time (`obfuscation`, `service_tier`, …).
 */

/** Tool-call fragment inside a delta: the first fragment of a call carries id/type/name, later ones only `index` and argument text. */
export const ChatChunkToolCall = z.looseObject({
  index: integer(),
  id: z.string().optional(),
  type: z.literal('function').optional(),
  function: z
    .looseObject({
      name: z.string().optional(),
      arguments: z.string().optional(),
    })
    .optional(),
});
export type ChatChunkToolCall = z.infer<typeof ChatChunkToolCall>;

export const ChatChunkDelta = z.looseObject({
  role: z.enum(['developer', 'system', 'user', 'assistant', 'tool']).optional(),
  content: z.string().nullable().optional(),
  refusal: z.string().nullable().optional(),
  tool_calls: z.array(ChatChunkToolCall).optional(),
  /** Legacy function calling. */
  function_call: z
    .looseObject({
      name: z.string().optional(),
      arguments: z.string().optional(),
    })
    .optional(),
  /** Reasoning text some providers stream (OpenRouter `reasoning`, DeepSeek/vLLM `reasoning_content`). */
  reasoning: z.string().nullable().optional(),
  reasoning_content: z.string().nullable().optional(),
});
export type ChatChunkDelta = z.infer<typeof ChatChunkDelta>;

export const ChatChunkChoice = z.looseObject({
  index: integer(),
  delta: ChatChunkDelta,
  finish_reason: FinishReason.nullable(),
  logprobs: z.unknown().optional(),
});
export type ChatChunkChoice = z.infer<typeof ChatChunkChoice>;

/** One `data:` frame of a chat completion SSE stream. The usage-only final chunk has `choices: []`. */
export const ChatCompletionChunk = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  /** Unix seconds; the same on every chunk of a stream. */
  created: z.number(),
  model: z.string(),
  choices: z.array(ChatChunkChoice),
  usage: ChatResponseUsage.nullable().optional(),
  system_fingerprint: z.string().nullable().optional(),
  service_tier: z.string().nullable().optional(),
  /** Upstream provider name, if available (Maniac). */
  provider: z.string().nullable().optional(),
  /** Container label used for routing, if any (Maniac). */
  container: z.string().nullable().optional(),
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunk>;
