import type { ChatReq, ChatRes } from '@maniac-gateway/schemas';
import { MANIAC_COMPAT_CHAT_REQ_KEYS, MANIAC_ONLY_CHAT_REQ_KEYS } from '@maniac-gateway/schemas';

import {
  StreamProtocolError,
  type Json,
  type ProviderAdapter,
  type StreamTranslator,
  type UpstreamCall,
  type UpstreamErrorInfo,
  type UpstreamRequestContext,
} from './adapter.js';
import type { SseEvent } from './sse.js';

/**
 * OpenAI wire format, both directions. Pure functions: the request the upstream gets, the ChatRes the client
 * gets, stream chunks rewritten on the way through, and streams assembled back into one message for the event.
 */

export const FINISH_REASONS = ['stop', 'length', 'tool_calls', 'content_filter', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

const FINISH_ALIASES: Record<string, FinishReason> = {
  function_call: 'tool_calls',
  tool_use: 'tool_calls',
  end_turn: 'stop',
  stop_sequence: 'stop',
  eos: 'stop',
  max_tokens: 'length',
  model_length: 'length',
  safety: 'content_filter',
};

export function normaliseFinishReason(value: unknown): FinishReason | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') return 'stop';
  if ((FINISH_REASONS as readonly string[]).includes(value)) return value as FinishReason;
  return FINISH_ALIASES[value] ?? 'stop';
}

const DROPPED_KEYS = new Set<string>([
  ...MANIAC_ONLY_CHAT_REQ_KEYS,
  ...MANIAC_COMPAT_CHAT_REQ_KEYS,
  'reasoning',
  'stream',
  'stream_options',
  'model',
]);

/**
 * The request as the upstream should see it, whatever its wire format: the container's default params under the
 * request's own (null means "not set" and is omitted), Maniac-only keys removed, `reasoning.effort` as
 * `reasoning_effort`, and the container's system prompt prepended unless the request has a system or developer
 * message. Native adapters translate this; the OpenAI adapter sends it almost as is.
 */
export function effectiveRequest(req: ChatReq, ctx: Pick<UpstreamRequestContext, 'container'>): Json {
  const body: Json = {};
  if (ctx.container) {
    for (const [k, v] of Object.entries(ctx.container.params)) {
      if (v !== null && v !== undefined && !DROPPED_KEYS.has(k)) body[k] = v;
    }
  }
  for (const [k, v] of Object.entries(req)) {
    if (v === null || v === undefined || DROPPED_KEYS.has(k)) continue;
    body[k] = v;
  }
  const effort = req.reasoning?.effort;
  if (effort && body.reasoning_effort === undefined) body.reasoning_effort = effort;

  const messages = req.messages;
  const prompt = ctx.container?.system_prompt;
  body.messages =
    prompt && !messages.some((m) => m.role === 'system' || m.role === 'developer')
      ? [{ role: 'system', content: prompt }, ...messages]
      : messages;
  return body;
}

/** The body sent to an OpenAI-compatible upstream. Null fields are omitted (null means "not set"). */
export function buildUpstreamRequest(req: ChatReq, ctx: Omit<UpstreamRequestContext, 'providerName'>): Json {
  const body = effectiveRequest(req, ctx);
  if (ctx.provider.forward_metadata && req.metadata) body.metadata = req.metadata;
  body.model = ctx.upstreamModel;
  if (ctx.stream) {
    body.stream = true;
    // Always ask for usage so every stream is metered; the usage chunk is dropped if the client did not ask.
    body.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
  }
  return body;
}

