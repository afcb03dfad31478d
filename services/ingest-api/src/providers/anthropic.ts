import { DEFAULT_ANTHROPIC_VERSION } from '@maniac-gateway/runtime';
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
  unsupported,
} from './native.js';
import { NON_RETRYABLE_STATUSES, effectiveRequest, upstreamError } from './openai.js';
import type { SseEvent } from './sse.js';

/**
 * Anthropic Messages API (`POST /messages`, `x-api-key`, `anthropic-version`) behind the OpenAI-compatible API.
 * System and developer messages become the top-level `system`, tool results user-turn `tool_result` blocks
 * (consecutive same-role turns merged), `response_format` a forced tool whose input is unwrapped back into
 * `message.content`, `reasoning.effort` a thinking budget. Usage is normalised to OpenAI semantics: Anthropic's
 * `input_tokens` excludes cache reads and writes, so prompt_tokens = input + cache read + cache write.
 */

/** Used when the request gives no max tokens and the price book does not know the model. */
export const FALLBACK_MAX_TOKENS = 4096;

/** The forced tool that carries `response_format` answers. Reserved: a client tool may not use this name. */
export const JSON_TOOL_NAME = 'json_response';

/** Thinking budgets per effort (Anthropic's minimum is 1024; the budget must stay below max_tokens). */
export const THINKING_BUDGETS: Record<Exclude<ReasoningEffort, 'none'>, number> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32768,
};
const MIN_THINKING_BUDGET = 1024;

const HANDLED = new Set([
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
  'user',
  'safety_identifier',
  'service_tier',
]);

const FINISH: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** Anthropic stop_reason → OpenAI finish_reason. `jsonOnly`: the only tool use was the response_format tool. */
export function anthropicFinishReason(stopReason: unknown, jsonOnly = false): string | null {
  if (stopReason === null || stopReason === undefined) return null;
  if (stopReason === 'tool_use' && jsonOnly) return 'stop';
  return (typeof stopReason === 'string' ? FINISH[stopReason] : undefined) ?? 'stop';
}

/** Anthropic usage → OpenAI usage (cache reads and writes are part of prompt_tokens). */
export function anthropicUsage(value: unknown): Json | null {
  if (!isObject(value)) return null;
  const input = num(value.input_tokens);
  const output = num(value.output_tokens);
  if (input === null || output === null) return null;
  const read = num(value.cache_read_input_tokens) ?? 0;
  const write = num(value.cache_creation_input_tokens) ?? 0;
  const details = isObject(value.output_tokens_details) ? value.output_tokens_details : {};
  return openAiUsage({
    prompt: input + read + write,
    completion: output,
    cached: read,
    cacheCreation: write,
    reasoning: num(details.thinking_tokens),
  });
}

type Block = Json;

function cacheControl(source: Json): Json {
  return source.cache_control !== undefined ? { cache_control: source.cache_control } : {};
}

function imageBlock(url: string, source: Json, param: string): Block {
  const data = parseDataUrl(url);
  if (data) {
    return {
      type: 'image',
      source: { type: 'base64', media_type: data.mediaType, data: data.data },
      ...cacheControl(source),
    };
  }
  if (isHttpUrl(url)) return { type: 'image', source: { type: 'url', url }, ...cacheControl(source) };
  throw invalidRequest(`Images must be data: (base64) or http(s) URLs (${param})`, param);
}

/** Content blocks of a user, assistant or tool message (text and images; empty text is left out). */
function contentBlocks(content: Message['content'], param: string, ctx: UpstreamRequestContext): Block[] {
  const blocks: Block[] = [];
  partsOf(content).forEach((part, i) => {
    if (part.type === 'text') {
      if (part.text !== '') blocks.push({ type: 'text', text: part.text, ...cacheControl(part.source) });
    } else if (part.type === 'image') {
      blocks.push(imageBlock(part.url, part.source, `${param}[${i}]`));
    } else {
      unsupported(ctx, `${param}[${i}]`, `content part type '${String(part.source.type)}'`);
    }
  });
  return blocks;
}

interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

