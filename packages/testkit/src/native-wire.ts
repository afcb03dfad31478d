/**
 * Native provider wire shapes for the mock upstream, mirroring the recordings in shared/data/wire-formats:
 * Anthropic Messages (JSON and named SSE events) and Gemini generateContent / streamGenerateContent?alt=sse.
 */

let seq = 0;
function nextSeq(): string {
  seq += 1;
  return `${Date.now().toString(36)}${seq}`;
}

/** A tool call for the native builders: `arguments` is the JSON text of an object, as OpenAI clients see it. */
export interface NativeToolCall {
  id?: string;
  name: string;
  arguments: string;
}

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  [k: string]: unknown;
}

export interface AnthropicReplyOptions {
  id?: string;
  model?: string;
  content?: string;
  /** Extended-thinking text (a `thinking` block with a signature, before the answer). */
  thinking?: string;
  toolCalls?: NativeToolCall[];
  usage?: AnthropicUsage;
  stopReason?: string;
  /** Streams: the text deltas (default: the content split into words). */
  pieces?: string[];
  /** Streams: include `ping` events (default true). */
  pings?: boolean;
}

function anthropicUsageOf(usage: AnthropicUsage | undefined): Record<string, unknown> {
  const u = usage ?? { input_tokens: 21, output_tokens: 9 };
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    cache_creation: {
      ephemeral_5m_input_tokens: u.cache_creation_input_tokens ?? 0,
      ephemeral_1h_input_tokens: 0,
    },
    output_tokens: u.output_tokens,
    service_tier: 'standard',
    inference_geo: 'not_available',
    ...Object.fromEntries(Object.entries(u).filter(([k]) => !k.endsWith('_tokens'))),
  };
}

function toolId(t: NativeToolCall, i: number): string {
  return t.id ?? `toolu_01Mock${i}${nextSeq()}`;
}

