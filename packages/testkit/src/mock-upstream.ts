import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  anthropicErrorBody,
  anthropicResponse,
  anthropicStream,
  geminiErrorBody,
  geminiResponse,
  geminiStream,
} from './native-wire.js';

/**
 * An in-process upstream that speaks the providers' wire formats exactly (shapes recorded from the live APIs: see
 * shared/data/wire-formats), scriptable per model: JSON replies, timed SSE streams with tool-call deltas, error
 * statuses, hangs, resets and mid-stream disconnects. It records every request it received.
 *
 * The format follows the request path, so one mock serves every provider kind at once:
 * - `…/chat/completions` — OpenAI (model from the body);
 * - `…/openai/deployments/{deployment}/chat/completions?api-version=…` — Azure OpenAI (model = deployment);
 * - `…/messages` — Anthropic Messages (named SSE events, no `[DONE]`);
 * - `…/models/{model}:generateContent` and `:streamGenerateContent?alt=sse` — Gemini (no `[DONE]`).
 */

export type WireFormat = 'openai' | 'azure' | 'anthropic' | 'gemini';

export type Behaviour =
  | { kind: 'json'; status?: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  | {
      kind: 'sse';
      /**
       * `data:` payloads (objects are JSON-encoded; strings sent verbatim). Anthropic objects are sent as named
       * events (`event: <type>`), Gemini ones with CRLF line ends, as the live APIs do.
       */
      events: (object | string)[];
      /** Raw SSE text sent as is after the events (e.g. a recorded fixture file). */
      raw?: string;
      intervalMs?: number;
      /** Send `data: [DONE]` at the end (default: true for OpenAI and Azure, false for Anthropic and Gemini). */
      done?: boolean;
      /** Destroy the socket after this many events (mid-stream disconnect). */
      cutAfter?: number;
      /** Stop sending (but keep the socket open) after this many events. */
      stallAfter?: number;
      /** End the response this long after the last event (`[DONE]` reaches the client before the body ends). */
      endDelayMs?: number;
    }
  | { kind: 'hang' }
  | { kind: 'reset' };

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  /** The wire format the path speaks. */
  format: WireFormat;
  /** The model the request is for (from the body, the Gemini model path or the Azure deployment). */
  model: string;
  stream: boolean;
}

export interface MockReplyOptions {
  content?: string;
  model?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens?: number; [k: string]: unknown };
  toolCalls?: { id: string; name: string; arguments: string }[];
  finishReason?: string;
}

let seq = 0;
function upstreamId(): string {
  seq += 1;
  return `chatcmpl-UP${Date.now().toString(36)}${seq}`;
}

/** A non-streamed OpenAI response body, in the field order the live API uses. */
export function openAiResponse(opts: MockReplyOptions = {}): Record<string, unknown> {
  const usage = opts.usage ?? { prompt_tokens: 12, completion_tokens: 7 };
  return {
    id: upstreamId(),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: opts.model ?? 'gpt-4o-mini-2024-07-18',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: opts.toolCalls ? null : (opts.content ?? 'Hello from the mock upstream.'),
          ...(opts.toolCalls
            ? {
                tool_calls: opts.toolCalls.map((t) => ({
                  id: t.id,
                  type: 'function',
                  function: { name: t.name, arguments: t.arguments },
                })),
              }
            : {}),
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: opts.finishReason ?? (opts.toolCalls ? 'tool_calls' : 'stop'),
      },
    ],
    usage: {
      ...usage,
      total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0, ...(usage.prompt_tokens_details ?? {}) },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    service_tier: 'default',
    system_fingerprint: 'fp_mock0001',
  };
}

/** The chunk sequence of a streamed reply, as the live API sends it (role chunk, deltas, finish, usage). */
export function openAiStream(opts: MockReplyOptions & { pieces?: string[] } = {}): object[] {
  const id = upstreamId();
  const created = Math.floor(Date.now() / 1000);
  const model = opts.model ?? 'gpt-4o-mini-2024-07-18';
  const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock0001' };
  const chunk = (delta: object, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  const events: object[] = [];
  if (opts.toolCalls) {
    events.push(chunk({ role: 'assistant', content: null, refusal: null }));
    opts.toolCalls.forEach((t, index) => {
      events.push(
        chunk({
          tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }],
        }),
      );
      const mid = Math.ceil(t.arguments.length / 2);
      for (const part of [t.arguments.slice(0, mid), t.arguments.slice(mid)]) {
        if (part) events.push(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
      }
    });
    events.push(chunk({}, opts.finishReason ?? 'tool_calls'));
  } else {
    events.push(chunk({ role: 'assistant', content: '', refusal: null }));
    for (const piece of opts.pieces ?? ['Hello', ' from', ' the', ' mock', '.'])
      events.push(chunk({ content: piece }));
    events.push(chunk({}, opts.finishReason ?? 'stop'));
  }
  const usage = opts.usage ?? { prompt_tokens: 12, completion_tokens: 5 };
  events.push({
    ...base,
    choices: [],
    usage: {
      ...usage,
      total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0, ...(usage.prompt_tokens_details ?? {}) },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    },
  });
  return events;
}

