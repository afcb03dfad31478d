import type { Message, ReasoningEffort } from '@maniac-gateway/schemas';
import { ApiError, ErrorCodes } from '@maniac-gateway/runtime';
import type { Json, UpstreamRequestContext } from './adapter.js';

/**
 * Helpers shared by the native (non-OpenAI) adapters: the 501 policy for parameters a provider cannot honour,
 * message content walking, data URLs, tool-call arguments, and the OpenAI chunk shapes the translators emit.
 */

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * A parameter the provider cannot honour: 501 `unsupported_parameter` naming it and the provider, or nothing at
 * all when the provider drops unsupported parameters (the caller then leaves the parameter out).
 */
export function unsupported(ctx: UpstreamRequestContext, param: string, why?: string): void {
  if (ctx.provider.drop_unsupported_params === true) return;
  throw new ApiError(
    501,
    ErrorCodes.unsupportedParameter,
    `Parameter '${param}' is not supported by provider '${ctx.providerName}' (${ctx.provider.kind})` +
      (why ? `: ${why}` : ''),
    { param, provider: ctx.providerName, kind: ctx.provider.kind },
  );
}

/** A request that cannot be expressed at all (e.g. a tool result for an unknown call): 400 invalid_request. */
export function invalidRequest(message: string, param: string): ApiError {
  return new ApiError(400, ErrorCodes.invalidRequest, message, { param });
}

/**
 * Checks the keys of an effective request against what an adapter translates: keys it handles are left to it,
 * keys whose value is the OpenAI default (`n: 1`, `logprobs: false`, `logit_bias: {}`, penalties 0, text-only
 * modalities…) are ignored, everything else is unsupported.
 */
export function checkParams(body: Json, handled: ReadonlySet<string>, ctx: UpstreamRequestContext): void {
  for (const [key, value] of Object.entries(body)) {
    if (handled.has(key) || isNeutral(key, value)) continue;
    unsupported(ctx, key);
  }
}

/** Keys that only tag the request for the upstream's own bookkeeping: no effect on the answer, safely omitted. */
export const BOOKKEEPING_KEYS = ['user', 'safety_identifier', 'prompt_cache_key'] as const;

function isNeutral(key: string, value: unknown): boolean {
  switch (key) {
    case 'n':
      return value === 1;
    case 'logprobs':
      return value === false;
    case 'top_logprobs':
      return value === 0;
    case 'logit_bias':
      return isObject(value) && Object.keys(value).length === 0;
    case 'frequency_penalty':
    case 'presence_penalty':
      return value === 0;
    case 'modalities':
      return Array.isArray(value) && value.every((m) => m === 'text');
    case 'service_tier':
      return value === 'auto' || value === 'default';
    case 'parallel_tool_calls':
      return value === true;
    case 'stream':
    case 'stream_options':
      return true;
    default:
      return (BOOKKEEPING_KEYS as readonly string[]).includes(key);
  }
}

/** `max_completion_tokens` (the current name) or `max_tokens`. */
export function maxTokensOf(body: Json): number | null {
  return num(body.max_completion_tokens) ?? num(body.max_tokens);
}

export function stopList(stop: unknown): string[] | null {
  if (typeof stop === 'string') return stop === '' ? null : [stop];
  if (Array.isArray(stop)) {
    const list = stop.filter((s): s is string => typeof s === 'string' && s !== '');
    return list.length > 0 ? list : null;
  }
  return null;
}

export function effortOf(body: Json): ReasoningEffort | null {
  const e = body.reasoning_effort;
  return typeof e === 'string' ? (e as ReasoningEffort) : null;
}

/** One part of a message's content, as the native translators see it. */
export type Part =
  | { type: 'text'; text: string; source: Json }
  | { type: 'image'; url: string; source: Json }
  | { type: 'other'; source: Json };

export function partsOf(content: Message['content']): Part[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content, source: {} }];
  return content.map((p): Part => {
    const source = p as Json;
    if (p.type === 'text' && typeof p.text === 'string') return { type: 'text', text: p.text, source };
    if (p.type === 'image_url') {
      const image = source.image_url;
      const url = isObject(image) ? image.url : undefined;
      if (typeof url === 'string') return { type: 'image', url, source };
    }
    return { type: 'other', source };
  });
}

/** The text of a message's content (text parts joined); images and other parts are left out. */
export function textOf(content: Message['content']): string {
  return partsOf(content)
    .map((p) => (p.type === 'text' ? p.text : ''))
    .join('');
}

export interface DataUrl {
  mediaType: string;
  data: string;
}

/** `data:<media type>;base64,<data>`, or null for any other URL. */
export function parseDataUrl(url: string): DataUrl | null {
  const m = /^data:([^;,]+)((?:;[^;,]+)*);base64,(.*)$/s.exec(url);
  if (!m || m[1] === undefined || m[3] === undefined) return null;
  return { mediaType: m[1].toLowerCase(), data: m[3] };
}

export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** A tool call's JSON-encoded arguments as an object (empty → {}); 400 when they are not a JSON object. */
export function parseArguments(args: string, param: string): Json {
  if (args.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw invalidRequest(`Tool call arguments are not valid JSON (${param})`, param);
  }
  if (!isObject(parsed)) throw invalidRequest(`Tool call arguments must be a JSON object (${param})`, param);
  return parsed;
}

/** Messages as a validated list (the effective request keeps them as ChatReq messages). */
export function messagesOf(body: Json): Message[] {
  return Array.isArray(body.messages) ? (body.messages as Message[]) : [];
}

/** Builds the `chat.completion.chunk` objects of one translated stream. */
export class ChunkWriter {
  id = '';
  model = '';
  readonly created = Math.floor(Date.now() / 1000);

  chunk(delta: Json, finishReason: string | null = null, index = 0): Json {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
    };
  }

  usage(usage: Json): Json {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [],
      usage,
    };
  }
}

/** An OpenAI usage object with the details the event and spend read. */
export function openAiUsage(u: {
  prompt: number;
  completion: number;
  cached: number | null;
  cacheCreation?: number | null;
  reasoning: number | null;
}): Json {
  const promptDetails: Json = {};
  if (u.cached !== null) promptDetails.cached_tokens = u.cached;
  if (u.cacheCreation !== null && u.cacheCreation !== undefined)
    promptDetails.cache_creation_tokens = u.cacheCreation;
  const usage: Json = {
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    prompt_tokens_details: promptDetails,
  };
  if (u.reasoning !== null) usage.completion_tokens_details = { reasoning_tokens: u.reasoning };
  return usage;
}