/** System text blocks and alternating user/assistant turns (consecutive same-role messages merged). */
function translateMessages(
  messages: Message[],
  ctx: UpstreamRequestContext,
): { system: Block[]; turns: Turn[] } {
  const system: Block[] = [];
  const turns: Turn[] = [];
  const push = (role: Turn['role'], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  messages.forEach((m, i) => {
    const param = `messages[${i}].content`;
    switch (m.role) {
      case 'system':
      case 'developer': {
        for (const block of contentBlocks(m.content, param, ctx)) {
          if (block.type === 'text') system.push(block);
          else unsupported(ctx, param, 'system messages can only hold text');
        }
        break;
      }
      case 'user':
        push('user', contentBlocks(m.content, param, ctx));
        break;
      case 'assistant': {
        const blocks = contentBlocks(m.content, param, ctx);
        (m.tool_calls ?? []).forEach((call, j) => {
          blocks.push({
            type: 'tool_use',
            id: call.id,
            name: call.function.name,
            input: parseArguments(
              call.function.arguments,
              `messages[${i}].tool_calls[${j}].function.arguments`,
            ),
          });
        });
        push('assistant', blocks);
        break;
      }
      case 'tool': {
        if (!m.tool_call_id) {
          throw invalidRequest(`Tool message without tool_call_id (messages[${i}])`, `messages[${i}]`);
        }
        const blocks = contentBlocks(m.content, param, ctx);
        const onlyText = blocks.every((b) => b.type === 'text' && b.cache_control === undefined);
        push('user', [
          {
            type: 'tool_result',
            tool_use_id: m.tool_call_id,
            content: onlyText ? blocks.map((b) => String(b.text)).join('') : blocks,
          },
        ]);
        break;
      }
    }
  });
  return { system, turns };
}

/**
 * With thinking on, Anthropic wants the last assistant tool-use turn to start with its signed thinking block,
 * which OpenAI-shaped history cannot carry: thinking is then left off for that request.
 */
function endsInToolLoop(turns: Turn[]): boolean {
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i] as Turn;
    if (turn.role === 'assistant') return turn.content.some((b) => b.type === 'tool_use');
  }
  return false;
}

