import { z } from 'zod';
import { integer } from './integer.js';
import { JsonObject } from './json-object.js';
import { TraceContext } from './trace.js';

/*
 * Objects whose spec schema says nothing about `additionalProperties` behave like pydantic's default
 * (`extra="ignore"`): unknown keys are accepted, never rejected. They are modelled with `z.looseObject` so the
 * unknown keys are also kept (pydantic would drop them); validation outcomes are identical, and a gateway that
 * forwards the parsed request upstream stays lossless (e.g. `cache_control` on content parts,
 * `stream_options.include_obfuscation`). `additionalProperties: false` → `z.strictObject`.
 */

/** Function call payload inside a tool call. */
export const FunctionCall = z.looseObject({
  name: z.string(),
  /** JSON-encoded arguments. */
  arguments: z.string(),
});
export type FunctionCall = z.infer<typeof FunctionCall>;

/** A tool call emitted by the model. */
export const ToolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function').default('function'),
  function: FunctionCall,
});
export type ToolCall = z.infer<typeof ToolCall>;

/** Text content part in a message. */
export const TextContentPart = z.looseObject({
  type: z.literal('text').default('text'),
  text: z.string(),
});
export type TextContentPart = z.infer<typeof TextContentPart>;

/** Image content part in a message; `image_url` is `{url, detail?}`. */
export const ImageContentPart = z.looseObject({
  type: z.literal('image_url').default('image_url'),
  image_url: JsonObject,
});
export type ImageContentPart = z.infer<typeof ImageContentPart>;

export const ContentPart = z.union([TextContentPart, ImageContentPart]);
export type ContentPart = z.infer<typeof ContentPart>;

export const MessageRole = z.enum(['system', 'user', 'assistant', 'developer', 'tool']);
export type MessageRole = z.infer<typeof MessageRole>;

/**
 * OpenAI-style chat message. Strict like the spec (unknown keys → `extra_forbidden`), except for a small list of
 * OpenAI message fields that clients legitimately send back in conversation history and that the spec omits:
 * - `refusal` (assistant), `audio` (assistant, `{id}`), `function_call` (assistant, legacy function calling);
 * - `reasoning` / `reasoning_content` (strings some clients echo from reasoning-model responses).
 * They are accepted on every role (the upstream decides); keep this list short.
 */
export const Message = z.strictObject({
  role: MessageRole,
  content: z
    .union([z.string(), z.array(ContentPart)])
    .nullable()
    .optional(),
  name: z.string().nullable().optional(),
  tool_calls: z.array(ToolCall).nullable().optional(),
  tool_call_id: z.string().nullable().optional(),
  // OpenAI message fields beyond the spec (see above).
  refusal: z.string().nullable().optional(),
  audio: JsonObject.nullable().optional(),
  function_call: FunctionCall.nullable().optional(),
  reasoning: z.string().nullable().optional(),
  reasoning_content: z.string().nullable().optional(),
});
export type Message = z.infer<typeof Message>;

export const ReasoningEffort = z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);
export type ReasoningEffort = z.infer<typeof ReasoningEffort>;

/** Reasoning configuration for reasoning models. */
export const ReasoningConfig = z.looseObject({
  effort: ReasoningEffort.nullable().optional(),
  summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
});
export type ReasoningConfig = z.infer<typeof ReasoningConfig>;

/** Plain text response format (default). */
export const ResponseFormatText = z.looseObject({
  type: z.literal('text').default('text'),
});
export type ResponseFormatText = z.infer<typeof ResponseFormatText>;

/** Configuration for the json_schema response format. */
export const JsonSchemaConfig = z.looseObject({
  name: z.string(),
  description: z.string().nullable().optional(),
  schema: JsonObject.nullable().optional(),
  strict: z.boolean().nullable().optional(),
});
export type JsonSchemaConfig = z.infer<typeof JsonSchemaConfig>;

/** Structured JSON output via a supplied schema. */
export const ResponseFormatJsonSchema = z.looseObject({
  type: z.literal('json_schema').default('json_schema'),
  json_schema: JsonSchemaConfig,
});
export type ResponseFormatJsonSchema = z.infer<typeof ResponseFormatJsonSchema>;

/** JSON object response format (legacy JSON mode). */
export const ResponseFormatJsonObject = z.looseObject({
  type: z.literal('json_object').default('json_object'),
});
export type ResponseFormatJsonObject = z.infer<typeof ResponseFormatJsonObject>;

export const ResponseFormat = z.union([
  ResponseFormatText,
  ResponseFormatJsonSchema,
  ResponseFormatJsonObject,
]);
export type ResponseFormat = z.infer<typeof ResponseFormat>;

/** Options for streaming responses. */
export const StreamOptions = z.looseObject({
  include_usage: z.boolean().nullable().optional(),
});
export type StreamOptions = z.infer<typeof StreamOptions>;

/** Specifies a function name to force-call. */
export const ToolChoiceFunctionName = z.looseObject({
  name: z.string(),
});
export type ToolChoiceFunctionName = z.infer<typeof ToolChoiceFunctionName>;

/** Force the model to call a specific function. */
export const ToolChoiceFunction = z.looseObject({
  type: z.literal('function').default('function'),
  function: ToolChoiceFunctionName,
});
export type ToolChoiceFunction = z.infer<typeof ToolChoiceFunction>;

