import type { Message, ReasoningEffort } from '@maniac-gateway/schemas';
import {
  StreamProtocolError,
  type Json,
  type ProviderAdapter,
  type StreamTranslator,
  type UpstreamCall,
  type UpstreamErrorInfo,
  type UpstreamRequestContext,
} from './adapter.js';
import {
  ChunkWriter,
  checkParams,
  effortOf,
  invalidRequest,
  isHttpUrl,
  isObject,
  maxTokensOf,
  messagesOf,
  num,
  openAiUsage,
  parseArguments,
  parseDataUrl,
  partsOf,
  stopList,
  textOf,
  unsupported,
} from './native.js';
import { NON_RETRYABLE_STATUSES, effectiveRequest, upstreamError } from './openai.js';
import type { SseEvent } from './sse.js';

/**
 * Google Gemini API (`models/{model}:generateContent`, `:streamGenerateContent?alt=sse`, `x-goog-api-key`) behind
 * the OpenAI-compatible API. System and developer messages become `systemInstruction`; turns are `user`/`model`
 * (consecutive same-role turns merged); tool results are `functionResponse` parts named after the call they
 * answer. Gemini has no tool-call ids: they are synthesised per response (`call_<responseId>_<n>`), and the
 * `thoughtSignature` Gemini attaches to a function call rides along in the id so it can be echoed back.
 * Usage: promptTokenCount includes cached tokens; thoughts are counted apart from candidates, so
 * completion_tokens = candidates + thoughts and reasoning_tokens = thoughts.
 */

/** Thinking budgets per effort (`none` turns thinking off where the model allows it). */
export const GEMINI_THINKING_BUDGETS: Record<Exclude<ReasoningEffort, 'none'>, number> = {
  minimal: 512,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 32768,
};

/** Separates a synthesised tool-call id from the thought signature it carries. */
export const SIGNATURE_SEPARATOR = '__thought__';

const HANDLED = new Set([
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop',
  'seed',
  'n',
  'presence_penalty',
  'frequency_penalty',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
]);

const CONTENT_FILTER = new Set([
  'SAFETY',
  'RECITATION',
  'LANGUAGE',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);
const TOOL_ERRORS = new Set(['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL', 'TOO_MANY_TOOL_CALLS']);

/** Gemini finishReason → OpenAI finish_reason. Gemini ends function calls with STOP: `toolCalls` says so. */
export function geminiFinishReason(reason: unknown, toolCalls: boolean): string | null {
  if (reason === null || reason === undefined) return null;
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && CONTENT_FILTER.has(reason)) return 'content_filter';
  if (typeof reason === 'string' && TOOL_ERRORS.has(reason)) return 'error';
  return toolCalls ? 'tool_calls' : 'stop';
}

/** Gemini usageMetadata → OpenAI usage (thoughts are part of completion_tokens). */
export function geminiUsage(value: unknown): Json | null {
  if (!isObject(value)) return null;
  const prompt = num(value.promptTokenCount);
  if (prompt === null) return null;
  const toolPrompt = num(value.toolUsePromptTokenCount) ?? 0;
  const candidates = num(value.candidatesTokenCount) ?? 0;
  const thoughts = num(value.thoughtsTokenCount) ?? 0;
  return openAiUsage({
    prompt: prompt + toolPrompt,
    completion: candidates + thoughts,
    cached: num(value.cachedContentTokenCount) ?? 0,
    reasoning: thoughts,
  });
}

/** The synthesised id of the `n`th function call of a response (n counts across candidates). */
export function geminiCallId(responseId: string | null, n: number, name: string, signature: unknown): string {
  const base = responseId ? `call_${responseId}_${n}` : `call_${name}_${n}`;
  return typeof signature === 'string' && signature ? `${base}${SIGNATURE_SEPARATOR}${signature}` : base;
}

function signatureOf(id: string): string | null {
  const at = id.indexOf(SIGNATURE_SEPARATOR);
  return at === -1 ? null : id.slice(at + SIGNATURE_SEPARATOR.length) || null;
}

const EXTENSION_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
};