/** Which wire format a request path speaks, the model it is for, and whether it asks for a stream. */
function route(
  path: string,
  body: Record<string, unknown>,
): { format: WireFormat; model: string; stream: boolean } {
  const pathname = path.split('?')[0] ?? '';
  const gemini = /\/models\/([^/]+?):(generateContent|streamGenerateContent)$/.exec(pathname);
  if (gemini) {
    return {
      format: 'gemini',
      model: decodeURIComponent(gemini[1] ?? ''),
      stream: gemini[2] === 'streamGenerateContent',
    };
  }
  const azure = /\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(pathname);
  if (azure)
    return { format: 'azure', model: decodeURIComponent(azure[1] ?? ''), stream: body.stream === true };
  const model = typeof body.model === 'string' ? body.model : '';
  if (pathname.endsWith('/messages')) return { format: 'anthropic', model, stream: body.stream === true };
  return { format: 'openai', model, stream: body.stream === true };
}

function defaultResponse(format: WireFormat, model: string): Record<string, unknown> {
  if (format === 'anthropic') return anthropicResponse({ model });
  if (format === 'gemini') return geminiResponse({ model });
  return openAiResponse({ model });
}

function defaultStream(format: WireFormat, model: string): object[] {
  if (format === 'anthropic') return anthropicStream({ model });
  if (format === 'gemini') return geminiStream({ model });
  return openAiStream({ model });
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

const GOOGLE_STATUSES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** The error body each provider sends for a status. */
function errorBody(format: WireFormat, status: number): unknown {
  if (format === 'anthropic') {
    return anthropicErrorBody(ANTHROPIC_ERROR_TYPES[status] ?? 'api_error', `mock error ${status}`);
  }
  if (format === 'gemini')
    return geminiErrorBody(status, GOOGLE_STATUSES[status] ?? 'UNKNOWN', `mock error ${status}`);
  return { error: { message: `mock error ${status}`, type: 'server_error', param: null, code: null } };
}

/** One SSE event as each provider frames it. */
function encodeEvent(format: WireFormat, ev: object | string): string {
  const data = typeof ev === 'string' ? ev : JSON.stringify(ev);
  if (
    format === 'anthropic' &&
    typeof ev === 'object' &&
    typeof (ev as { type?: unknown }).type === 'string'
  ) {
    return `event: ${(ev as { type: string }).type}\ndata: ${data}\n\n`;
  }
  if (format === 'gemini') return `data: ${data}\r\n\r\n`;
  return `data: ${data}\n\n`;
}

export class MockUpstream {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, Behaviour[]>();
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;
  url = '';
  /** TCP connections accepted so far (keep-alive reuse shows as few connections for many requests). */
  connectionsAccepted = 0;
  /** Responses started and not yet closed. */
  activeResponses = 0;

  /** Queue behaviours for a model (consumed in order; the last one repeats). */
  script(model: string, ...behaviours: Behaviour[]): this {
    this.scripts.set(model, behaviours);
    return this;
  }

  reset(): void {
    this.requests.length = 0;
    this.scripts.clear();
  }

  requestsFor(model: string): RecordedRequest[] {
    return this.requests.filter((r) => r.model === model);
  }

  private next(model: string, stream: boolean, format: WireFormat): Behaviour {
    const queue = this.scripts.get(model);
    if (queue && queue.length > 0)
      return queue.length > 1 ? (queue.shift() as Behaviour) : (queue[0] as Behaviour);
    return stream
      ? { kind: 'sse', events: defaultStream(format, model) }
      : { kind: 'json', body: defaultResponse(format, model) };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.connectionsAccepted++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/v1`;
    return this.url;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.activeResponses++;
    res.once('close', () => this.activeResponses--);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = {};
    }
    const path = req.url ?? '';
    const { format, model, stream } = route(path, body);
    this.requests.push({ path, headers: req.headers, body, format, model, stream });
    const behaviour = this.next(model, stream, format);
    switch (behaviour.kind) {
      case 'hang':
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'json':
      case 'error': {
        if (behaviour.kind === 'json' && behaviour.delayMs)
          await new Promise((r) => setTimeout(r, behaviour.delayMs));
        const status = behaviour.kind === 'json' ? (behaviour.status ?? 200) : behaviour.status;
        const payload =
          behaviour.body ??
          (behaviour.kind === 'json' ? defaultResponse(format, model) : errorBody(format, status));
        res.writeHead(status, { 'content-type': 'application/json', ...(behaviour.headers ?? {}) });
        res.end(JSON.stringify(payload));
        return;
      }
      case 'sse': {
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
        });
        let sent = 0;
        for (const ev of behaviour.events) {
          if (behaviour.cutAfter !== undefined && sent >= behaviour.cutAfter) {
            req.socket.destroy();
            return;
          }
          if (behaviour.stallAfter !== undefined && sent >= behaviour.stallAfter) return;
          if (behaviour.intervalMs) await new Promise((r) => setTimeout(r, behaviour.intervalMs));
          if (res.destroyed) return;
          // Wait until each event reached the socket, so a scripted cut happens after what was sent.
          await new Promise<void>((resolve) => res.write(encodeEvent(format, ev), () => resolve()));
          sent++;
        }
        if (behaviour.raw) await new Promise<void>((resolve) => res.write(behaviour.raw, () => resolve()));
        const done = behaviour.done ?? (format === 'openai' || format === 'azure');
        if (done) res.write('data: [DONE]\n\n');
        if (behaviour.endDelayMs) await new Promise((r) => setTimeout(r, behaviour.endDelayMs));
        res.end();
        return;
      }
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