/** The Messages API body for a ChatReq. Throws 501 for what Anthropic cannot honour (unless dropped). */
export function anthropicRequestBody(body: Json, ctx: UpstreamRequestContext): Json {
  checkParams(body, HANDLED, ctx);
  const { system, turns } = translateMessages(messagesOf(body), ctx);
  const out: Json = { model: ctx.upstreamModel };
  if (system.length > 0) out.system = system;
  // A turn of one plain text block is sent as a string, as Anthropic's own clients do.
  out.messages = turns.map((t) => {
    const only = t.content.length === 1 ? t.content[0] : undefined;
    return only && only.type === 'text' && only.cache_control === undefined
      ? { role: t.role, content: only.text }
      : t;
  });

  const explicitMax = maxTokensOf(body);
  const maxTokens = Math.max(1, Math.floor(explicitMax ?? ctx.defaultMaxTokens ?? FALLBACK_MAX_TOKENS));
  out.max_tokens = maxTokens;

  const stop = stopList(body.stop);
  if (stop) out.stop_sequences = stop;
  if (num(body.temperature) !== null) out.temperature = body.temperature;
  if (num(body.top_p) !== null) out.top_p = body.top_p;
  if (num(body.top_k) !== null) out.top_k = body.top_k;

  const userId =
    typeof body.user === 'string'
      ? body.user
      : typeof body.safety_identifier === 'string'
        ? body.safety_identifier
        : null;
  if (userId) out.metadata = { user_id: userId };
  if (body.service_tier === 'auto') out.service_tier = 'auto';
  else if (body.service_tier === 'default') out.service_tier = 'standard_only';
  else if (body.service_tier !== undefined)
    unsupported(ctx, 'service_tier', `tier '${String(body.service_tier)}'`);

  // Tools and tool choice.
  const tools = Array.isArray(body.tools) ? (body.tools as Json[]) : [];
  const anthropicTools: Json[] = tools.map((t) => {
    const fn = isObject(t.function) ? t.function : {};
    if (fn.name === JSON_TOOL_NAME) {
      throw invalidRequest(`The tool name '${JSON_TOOL_NAME}' is reserved by the gateway`, 'tools');
    }
    const params = isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} };
    return {
      name: fn.name,
      ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
      input_schema: params,
      ...cacheControl(t),
    };
  });
  let toolChoice: Json | null = null;
  const choice = body.tool_choice;
  if (anthropicTools.length > 0 && choice !== undefined) {
    if (choice === 'auto') toolChoice = { type: 'auto' };
    else if (choice === 'none') toolChoice = { type: 'none' };
    else if (choice === 'required') toolChoice = { type: 'any' };
    else if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string')
      toolChoice = { type: 'tool', name: choice.function.name };
  }
  if (body.parallel_tool_calls === false && anthropicTools.length > 0 && toolChoice?.type !== 'none') {
    toolChoice = { ...(toolChoice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  }

  // response_format: a forced tool whose input is the answer.
  const format = isObject(body.response_format) ? body.response_format : null;
  let jsonMode = false;
  if (format && (format.type === 'json_object' || format.type === 'json_schema')) {
    jsonMode = true;
    const spec = isObject(format.json_schema) ? format.json_schema : {};
    const schema = isObject(spec.schema) ? spec.schema : { type: 'object', additionalProperties: true };
    const description =
      typeof spec.description === 'string'
        ? spec.description
        : format.type === 'json_schema' && typeof spec.name === 'string'
          ? `Respond with the answer as a JSON object matching the '${spec.name}' schema.`
          : 'Respond with the answer as a JSON object.';
    anthropicTools.push({ name: JSON_TOOL_NAME, description, input_schema: schema });
    toolChoice = { type: 'tool', name: JSON_TOOL_NAME };
  }
  if (anthropicTools.length > 0) out.tools = anthropicTools;
  if (toolChoice) out.tool_choice = toolChoice;

  // reasoning.effort → extended thinking.
  const effort = effortOf(body);
  if (effort === 'none') {
    out.thinking = { type: 'disabled' };
  } else if (effort !== null && !endsInToolLoop(turns)) {
    let enable = true;
    if (jsonMode) {
      unsupported(
        ctx,
        'reasoning',
        'extended thinking cannot be combined with response_format (a forced tool)',
      );
      enable = false;
    } else if (toolChoice && (toolChoice.type === 'any' || toolChoice.type === 'tool')) {
      unsupported(ctx, 'reasoning', 'extended thinking cannot be combined with a forced tool_choice');
      enable = false;
    }
    const budget = Math.min(THINKING_BUDGETS[effort], maxTokens - 1);
    if (enable && budget < MIN_THINKING_BUDGET) {
      unsupported(ctx, 'reasoning', `extended thinking needs max_tokens above ${MIN_THINKING_BUDGET}`);
      enable = false;
    }
    if (enable) {
      out.thinking = { type: 'enabled', budget_tokens: budget };
      // Thinking accepts neither temperature nor top_k, and top_p only from 0.95.
      if (out.temperature !== undefined && out.temperature !== 1) {
        unsupported(ctx, 'temperature', 'not allowed with extended thinking (reasoning.effort)');
        delete out.temperature;
      }
      if (out.top_k !== undefined) {
        unsupported(ctx, 'top_k', 'not allowed with extended thinking (reasoning.effort)');
        delete out.top_k;
      }
      if (typeof out.top_p === 'number' && out.top_p < 0.95) {
        unsupported(ctx, 'top_p', 'must be at least 0.95 with extended thinking (reasoning.effort)');
        delete out.top_p;
      }
    }
  }
  if (ctx.stream) out.stream = true;
  return out;
}

/** An Anthropic Message → OpenAI chat.completion body (id kept). */
export function anthropicToOpenAi(value: unknown): Json {
  const body = isObject(value) ? value : {};
  const blocks = Array.isArray(body.content) ? body.content : [];
  let text: string | null = null;
  let reasoning: string | null = null;
  let json: string | null = null;
  const toolCalls: Json[] = [];
  for (const raw of blocks) {
    if (!isObject(raw)) continue;
    if (raw.type === 'text' && typeof raw.text === 'string') text = (text ?? '') + raw.text;
    else if (raw.type === 'thinking' && typeof raw.thinking === 'string')
      reasoning = (reasoning ?? '') + raw.thinking;
    else if (raw.type === 'tool_use') {
      const args = JSON.stringify(raw.input ?? {});
      if (raw.name === JSON_TOOL_NAME) json = (json ?? '') + args;
      else toolCalls.push({ id: raw.id, type: 'function', function: { name: raw.name, arguments: args } });
    }
  }
  const message: Json = { role: 'assistant', content: json ?? text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (reasoning !== null) message.reasoning = reasoning;
  return {
    id: body.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: [
      {
        index: 0,
        message,
        finish_reason: anthropicFinishReason(
          body.stop_reason ?? 'end_turn',
          json !== null && toolCalls.length === 0,
        ),
        logprobs: null,
      },
    ],
    usage: anthropicUsage(body.usage),
  };
}

type BlockKind =
  | { kind: 'text' }
  | { kind: 'thinking' }
  | { kind: 'tool'; index: number }
  | { kind: 'json' }
  | { kind: 'other' };

/** Anthropic's named SSE events → OpenAI chunks. Usage is reported once, at `message_stop`. */
export class AnthropicStreamTranslator implements StreamTranslator {
  private readonly out = new ChunkWriter();
  private readonly blocks = new Map<number, BlockKind>();
  private tools = 0;
  private json = false;
  private usage: Json = {};
  private started = false;

  push(event: SseEvent): { chunks: Json[]; done: boolean } {
    const text = event.data.trim();
    if (text === '') return { chunks: [], done: false };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new StreamProtocolError('upstream sent an event that is not JSON');
    }
    if (!isObject(data)) throw new StreamProtocolError('upstream sent an event that is not a JSON object');
    const type = typeof data.type === 'string' ? data.type : event.event;
    const chunks: Json[] = [];
    switch (type) {
      case 'message_start': {
        const message = isObject(data.message) ? data.message : {};
        this.out.id = typeof message.id === 'string' ? message.id : this.out.id;
        this.out.model = typeof message.model === 'string' ? message.model : this.out.model;
        if (isObject(message.usage)) this.usage = { ...message.usage };
        this.started = true;
        chunks.push(this.out.chunk({ role: 'assistant', content: '' }));
        break;
      }
      case 'content_block_start': {
        this.requireStart();
        const index = num(data.index) ?? this.blocks.size;
        const block = isObject(data.content_block) ? data.content_block : {};
        if (block.type === 'text') {
          this.blocks.set(index, { kind: 'text' });
          if (typeof block.text === 'string' && block.text)
            chunks.push(this.out.chunk({ content: block.text }));
        } else if (block.type === 'thinking') {
          this.blocks.set(index, { kind: 'thinking' });
          if (typeof block.thinking === 'string' && block.thinking)
            chunks.push(this.out.chunk({ reasoning: block.thinking }));
        } else if (block.type === 'tool_use' && block.name === JSON_TOOL_NAME) {
          this.blocks.set(index, { kind: 'json' });
          this.json = true;
        } else if (block.type === 'tool_use') {
          const toolIndex = this.tools++;
          this.blocks.set(index, { kind: 'tool', index: toolIndex });
          chunks.push(
            this.out.chunk({
              tool_calls: [
                {
                  index: toolIndex,
                  id: block.id,
                  type: 'function',
                  function: { name: block.name, arguments: '' },
                },
              ],
            }),
          );
        } else {
          this.blocks.set(index, { kind: 'other' });
        }
        break;
      }
      case 'content_block_delta': {
        this.requireStart();
        const kind = this.blocks.get(num(data.index) ?? -1) ?? { kind: 'other' };
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text) {
          chunks.push(this.out.chunk({ content: delta.text }));
        } else if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking) {
          chunks.push(this.out.chunk({ reasoning: delta.thinking }));
        } else if (
          delta.type === 'input_json_delta' &&
          typeof delta.partial_json === 'string' &&
          delta.partial_json
        ) {
          if (kind.kind === 'json') chunks.push(this.out.chunk({ content: delta.partial_json }));
          else if (kind.kind === 'tool')
            chunks.push(
              this.out.chunk({
                tool_calls: [{ index: kind.index, function: { arguments: delta.partial_json } }],
              }),
            );
        }
        break;
      }
      case 'message_delta': {
        this.requireStart();
        // Usage here is cumulative: it replaces, never adds to, what message_start reported.
        if (isObject(data.usage)) this.usage = { ...this.usage, ...data.usage };
        const delta = isObject(data.delta) ? data.delta : {};
        const finish = anthropicFinishReason(delta.stop_reason, this.json && this.tools === 0);
        if (finish) chunks.push(this.out.chunk({}, finish));
        break;
      }
      case 'message_stop': {
        const usage = anthropicUsage(this.usage);
        if (usage) chunks.push(this.out.usage(usage));
        return { chunks, done: true };
      }
      case 'error': {
        const err = isObject(data.error) ? data.error : {};
        const message =
          typeof err.message === 'string' ? err.message : 'upstream reported an error in the stream';
        throw new StreamProtocolError(
          typeof err.type === 'string' ? `${err.type}: ${message}` : message,
          'upstream_stream_error',
        );
      }
      default:
        // ping, content_block_stop, and event types added later: nothing to translate.
        break;
    }
    return { chunks, done: false };
  }

  private requireStart(): void {
    if (!this.started) throw new StreamProtocolError('upstream stream did not begin with message_start');
  }
}

/** Anthropic's error body `{"type":"error","error":{"type","message"}}`; billing errors are worth a fallback. */
export function anthropicError(status: number, text: string): UpstreamErrorInfo {
  const info = upstreamError(status, text);
  return { ...info, retryable: !NON_RETRYABLE_STATUSES.has(status) || info.type === 'billing_error' };
}

export const anthropicAdapter: ProviderAdapter = {
  request(req, ctx): UpstreamCall {
    const headers: Record<string, string> = {
      'anthropic-version': ctx.provider.anthropic_version ?? DEFAULT_ANTHROPIC_VERSION,
    };
    if (ctx.provider.api_key) headers['x-api-key'] = ctx.provider.api_key;
    return { path: '/messages', headers, body: anthropicRequestBody(effectiveRequest(req, ctx), ctx) };
  },
  response(body) {
    return anthropicToOpenAi(body);
  },
  stream() {
    return new AnthropicStreamTranslator();
  },
  error: anthropicError,
};