function mimeFromUrl(url: string): string {
  const path = url.split(/[?#]/)[0] ?? '';
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase() ?? '';
  return EXTENSION_TYPES[ext] ?? 'image/jpeg';
}

type GeminiPart = Json;

function contentParts(content: Message['content'], param: string, ctx: UpstreamRequestContext): GeminiPart[] {
  const parts: GeminiPart[] = [];
  partsOf(content).forEach((part, i) => {
    if (part.type === 'text') {
      if (part.text !== '') parts.push({ text: part.text });
    } else if (part.type === 'image') {
      const data = parseDataUrl(part.url);
      if (data) parts.push({ inlineData: { mimeType: data.mediaType, data: data.data } });
      else if (isHttpUrl(part.url))
        parts.push({ fileData: { mimeType: mimeFromUrl(part.url), fileUri: part.url } });
      else
        throw invalidRequest(
          `Images must be data: (base64) or http(s) URLs (${param}[${i}])`,
          `${param}[${i}]`,
        );
    } else {
      unsupported(ctx, `${param}[${i}]`, `content part type '${String(part.source.type)}'`);
    }
  });
  return parts;
}

/** A tool message's content as a functionResponse `response` (a JSON object as is, anything else wrapped). */
function toolResponse(content: Message['content']): Json {
  const text = textOf(content);
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isObject(parsed)) return parsed;
  } catch {
    // plain text
  }
  return { content: text };
}

interface Content {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

function translateMessages(
  messages: Message[],
  ctx: UpstreamRequestContext,
): { system: GeminiPart[]; contents: Content[] } {
  const system: GeminiPart[] = [];
  const contents: Content[] = [];
  const push = (role: Content['role'], parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((m, i) => {
    const param = `messages[${i}].content`;
    switch (m.role) {
      case 'system':
      case 'developer':
        for (const part of contentParts(m.content, param, ctx)) {
          if (typeof part.text === 'string') system.push(part);
          else unsupported(ctx, param, 'system messages can only hold text');
        }
        break;
      case 'user':
        push('user', contentParts(m.content, param, ctx));
        break;
      case 'assistant': {
        const parts = contentParts(m.content, param, ctx);
        (m.tool_calls ?? []).forEach((call, j) => {
          const signature = signatureOf(call.id);
          parts.push({
            functionCall: {
              name: call.function.name,
              args: parseArguments(
                call.function.arguments,
                `messages[${i}].tool_calls[${j}].function.arguments`,
              ),
            },
            ...(signature ? { thoughtSignature: signature } : {}),
          });
        });
        push('model', parts);
        break;
      }
      case 'tool': {
        const name = callName(messages, i, m.tool_call_id);
        push('user', [{ functionResponse: { name, response: toolResponse(m.content) } }]);
        break;
      }
    }
  });
  return { system, contents };
}

/** The function name of the call a tool message answers: the nearest earlier assistant call with that id. */
function callName(messages: Message[], at: number, id: string | null | undefined): string {
  if (id) {
    for (let i = at - 1; i >= 0; i--) {
      const call = messages[i]?.tool_calls?.find((c) => c.id === id);
      if (call) return call.function.name;
    }
  }
  throw invalidRequest(
    `Tool message answers no earlier assistant tool call (messages[${at}].tool_call_id = ${JSON.stringify(id ?? null)})`,
    `messages[${at}].tool_call_id`,
  );
}

/** The generateContent body for a ChatReq. Throws 501 for what Gemini cannot honour (unless dropped). */
export function geminiRequestBody(body: Json, ctx: UpstreamRequestContext): Json {
  checkParams(body, HANDLED, ctx);
  const { system, contents } = translateMessages(messagesOf(body), ctx);
  const out: Json = { contents };
  if (system.length > 0) out.systemInstruction = { role: 'user', parts: system };

  const config: Json = {};
  if (num(body.temperature) !== null) config.temperature = body.temperature;
  if (num(body.top_p) !== null) config.topP = body.top_p;
  if (num(body.top_k) !== null) config.topK = body.top_k;
  const max = maxTokensOf(body);
  if (max !== null) config.maxOutputTokens = max;
  const stop = stopList(body.stop);
  if (stop) config.stopSequences = stop;
  if (num(body.seed) !== null) config.seed = body.seed;
  if (num(body.presence_penalty) !== null) config.presencePenalty = body.presence_penalty;
  if (num(body.frequency_penalty) !== null) config.frequencyPenalty = body.frequency_penalty;
  if (num(body.n) !== null && body.n !== 1) config.candidateCount = body.n;

  const format = isObject(body.response_format) ? body.response_format : null;
  if (format?.type === 'json_object') {
    config.responseMimeType = 'application/json';
  } else if (format?.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    const spec = isObject(format.json_schema) ? format.json_schema : {};
    // responseJsonSchema takes JSON Schema as clients write it ($defs, additionalProperties, …).
    if (isObject(spec.schema)) config.responseJsonSchema = spec.schema;
  }

  const effort = effortOf(body);
  if (effort === 'none') config.thinkingConfig = { thinkingBudget: 0 };
  else if (effort !== null)
    config.thinkingConfig = { thinkingBudget: GEMINI_THINKING_BUDGETS[effort], includeThoughts: true };
  out.generationConfig = config;

  const tools = Array.isArray(body.tools) ? (body.tools as Json[]) : [];
  if (tools.length > 0 && body.parallel_tool_calls === false) {
    unsupported(ctx, 'parallel_tool_calls', 'Gemini cannot be limited to one function call per turn');
  }
  if (tools.length > 0) {
    out.tools = [
      {
        functionDeclarations: tools.map((t) => {
          const fn = isObject(t.function) ? t.function : {};
          const params = isObject(fn.parameters) ? fn.parameters : null;
          const empty =
            params !== null && isObject(params.properties) && Object.keys(params.properties).length === 0;
          return {
            name: fn.name,
            ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
            ...(params && !empty ? { parametersJsonSchema: params } : {}),
          };
        }),
      },
    ];
    const choice = body.tool_choice;
    let calling: Json | null = null;
    if (choice === 'auto') calling = { mode: 'AUTO' };
    else if (choice === 'none') calling = { mode: 'NONE' };
    else if (choice === 'required') calling = { mode: 'ANY' };
    else if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string')
      calling = { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
    if (calling) out.toolConfig = { functionCallingConfig: calling };
  }
  return out;
}

interface CandidateDelta {
  index: number;
  text: string | null;
  reasoning: string | null;
  calls: Json[];
  finish: unknown;
}

/** The parts of one response's candidates; `next` numbers function calls across the response. */
function readCandidates(body: Json, responseId: string | null, next: () => number): CandidateDelta[] {
  const candidates = Array.isArray(body.candidates) ? body.candidates : [];
  return candidates.map((raw: unknown, i): CandidateDelta => {
    const c = isObject(raw) ? raw : {};
    const content = isObject(c.content) ? c.content : {};
    const parts = Array.isArray(content.parts) ? content.parts : [];
    let text: string | null = null;
    let reasoning: string | null = null;
    const calls: Json[] = [];
    for (const p of parts) {
      if (!isObject(p)) continue;
      if (typeof p.text === 'string') {
        if (p.thought === true) reasoning = (reasoning ?? '') + p.text;
        else text = (text ?? '') + p.text;
      } else if (isObject(p.functionCall)) {
        const call = p.functionCall;
        const name = typeof call.name === 'string' ? call.name : '';
        const id =
          typeof call.id === 'string' && call.id
            ? call.id
            : geminiCallId(responseId, next(), name, p.thoughtSignature);
        calls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(call.args ?? {}) } });
      }
    }
    return { index: num(c.index) ?? i, text, reasoning, calls, finish: c.finishReason };
  });
}