/** A non-streamed Anthropic Message, in the field order of the recorded response. */
export function anthropicResponse(opts: AnthropicReplyOptions = {}): Record<string, unknown> {
  const content: Record<string, unknown>[] = [];
  if (opts.thinking !== undefined) {
    content.push({ type: 'thinking', thinking: opts.thinking, signature: 'c2lnbmF0dXJlLW1vY2s=' });
  }
  if (!opts.toolCalls || opts.content !== undefined) {
    content.push({ type: 'text', text: opts.content ?? 'Hello from the mock Anthropic upstream.' });
  }
  (opts.toolCalls ?? []).forEach((t, i) => {
    content.push({
      type: 'tool_use',
      id: toolId(t, i),
      name: t.name,
      input: JSON.parse(t.arguments || '{}') as unknown,
    });
  });
  return {
    model: opts.model ?? 'claude-sonnet-4-5-20250929',
    id: opts.id ?? `msg_01Mock${nextSeq()}`,
    type: 'message',
    role: 'assistant',
    content,
    stop_reason: opts.stopReason ?? (opts.toolCalls ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    usage: anthropicUsageOf(opts.usage),
  };
}

/** Splits a string into `n` roughly equal fragments (the last ones may be empty and are dropped). */
export function fragments(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/**
 * The event sequence of a streamed Anthropic Message: message_start (input usage, output_tokens 1), per block
 * content_block_start / deltas / content_block_stop (ping after the first start), message_delta with the
 * stop_reason and the cumulative output usage, message_stop. Tool input arrives as input_json_delta fragments,
 * the first one empty, as recorded.
 */
export function anthropicStream(opts: AnthropicReplyOptions = {}): Record<string, unknown>[] {
  const usage = anthropicUsageOf(opts.usage);
  const events: Record<string, unknown>[] = [
    {
      type: 'message_start',
      message: {
        id: opts.id ?? `msg_01Mock${nextSeq()}`,
        type: 'message',
        role: 'assistant',
        model: opts.model ?? 'claude-sonnet-4-5-20250929',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    },
  ];
  let index = 0;
  let pinged = opts.pings === false;
  const start = (block: Record<string, unknown>) => {
    events.push({ type: 'content_block_start', index, content_block: block });
    if (!pinged) {
      events.push({ type: 'ping' });
      pinged = true;
    }
  };
  const delta = (d: Record<string, unknown>) => events.push({ type: 'content_block_delta', index, delta: d });
  const stop = () => {
    events.push({ type: 'content_block_stop', index });
    index++;
  };
  if (opts.thinking !== undefined) {
    start({ type: 'thinking', thinking: '', signature: '' });
    for (const piece of fragments(opts.thinking, 2)) delta({ type: 'thinking_delta', thinking: piece });
    delta({ type: 'signature_delta', signature: 'c2lnbmF0dXJlLW1vY2s=' });
    stop();
  }
  if (!opts.toolCalls || opts.content !== undefined) {
    const text = opts.content ?? 'Hello from the mock Anthropic upstream.';
    start({ type: 'text', text: '' });
    for (const piece of opts.pieces ?? text.split(/(?<= )/)) delta({ type: 'text_delta', text: piece });
    stop();
  }
  (opts.toolCalls ?? []).forEach((t, i) => {
    start({ type: 'tool_use', id: toolId(t, i), name: t.name, caller: { type: 'direct' }, input: {} });
    delta({ type: 'input_json_delta', partial_json: '' });
    for (const part of fragments(t.arguments, 3)) delta({ type: 'input_json_delta', partial_json: part });
    stop();
  });
  events.push({
    type: 'message_delta',
    delta: {
      stop_reason: opts.stopReason ?? (opts.toolCalls ? 'tool_use' : 'end_turn'),
      stop_sequence: null,
    },
    usage: { output_tokens: usage.output_tokens },
  });
  events.push({ type: 'message_stop' });
  return events;
}

/** Anthropic's in-stream error event (e.g. overloaded, which is HTTP 529 outside a stream). */
export function anthropicErrorEvent(
  type = 'overloaded_error',
  message = 'Overloaded',
): Record<string, unknown> {
  return { type: 'error', error: { type, message } };
}

export interface GeminiUsage {
  promptTokenCount: number;
  candidatesTokenCount: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

export interface GeminiReplyOptions {
  responseId?: string;
  model?: string;
  content?: string;
  /** Thought summary text (a `thought: true` part). */
  thinking?: string;
  /** Function calls; `arguments` is JSON text, sent as the `args` object. */
  toolCalls?: NativeToolCall[];
  /** A thoughtSignature on the first function call, as Gemini sends it. */
  thoughtSignature?: string;
  usage?: GeminiUsage;
  finishReason?: string;
  /** Streams: the text pieces, one event each (default: the content split into words). */
  pieces?: string[];
}

function geminiUsageOf(u: GeminiUsage): Record<string, unknown> {
  const thoughts = u.thoughtsTokenCount;
  return {
    promptTokenCount: u.promptTokenCount,
    candidatesTokenCount: u.candidatesTokenCount,
    totalTokenCount: u.promptTokenCount + u.candidatesTokenCount + (thoughts ?? 0),
    ...(u.cachedContentTokenCount !== undefined
      ? { cachedContentTokenCount: u.cachedContentTokenCount }
      : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: u.promptTokenCount }],
    ...(thoughts !== undefined ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function functionCallParts(opts: GeminiReplyOptions): Record<string, unknown>[] {
  return (opts.toolCalls ?? []).map((t, i) => ({
    functionCall: { name: t.name, args: JSON.parse(t.arguments || '{}') as unknown },
    ...(i === 0 && opts.thoughtSignature ? { thoughtSignature: opts.thoughtSignature } : {}),
  }));
}

/** A non-streamed GenerateContentResponse, in the field order of the recorded ones. */
export function geminiResponse(opts: GeminiReplyOptions = {}): Record<string, unknown> {
  const parts: Record<string, unknown>[] = [];
  if (opts.thinking !== undefined) parts.push({ text: opts.thinking, thought: true });
  if (!opts.toolCalls || opts.content !== undefined) {
    parts.push({ text: opts.content ?? 'Hello from the mock Gemini upstream.' });
  }
  parts.push(...functionCallParts(opts));
  return {
    candidates: [
      {
        content: { parts, role: 'model' },
        finishReason: opts.finishReason ?? 'STOP',
        index: 0,
        ...(opts.toolCalls ? { finishMessage: 'Model generated function call(s).' } : {}),
      },
    ],
    usageMetadata: geminiUsageOf(opts.usage ?? { promptTokenCount: 11, candidatesTokenCount: 8 }),
    modelVersion: opts.model ?? 'gemini-2.5-flash',
    responseId: opts.responseId ?? `MockResp${nextSeq()}`,
  };
}

/**
 * The events of a streamed GenerateContentResponse: one per text piece (thoughts first), then the function calls
 * (whole, args as objects) — every event with the cumulative usage so far, the finishReason on the last one only.
 */
export function geminiStream(opts: GeminiReplyOptions = {}): Record<string, unknown>[] {
  const usage = opts.usage ?? { promptTokenCount: 11, candidatesTokenCount: 8 };
  const responseId = opts.responseId ?? `MockResp${nextSeq()}`;
  const model = opts.model ?? 'gemini-2.5-flash';
  const groups: Record<string, unknown>[][] = [];
  if (opts.thinking !== undefined) groups.push([{ text: opts.thinking, thought: true }]);
  if (!opts.toolCalls || opts.content !== undefined) {
    const text = opts.content ?? 'Hello from the mock Gemini upstream.';
    for (const piece of opts.pieces ?? text.split(/(?<= )/)) groups.push([{ text: piece }]);
  }
  if (opts.toolCalls) groups.push(functionCallParts(opts));
  return groups.map((parts, i) => {
    const last = i === groups.length - 1;
    const candidates = Math.max(1, Math.round((usage.candidatesTokenCount * (i + 1)) / groups.length));
    return {
      candidates: [
        {
          content: { parts, role: 'model' },
          ...(last ? { finishReason: opts.finishReason ?? 'STOP' } : {}),
          index: 0,
        },
      ],
      usageMetadata: geminiUsageOf({
        ...usage,
        candidatesTokenCount: last ? usage.candidatesTokenCount : candidates,
      }),
      modelVersion: model,
      responseId,
    };
  });
}

/** Google RPC error body, e.g. `geminiError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded')`. */
export function geminiErrorBody(code: number, status: string, message: string): Record<string, unknown> {
  return { error: { code, message, status } };
}

/** Anthropic error body, e.g. `anthropicErrorBody('overloaded_error', 'Overloaded')`. */
export function anthropicErrorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'error', error: { type, message }, request_id: `req_mock${nextSeq()}` };
}