export interface ResponseIdentity {
  id: string;
  created: number;
  model: string;
  provider: string;
  container: string | null;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function normaliseUsage(value: unknown): ChatRes['usage'] {
  if (!isObject(value)) return null;
  const p = value.prompt_tokens;
  const c = value.completion_tokens;
  if (typeof p !== 'number' || typeof c !== 'number') return null;
  const total = typeof value.total_tokens === 'number' ? value.total_tokens : p + c;
  return { ...value, prompt_tokens: p, completion_tokens: c, total_tokens: total };
}

function normaliseMessage(value: unknown): Json {
  const msg: Json = isObject(value) ? { ...value } : {};
  if (typeof msg.role !== 'string') msg.role = 'assistant';
  if (!('content' in msg)) msg.content = null;
  if (typeof msg.reasoning_content === 'string' && msg.reasoning === undefined)
    msg.reasoning = msg.reasoning_content;
  return msg;
}

/**
 * ChatRes from an upstream JSON body. Keeps what the spec's ChatRes allows (its top level and choices are
 * closed objects; messages and usage are open), and names the model, provider and container served.
 */
export function toChatRes(upstream: unknown, identity: ResponseIdentity): ChatRes {
  const body = isObject(upstream) ? upstream : {};
  const choices = Array.isArray(body.choices) ? body.choices : [];
  return {
    id: identity.id,
    object: 'chat.completion',
    created: identity.created,
    model: identity.model,
    choices: choices.map((c: unknown, i) => {
      const choice = isObject(c) ? c : {};
      return {
        index: typeof choice.index === 'number' ? choice.index : i,
        message: normaliseMessage(choice.message) as ChatRes['choices'][number]['message'],
        finish_reason: normaliseFinishReason(choice.finish_reason),
        logprobs: choice.logprobs ?? null,
      };
    }),
    usage: normaliseUsage(body.usage),
    provider: identity.provider,
    container: identity.container,
  };
}

/**
 * Rewrites one upstream chunk for the client, or returns null to drop it (the usage-only chunk the gateway
 * requested for itself when the client did not ask for usage).
 */
export function rewriteChunk(
  upstream: Json,
  identity: ResponseIdentity,
  clientWantsUsage: boolean,
): Json | null {
  const choices = Array.isArray(upstream.choices) ? upstream.choices : [];
  if (!clientWantsUsage && choices.length === 0 && upstream.usage) return null;
  const out: Json = {
    ...upstream,
    id: identity.id,
    object: 'chat.completion.chunk',
    created: identity.created,
    model: identity.model,
    choices: choices.map((c: unknown) => {
      if (!isObject(c)) return c;
      return 'finish_reason' in c ? { ...c, finish_reason: normaliseFinishReason(c.finish_reason) } : c;
    }),
    provider: identity.provider,
    container: identity.container,
  };
  if (!clientWantsUsage) delete out.usage;
  return out;
}

interface ToolCallAcc {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface ChoiceAcc {
  role: string;
  content: string | null;
  reasoning: string | null;
  refusal: string | null;
  toolCalls: Map<number, ToolCallAcc>;
  finishReason: FinishReason | null;
}

/** Accumulates chunks into the message, tool calls, finish reason and usage of the whole stream. */
export class StreamAssembler {
  private readonly choices = new Map<number, ChoiceAcc>();
  usage: ChatRes['usage'] = null;
  upstreamId: string | null = null;
  chunks = 0;

  add(chunk: Json): void {
    this.chunks++;
    if (this.upstreamId === null && typeof chunk.id === 'string') this.upstreamId = chunk.id;
    const usage = normaliseUsage(chunk.usage);
    if (usage) this.usage = usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const raw of chunk.choices) {
      if (!isObject(raw)) continue;
      const index = typeof raw.index === 'number' ? raw.index : 0;
      let acc = this.choices.get(index);
      if (!acc) {
        acc = {
          role: 'assistant',
          content: null,
          reasoning: null,
          refusal: null,
          toolCalls: new Map(),
          finishReason: null,
        };
        this.choices.set(index, acc);
      }
      const delta = isObject(raw.delta) ? raw.delta : {};
      if (typeof delta.role === 'string') acc.role = delta.role;
      if (typeof delta.content === 'string') acc.content = (acc.content ?? '') + delta.content;
      const reasoning = typeof delta.reasoning === 'string' ? delta.reasoning : delta.reasoning_content;
      if (typeof reasoning === 'string') acc.reasoning = (acc.reasoning ?? '') + reasoning;
      if (typeof delta.refusal === 'string') acc.refusal = (acc.refusal ?? '') + delta.refusal;
      if (Array.isArray(delta.tool_calls)) {
        for (const tc of delta.tool_calls) {
          if (!isObject(tc)) continue;
          const tcIndex = typeof tc.index === 'number' ? tc.index : acc.toolCalls.size;
          let call = acc.toolCalls.get(tcIndex);
          if (!call) {
            call = { id: '', type: 'function', function: { name: '', arguments: '' } };
            acc.toolCalls.set(tcIndex, call);
          }
          if (typeof tc.id === 'string' && tc.id) call.id = tc.id;
          const fn = isObject(tc.function) ? tc.function : {};
          if (typeof fn.name === 'string') call.function.name += fn.name;
          if (typeof fn.arguments === 'string') call.function.arguments += fn.arguments;
        }
      }
      if (raw.finish_reason !== null && raw.finish_reason !== undefined) {
        acc.finishReason = normaliseFinishReason(raw.finish_reason);
      }
    }
  }