export const ToolChoiceMode = z.enum(['none', 'auto', 'required']);
export type ToolChoiceMode = z.infer<typeof ToolChoiceMode>;

/** Function definition inside a tool. */
export const FunctionDefinition = z.looseObject({
  name: z.string(),
  description: z.string().nullable().optional(),
  /** JSON Schema for the function parameters. */
  parameters: JsonObject.nullable().optional(),
  strict: z.boolean().nullable().optional(),
});
export type FunctionDefinition = z.infer<typeof FunctionDefinition>;

/** A tool the model may call. */
export const ToolDefinition = z.looseObject({
  type: z.literal('function').default('function'),
  function: FunctionDefinition,
});
export type ToolDefinition = z.infer<typeof ToolDefinition>;

/**
 * ChatReq keys that are Maniac extensions: strip them before forwarding a request to an upstream provider.
 */
export const MANIAC_ONLY_CHAT_REQ_KEYS = ['models', 'tags', 'store', 'trace', 'metadata'] as const;
export type ManiacOnlyChatReqKey = (typeof MANIAC_ONLY_CHAT_REQ_KEYS)[number];

/**
 * Fields published Maniac clients send that the spec does not list: the Python client 0.4 sends `container`
 * (a container label to route through) as an alternative to `model: "maniac:<label>"`. Accepted, never forwarded.
 */
export const MANIAC_COMPAT_CHAT_REQ_KEYS = ['container'] as const;

/**
 * Standard OpenAI chat parameters that the spec does not list but that must be accepted and forwarded rather
 * than rejected with `extra_forbidden` (a deliberate deviation from the spec's `additionalProperties: false`).
 */
export const OPENAI_EXTRA_CHAT_REQ_KEYS = [
  'n',
  'user',
  'reasoning_effort',
  'service_tier',
  'modalities',
  'prediction',
  'audio',
  'web_search_options',
  'verbosity',
  'safety_identifier',
  'prompt_cache_key',
  'functions',
  'function_call',
] as const;
export type OpenAIExtraChatReqKey = (typeof OPENAI_EXTRA_CHAT_REQ_KEYS)[number];

/**
 * OpenAI-compatible chat completion request with Maniac extensions (spec title `ManiacChatRequest`).
 * Strict: any key that is neither in the spec nor in {@link OPENAI_EXTRA_CHAT_REQ_KEYS} → `extra_forbidden`.
 */
export const ChatReq = z.strictObject({
  messages: z.array(Message),
  /** Model slug; global slugs and container routes, `/` and `:` equivalent on input. */
  model: z.string().nullable().optional(),
  /** Fallback models (Maniac). */
  models: z.array(z.string()).nullable().optional(),
  frequency_penalty: z.number().nullable().optional(),
  logit_bias: z.record(z.string(), z.number()).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().nullable().optional(),
  max_completion_tokens: z.number().nullable().optional(),
  max_tokens: z.number().nullable().optional(),
  /** Arbitrary key/value metadata to attach to the request (Maniac). */
  metadata: JsonObject.nullable().optional(),
  presence_penalty: z.number().nullable().optional(),
  reasoning: ReasoningConfig.nullable().optional(),
  response_format: ResponseFormat.nullable().optional(),
  seed: integer().nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string())])
    .nullable()
    .optional(),
  stream: z.boolean().nullable().default(false),
  stream_options: StreamOptions.nullable().optional(),
  temperature: z.number().nullable().optional(),
  tool_choice: z.union([ToolChoiceMode, ToolChoiceFunction]).nullable().optional(),
  tools: z.array(ToolDefinition).nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  top_p: z.number().nullable().optional(),
  /** Optional tags for tracking (Maniac). */
  tags: z.array(z.string()).optional(),
  /** Whether to store the completion (Maniac). */
  store: z.boolean().nullable().default(true),
  /** External trace/span context (Maniac). */
  trace: TraceContext.nullable().optional(),
  /** Container label to route through (Maniac Python client 0.4; see MANIAC_COMPAT_CHAT_REQ_KEYS). */
  container: z.string().nullable().optional(),

  // Standard OpenAI parameters beyond the spec (OPENAI_EXTRA_CHAT_REQ_KEYS): accepted and forwarded.
  n: integer().gte(1).nullable().optional(),
  user: z.string().nullable().optional(),
  reasoning_effort: ReasoningEffort.nullable().optional(),
  service_tier: z.string().nullable().optional(),
  modalities: z.array(z.string()).nullable().optional(),
  prediction: JsonObject.nullable().optional(),
  audio: JsonObject.nullable().optional(),
  web_search_options: JsonObject.nullable().optional(),
  verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  safety_identifier: z.string().nullable().optional(),
  prompt_cache_key: z.string().nullable().optional(),
  /** Legacy function calling (deprecated by OpenAI in favour of `tools`). */
  functions: z.array(JsonObject).nullable().optional(),
  function_call: z.union([z.string(), JsonObject]).nullable().optional(),
});
/** A validated request (defaults applied: `stream` false, `store` true). */
export type ChatReq = z.infer<typeof ChatReq>;
/** What a client may send (before defaults). */
export type ChatReqInput = z.input<typeof ChatReq>;