function blockedReason(body: Json): string | null {
  const feedback = isObject(body.promptFeedback) ? body.promptFeedback : null;
  return feedback && typeof feedback.blockReason === 'string' ? feedback.blockReason : null;
}

/** A GenerateContentResponse → OpenAI chat.completion body (responseId kept as id). */
export function geminiToOpenAi(value: unknown): Json {
  const body = isObject(value) ? value : {};
  const responseId = typeof body.responseId === 'string' ? body.responseId : null;
  let n = 0;
  const candidates = readCandidates(body, responseId, () => n++);
  const choices = candidates.map((c) => {
    const message: Json = { role: 'assistant', content: c.text };
    if (c.calls.length > 0) message.tool_calls = c.calls;
    if (c.reasoning !== null) message.reasoning = c.reasoning;
    return {
      index: c.index,
      message,
      finish_reason: geminiFinishReason(c.finish ?? 'STOP', c.calls.length > 0),
      logprobs: null,
    };
  });
  if (choices.length === 0 && blockedReason(body)) {
    choices.push({
      index: 0,
      message: { role: 'assistant', content: null },
      finish_reason: 'content_filter',
      logprobs: null,
    });
  }
  return {
    id: responseId ?? undefined,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.modelVersion,
    choices,
    usage: geminiUsage(body.usageMetadata),
  };
}

/**
 * Gemini's `data:` events (each a whole GenerateContentResponse, no end marker) → OpenAI chunks. Every event
 * carries cumulative usage: only the last is reported, once, after the finish reasons of all candidates.
 */
export class GeminiStreamTranslator implements StreamTranslator {
  private readonly out = new ChunkWriter();
  private responseId: string | null = null;
  private calls = 0;
  private readonly toolIndex = new Map<number, number>();
  private readonly open = new Set<number>();
  private readonly finished = new Set<number>();
  private usage: Json | null = null;