  /** True once every choice seen has a finish reason. */
  finished(): boolean {
    if (this.choices.size === 0) return false;
    for (const c of this.choices.values()) if (c.finishReason === null) return false;
    return true;
  }

  finishReason(): FinishReason | null {
    return this.choices.get(0)?.finishReason ?? null;
  }

  toChatRes(identity: ResponseIdentity): ChatRes {
    const indices = [...this.choices.keys()].sort((a, b) => a - b);
    return {
      id: identity.id,
      object: 'chat.completion',
      created: identity.created,
      model: identity.model,
      choices: indices.map((index) => {
        const acc = this.choices.get(index) as ChoiceAcc;
        const message: Json = { role: acc.role, content: acc.content };
        if (acc.toolCalls.size > 0) {
          message.tool_calls = [...acc.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
        }
        if (acc.reasoning !== null) message.reasoning = acc.reasoning;
        if (acc.refusal !== null) message.refusal = acc.refusal;
        return {
          index,
          message: message as ChatRes['choices'][number]['message'],
          finish_reason: acc.finishReason,
          logprobs: null,
        };
      }),
      usage: this.usage,
      provider: identity.provider,
      container: identity.container,
    };
  }
}

/** The message of an upstream error body, whatever its shape (OpenAI `{"error":{"message"}}`, strings, …). */
export function upstreamErrorMessage(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isObject(parsed)) {
      const err = parsed.error;
      if (isObject(err) && typeof err.message === 'string') return err.message;
      if (typeof err === 'string') return err;
      if (typeof parsed.message === 'string') return parsed.message;
      if (typeof parsed.detail === 'string') return parsed.detail;
    }
  } catch {
    // not JSON
  }
  const trimmed = text.trim().slice(0, 300);
  return trimmed || `upstream returned HTTP ${status}`;
}

/** Upstream statuses that are the request's fault: another provider would refuse it too. */
export const NON_RETRYABLE_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

/** The provider's error type (`error.type`, `error.code` or `error.status`), when its body has one. */
function upstreamErrorType(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as unknown;
    const err = isObject(parsed) ? parsed.error : null;
    if (!isObject(err)) return null;
    for (const key of ['type', 'status', 'code'] as const) {
      const v = err[key];
      if (typeof v === 'string' && v) return v;
    }
  } catch {
    // not JSON
  }
  return null;
}

/** OpenAI-style reading of an error response: its message and type; 400, 413 and 422 are not retryable. */
export function upstreamError(status: number, text: string): UpstreamErrorInfo {
  return {
    message: upstreamErrorMessage(status, text),
    type: upstreamErrorType(text),
    retryable: !NON_RETRYABLE_STATUSES.has(status),
  };
}

/** The message of an in-stream `{"error":…}` event, or null for a normal event. */
export function streamErrorOf(data: Json): string | null {
  const err = data.error;
  if (!err) return null;
  if (isObject(err) && typeof err.message === 'string') return err.message;
  return typeof err === 'string' ? err : 'upstream reported an error in the stream';
}

/** Parses one OpenAI-style SSE data payload into a chunk object (or `[DONE]`). */
export function parseOpenAiEvent(event: SseEvent): { chunk: Json | null; done: boolean } {
  const data = event.data.trim();
  if (data === '[DONE]') return { chunk: null, done: true };
  if (data === '') return { chunk: null, done: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new StreamProtocolError('upstream sent an event that is not JSON');
  }
  if (!isObject(parsed)) throw new StreamProtocolError('upstream sent an event that is not a JSON object');
  const error = streamErrorOf(parsed);
  if (error !== null) throw new StreamProtocolError(error, 'upstream_stream_error');
  return { chunk: parsed, done: false };
}

/** OpenAI and every OpenAI-compatible server: the request and answers pass through almost unchanged. */
export const openAiAdapter: ProviderAdapter = {
  request(req, ctx): UpstreamCall {
    const headers: Record<string, string> = {};
    if (ctx.provider.api_key) headers.authorization = `Bearer ${ctx.provider.api_key}`;
    return { path: '/chat/completions', headers, body: buildUpstreamRequest(req, ctx) };
  },
  response(body) {
    return isObject(body) ? body : {};
  },
  stream(): StreamTranslator {
    return {
      push(event) {
        const { chunk, done } = parseOpenAiEvent(event);
        return { chunks: chunk ? [chunk] : [], done };
      },
    };
  },
};