  push(event: SseEvent): { chunks: Json[]; done: boolean } {
    const text = event.data.trim();
    if (text === '') return { chunks: [], done: false };
    if (text === '[DONE]') return { chunks: [], done: true };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new StreamProtocolError('upstream sent an event that is not JSON');
    }
    if (!isObject(data)) throw new StreamProtocolError('upstream sent an event that is not a JSON object');
    if (isObject(data.error)) {
      const err = data.error;
      const message =
        typeof err.message === 'string' ? err.message : 'upstream reported an error in the stream';
      throw new StreamProtocolError(
        typeof err.status === 'string' ? `${err.status}: ${message}` : message,
        'upstream_stream_error',
      );
    }
    if (this.responseId === null && typeof data.responseId === 'string') this.responseId = data.responseId;
    this.out.id ||= this.responseId ?? `gemini-${Date.now().toString(36)}`;
    if (typeof data.modelVersion === 'string') this.out.model = data.modelVersion;
    const usage = geminiUsage(data.usageMetadata);
    if (usage) this.usage = usage;

    const chunks: Json[] = [];
    const candidates = readCandidates(data, this.responseId, () => this.calls++);
    if (candidates.length === 0 && blockedReason(data)) {
      candidates.push({ index: 0, text: null, reasoning: null, calls: [], finish: 'SAFETY' });
    }
    for (const c of candidates) {
      const delta: Json = {};
      if (!this.open.has(c.index)) {
        this.open.add(c.index);
        delta.role = 'assistant';
        delta.content = '';
      }
      if (c.text) delta.content = (typeof delta.content === 'string' ? delta.content : '') + c.text;
      if (c.reasoning) delta.reasoning = c.reasoning;
      if (Object.keys(delta).length > 0) chunks.push(this.out.chunk(delta, null, c.index));
      for (const call of c.calls) {
        const index = this.toolIndex.get(c.index) ?? 0;
        this.toolIndex.set(c.index, index + 1);
        chunks.push(this.out.chunk({ tool_calls: [{ index, ...call }] }, null, c.index));
      }
      if (c.finish !== undefined && c.finish !== null && !this.finished.has(c.index)) {
        this.finished.add(c.index);
        const toolCalls = (this.toolIndex.get(c.index) ?? 0) > 0;
        chunks.push(this.out.chunk({}, geminiFinishReason(c.finish, toolCalls), c.index));
      }
    }
    const done = this.finished.size > 0 && [...this.open].every((i) => this.finished.has(i));
    if (done && this.usage) chunks.push(this.out.usage(this.usage));
    return { chunks, done };
  }
}

const RETRYABLE_REASONS = new Set(['API_KEY_INVALID', 'API_KEY_SERVICE_BLOCKED', 'SERVICE_DISABLED']);

/**
 * Google RPC error bodies `{"error":{"code","message","status","details"}}`. An invalid key and a region or
 * billing precondition come back as 400 but are the provider's problem, not the request's: worth a fallback.
 */
export function geminiError(status: number, text: string): UpstreamErrorInfo {
  const info = upstreamError(status, text);
  let reason: string | null = null;
  try {
    const parsed = JSON.parse(text) as unknown;
    const err = isObject(parsed) && isObject(parsed.error) ? parsed.error : {};
    const details = Array.isArray(err.details) ? err.details : [];
    for (const d of details) if (isObject(d) && typeof d.reason === 'string') reason = d.reason;
  } catch {
    // not JSON
  }
  const providerSide =
    info.type === 'FAILED_PRECONDITION' ||
    info.type === 'UNAUTHENTICATED' ||
    info.type === 'PERMISSION_DENIED' ||
    (reason !== null && RETRYABLE_REASONS.has(reason));
  return { ...info, retryable: !NON_RETRYABLE_STATUSES.has(status) || providerSide };
}

export const geminiAdapter: ProviderAdapter = {
  request(req, ctx): UpstreamCall {
    const model = ctx.upstreamModel.replace(/^models\//, '');
    const method = ctx.stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
    const headers: Record<string, string> = {};
    if (ctx.provider.api_key) headers['x-goog-api-key'] = ctx.provider.api_key;
    return {
      path: `/models/${model}:${method}`,
      headers,
      body: geminiRequestBody(effectiveRequest(req, ctx), ctx),
    };
  },
  response(body) {
    return geminiToOpenAi(body);
  },
  stream() {
    return new GeminiStreamTranslator();
  },
  error: geminiError,
};
