import type { Writable } from 'node:stream';
import type { Attempt, ChatReq, ChatRes, CompletionEvent } from '@maniac-gateway/schemas';
import { ApiError, ErrorCodes, type AuthContext, type Logger } from '@maniac-gateway/runtime';
import {
  planRoute,
  requestedModel,
  type PlannedAttempt,
  type RoutePlan,
  type RoutingTable,
} from '../routing.js';
import {
  StreamAssembler,
  rewriteChunk,
  toChatRes,
  upstreamError,
  type ResponseIdentity,
} from '../providers/openai.js';
import {
  StreamProtocolError,
  type Json,
  type ProviderAdapter,
  type UpstreamRequestContext,
} from '../providers/adapter.js';
import { adapterFor } from '../providers/registry.js';
import {
  UpstreamFailure,
  finishBody,
  type Cancellation,
  classify,
  readBodyText,
  type UpstreamClient,
  type UpstreamResponse,
} from '../providers/upstream.js';
import {
  buildCompletionEvent,
  usageRecord,
  type CompletionOutcome,
  type EventContext,
} from './event-builder.js';
import { newCompletionId } from './identity.js';
import { UpstreamChunks } from './upstream-chunks.js';
import type { PriceBook } from '../pricing/price-book.js';
import type { IngestMetrics } from '../metrics.js';

export interface EventSink {
  emit(event: CompletionEvent): void;
  /**
   * Takes the event as a builder, run later off the request path (the publisher builds and encodes deferred
   * events when it next assembles a batch). Sinks without it get `emit(build())` at once.
   */
  defer?(build: () => CompletionEvent): void;
}

export interface CompletionServiceDeps {
  upstream: UpstreamClient;
  /** The routing table as seen by one project (its containers, then the config-defined ones). */
  routing: (projectId: string) => RoutingTable;
  events: EventSink;
  prices: PriceBook;
  logger: Logger;
  metrics: IngestMetrics;
}

export interface RequestContext {
  requestId: string;
  auth: AuthContext;
  receivedMs: number;
  /** Aborted when the client goes away. */
  signal: Cancellation;
  /** The plan, when the caller already made it (e.g. to check limits against it). */
  plan?: RoutePlan;
  /** Called once with the outcome (stored or not): limits and budgets settle with it. */
  onOutcome?: (outcome: CompletionOutcome) => void;
}

interface AttemptFailure {
  attempt: Attempt;
  retryAfterS: number | null;
  /** Set when the failure must end the plan (client error, or the client left). */
  fatal: ApiError | 'cancelled' | null;
  /** The attempt was skipped because the provider cannot honour a parameter (501). */
  unsupported: ApiError | null;
}

function retryAfterSeconds(headers: UpstreamResponse['headers']): number | null {
  const raw = headers['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return null;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(1, Math.ceil(n));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(1, Math.ceil((date - Date.now()) / 1000));
}

function isJsonContentType(headers: UpstreamResponse['headers']): boolean {
  const ct = headers['content-type'];
  return typeof ct === 'string' && ct.includes('application/json');
}

/** One attempt in flight: the plan entry, its adapter and request context, and when it started. */
interface AttemptRun {
  attempt: PlannedAttempt;
  adapter: ProviderAdapter;
  rctx: UpstreamRequestContext;
  startedMs: number;
}

/** Per-request state shared by both modes. */
interface RequestRun {
  req: ChatReq;
  ctx: RequestContext;
  plan: RoutePlan;
  completionId: string;
  created: number;
  container: string | null;
  eventCtx: EventContext;
  failures: AttemptFailure[];
}

/**
 * Runs a chat completion through its fallback plan: non-streamed (`complete`) or streamed (`stream`), and emits
 * exactly one event per request (unless `store` is false) whatever the outcome.
 */
export class CompletionService {
  constructor(private readonly deps: CompletionServiceDeps) {}

  private begin(req: ChatReq, ctx: RequestContext, stream: boolean): RequestRun {
    const plan = ctx.plan ?? this.plan(req, ctx.auth.projectId);
    const completionId = newCompletionId();
    const container = plan.container?.label ?? null;
    return {
      req,
      ctx,
      plan,
      completionId,
      created: Math.floor(ctx.receivedMs / 1000),
      container,
      eventCtx: {
        completionId,
        requestId: ctx.requestId,
        auth: ctx.auth,
        receivedMs: ctx.receivedMs,
        container,
        stream,
        request: req,
      },
      failures: [],
    };
  }

  private identity(run: RequestRun, attempt: PlannedAttempt): ResponseIdentity {
    return {
      id: run.completionId,
      created: run.created,
      model: attempt.slug,
      provider: attempt.provider,
      container: run.container,
    };
  }

  /** The fallback plan of a request as one project sees it (404 model_not_found for unknown slugs). */
  plan(req: ChatReq, projectId: string): RoutePlan {
    return planRoute(requestedModel(req.model, req.container), req.models, this.deps.routing(projectId));
  }

  private emit(run: RequestRun, outcome: CompletionOutcome): void {
    run.ctx.onOutcome?.(outcome);
    this.deps.metrics.completions.inc({ status: outcome.status, stream: String(run.eventCtx.stream) });
    if (run.req.store === false) return;
    const nowMs = Date.now();
    const build = () => buildCompletionEvent(run.eventCtx, outcome, nowMs);
    if (this.deps.events.defer) {
      this.deps.events.defer(build);
      return;
    }
    try {
      this.deps.events.emit(build());
    } catch (err) {
      // An event that cannot be encoded must never fail the response the client is getting.
      this.deps.metrics.eventsDropped.inc({ reason: 'encode' });
      this.deps.logger.error(
        { err, completion_id: run.completionId },
        'completion event could not be encoded',
      );
    }
  }

  private prepare(run: RequestRun, attempt: PlannedAttempt, stream: boolean): AttemptRun {
    const provider = this.deps.upstream.config(attempt.provider);
    const price = this.deps.prices.lookup(this.priceProvider(attempt), attempt.model);
    return {
      attempt,
      adapter: adapterFor(provider.kind),
      rctx: {
        upstreamModel: attempt.model,
        container: run.plan.container,
        provider,
        providerName: attempt.provider,
        stream,
        defaultMaxTokens: price?.max_output_tokens ?? null,
      },
      startedMs: Date.now(),
    };
  }

  /** Builds and sends one attempt's upstream request. */
  private send(run: RequestRun, a: AttemptRun): Promise<UpstreamResponse> {
    const call = a.adapter.request(run.req, a.rctx);
    return this.deps.upstream.post(a.attempt.provider, call.path, call.body, call.headers, run.ctx.signal);
  }

  private async failureFromResponse(
    res: UpstreamResponse,
    a: AttemptRun,
    signal: Cancellation,
  ): Promise<AttemptFailure> {
    let text = '';
    try {
      text = await readBodyText(res, signal);
    } catch {
      // the status is what matters
    }
    const info = a.adapter.error?.(res.status, text) ?? upstreamError(res.status, text);
    const message = info.message;
    const fatal = !info.retryable
      ? new ApiError(400, 'upstream_bad_request', `${a.attempt.provider} rejected the request: ${message}`, {
          provider: a.attempt.provider,
          model: a.attempt.slug,
          upstream_status: res.status,
          upstream_error: { type: info.type, message },
        })
      : null;
    return {
      attempt: this.attemptRecord(a, res.status, `upstream_http_${res.status}`, message),
      retryAfterS: retryAfterSeconds(res.headers),
      fatal,
      unsupported: null,
    };
  }

  private failureFromError(err: unknown, a: AttemptRun, signal: Cancellation): AttemptFailure {
    if (err instanceof ApiError) {
      // An adapter refused the request (e.g. 501 unsupported_parameter): skip this attempt.
      return {
        attempt: this.attemptRecord(a, err.status, err.code, err.message),
        retryAfterS: null,
        fatal: err.status === 501 ? null : err,
        unsupported: err.status === 501 ? err : null,
      };
    }
    const failure = err instanceof UpstreamFailure ? err : classify(err, signal);
    return {
      attempt: this.attemptRecord(a, null, `upstream_${failure.kind}`, failure.message),
      retryAfterS: null,
      fatal: failure.kind === 'cancelled' ? 'cancelled' : null,
      unsupported: null,
    };
  }

  private attemptRecord(
    a: AttemptRun,
    status: number | null,
    code: string | null,
    message: string | null,
  ): Attempt {
    return {
      provider: a.attempt.provider,
      model: a.attempt.slug,
      status,
      error_code: code,
      message,
      latency_ms: Date.now() - a.startedMs,
    };
  }

  /**
   * Records a failed attempt. Returns 'continue' to try the next one, 'cancelled' when the client left, or
   * throws when the failure ends the plan.
   */
  private recordFailure(run: RequestRun, failure: AttemptFailure): 'continue' | 'cancelled' {
    run.failures.push(failure);
    this.deps.metrics.attemptFailures.inc({
      provider: failure.attempt.provider,
      reason: failure.attempt.error_code ?? 'unknown',
    });
    if (failure.fatal === 'cancelled') {
      this.emit(run, this.errorOutcome(run, null, true));
      return 'cancelled';
    }
    if (failure.fatal) {
      this.emit(run, this.errorOutcome(run, failure.fatal, false));
      throw failure.fatal;
    }
    return 'continue';
  }

  /** Every attempt failed: 501 when all were unsupported, 429 when all were rate limited, else 503. */
  private exhausted(run: RequestRun): never {
    const failures = run.failures;
    const attempts = failures.map((f) => f.attempt);
    let error: ApiError;
    const firstUnsupported = failures[0]?.unsupported;
    if (firstUnsupported && failures.every((f) => f.unsupported)) {
      error = new ApiError(501, firstUnsupported.code, firstUnsupported.message, {
        ...(firstUnsupported.details ?? {}),
        attempts,
      });
    } else if (failures.length > 0 && failures.every((f) => f.attempt.status === 429)) {
      const retryAfter = Math.max(1, ...failures.map((f) => f.retryAfterS ?? 1));
      error = new ApiError(
        429,
        ErrorCodes.upstreamRateLimited,
        'Every upstream in the fallback plan is rate limiting',
        { attempts },
        { 'retry-after': String(retryAfter) },
      );
    } else {
      error = new ApiError(
        503,
        ErrorCodes.upstreamUnavailable,
        'No upstream in the fallback plan could serve the request',
        { attempts },
      );
    }
    this.emit(run, this.errorOutcome(run, error, false));
    throw error;
  }

  private spend(attempt: PlannedAttempt, usage: ChatRes['usage']): number | null {
    return this.deps.prices.spendNanos(this.priceProvider(attempt), attempt.model, usageRecord(usage));
  }

  /**
   * The price-book provider of an attempt: its own name, or — for the native kinds, whose kind names the vendor —
   * the kind (a provider named `claude` of kind anthropic is priced as `anthropic/…`). OpenAI-wire providers
   * are never priced by kind: a custom-named one may serve anything under any model name.
   */
  private priceProvider(attempt: PlannedAttempt): string {
    const kind = this.deps.upstream.config(attempt.provider).kind;
    const byKind = kind === 'anthropic' || kind === 'gemini';
    return byKind && !this.deps.prices.lookup(attempt.provider, attempt.model) ? kind : attempt.provider;
  }

  private errorOutcome(run: RequestRun, error: ApiError | null, cancelled: boolean): CompletionOutcome {
    return {
      status: cancelled ? 'client_cancelled' : 'error',
      httpStatus: cancelled ? 499 : (error?.status ?? 500),
      errorCode: cancelled ? 'client_cancelled' : (error?.code ?? null),
      errorMessage: cancelled ? 'client disconnected' : (error?.message ?? null),
      response: null,
      provider: null,
      model: null,
      upstreamModel: null,
      upstreamId: null,
      finishReason: null,
      ttftMs: null,
      spendNanos: null,
      attempts: run.failures.map((f) => f.attempt),
    };
  }

  /**
   * Non-streamed completion. Resolves with the ChatRes and its JSON (serialised once, for the client and the
   * event), or null when the client went away.
   */
  async complete(req: ChatReq, ctx: RequestContext): Promise<{ res: ChatRes; json: string } | null> {
    const run = this.begin(req, ctx, false);
    for (const attempt of run.plan.attempts) {
      const a = this.prepare(run, attempt, false);
      let failure: AttemptFailure;
      try {
        const res = await this.send(run, a);
        if (res.status >= 200 && res.status < 300) {
          const text = await readBodyText(res, ctx.signal);
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new UpstreamFailure('reset', 'upstream returned a body that is not JSON');
          }
          const body = a.adapter.response(parsed, a.rctx);
          const chatRes = toChatRes(body, this.identity(run, attempt));
          const json = JSON.stringify(chatRes);
          this.emit(run, {
            status: 'success',
            httpStatus: 200,
            response: chatRes,
            responseJson: json,
            provider: attempt.provider,
            model: attempt.slug,
            upstreamModel: attempt.model,
            upstreamId: typeof body.id === 'string' ? body.id : null,
            finishReason: chatRes.choices[0]?.finish_reason ?? null,
            ttftMs: null,
            spendNanos: this.spend(attempt, chatRes.usage),
            attempts: [...run.failures.map((f) => f.attempt), this.attemptRecord(a, res.status, null, null)],
          });
          return { res: chatRes, json };
        }
        failure = await this.failureFromResponse(res, a, ctx.signal);
      } catch (err) {
        failure = this.failureFromError(err, a, ctx.signal);
      }
      if (this.recordFailure(run, failure) === 'cancelled') return null;
    }
    return this.exhausted(run);
  }

  /**
   * Streamed completion written to `out`. The upstream's first chunk is peeked before the status is committed,
   * so failures before the first byte fall back or become a normal JSON error (thrown); after it, failures end
   * the stream with an error frame and `[DONE]`.
   */
  async stream(req: ChatReq, ctx: RequestContext, out: Writable, commit: () => void): Promise<void> {
    const run = this.begin(req, ctx, true);
    const clientWantsUsage = req.stream_options?.include_usage === true;

    for (const attempt of run.plan.attempts) {
      const a = this.prepare(run, attempt, true);
      let res: UpstreamResponse;
      let chunks: UpstreamChunks;
      let first: Json | null;
      let opened: UpstreamResponse | null = null;
      try {
        res = await this.send(run, a);
        opened = res;
        if (res.status < 200 || res.status >= 300) {
          if (this.recordFailure(run, await this.failureFromResponse(res, a, ctx.signal)) === 'cancelled')
            return;
          continue;
        }
        chunks = upstreamChunks(res, a, ctx.signal);
        // Peek: the first chunk decides whether this attempt is good.
        first = await chunks.first();
        if (first === null) throw new UpstreamFailure('reset', 'upstream stream ended before any event');
      } catch (err) {
        const failure =
          err instanceof StreamProtocolError
            ? {
                attempt: this.attemptRecord(a, 200, err.code, err.message),
                retryAfterS: null,
                fatal: null,
                unsupported: null,
              }
            : this.failureFromError(err, a, ctx.signal);
        // A body left unread would hold its connection (and the attempt's timer) until the total timeout.
        if (opened && !opened.body.destroyed) opened.body.destroy();
        if (this.recordFailure(run, failure) === 'cancelled') return;
        continue;
      }

      commit();
      await this.pump(run, a, res, chunks, first, out, clientWantsUsage);
      return;
    }
    this.exhausted(run);
  }

  /** Writes the committed stream to the client, then emits the event for it. */
  private async pump(
    run: RequestRun,
    a: AttemptRun,
    res: UpstreamResponse,
    chunks: UpstreamChunks,
    first: Json,
    out: Writable,
    clientWantsUsage: boolean,
  ): Promise<void> {
    const { attempt } = a;
    const identity = this.identity(run, attempt);
    const assembler = new StreamAssembler();
    let ttftMs: number | null = null;
    let sawDone = false;
    let streamError: { code: string; message: string } | null = null;
    let cancelled = false;
    // Writes one frame; false when the client's buffer is full (the upstream is paused until it drains).
    const write = (data: string): boolean => {
      if (out.destroyed) throw new UpstreamFailure('cancelled', 'client disconnected');
      return out.write(`data: ${data}\n\n`);
    };
    const forward = (chunk: Json): boolean => {
      assembler.add(chunk);
      const rewritten = rewriteChunk(chunk, identity, clientWantsUsage);
      if (!rewritten) return true;
      const flowing = write(JSON.stringify(rewritten));
      ttftMs ??= Date.now() - run.ctx.receivedMs;
      return flowing;
    };
    try {
      forward(first);
      sawDone = await chunks.forward(forward, out);
      if (!sawDone && !assembler.finished()) {
        streamError = {
          code: 'upstream_stream_truncated',
          message: 'upstream stream ended before completion',
        };
      }
    } catch (err) {
      if (err instanceof StreamProtocolError) {
        streamError = { code: err.code, message: err.message };
      } else {
        const failure = err instanceof UpstreamFailure ? err : classify(err, run.ctx.signal);
        if (failure.kind === 'cancelled' || run.ctx.signal.aborted) cancelled = true;
        else streamError = { code: `upstream_${failure.kind}`, message: failure.message };
      }
    } finally {
      finishBody(res, sawDone && streamError === null && !cancelled);
    }

    if (!cancelled && !out.destroyed) {
      if (streamError) {
        const details = { request_id: run.ctx.requestId, provider: attempt.provider, model: attempt.slug };
        out.write(`data: ${JSON.stringify({ error: { ...streamError, details } })}\n\n`);
      }
      out.end('data: [DONE]\n\n');
    }
    const chatRes = assembler.toChatRes(identity);
    this.emit(run, {
      status: cancelled ? 'client_cancelled' : streamError ? 'error' : 'success',
      httpStatus: cancelled ? 499 : 200,
      errorCode: cancelled ? 'client_cancelled' : (streamError?.code ?? null),
      errorMessage: cancelled ? 'client disconnected' : (streamError?.message ?? null),
      response: chatRes,
      provider: attempt.provider,
      model: attempt.slug,
      upstreamModel: attempt.model,
      upstreamId: assembler.upstreamId,
      finishReason: streamError ? 'error' : assembler.finishReason(),
      ttftMs,
      spendNanos: this.spend(attempt, chatRes.usage),
      attempts: [
        ...run.failures.map((f) => f.attempt),
        this.attemptRecord(a, 200, streamError?.code ?? null, streamError?.message ?? null),
      ],
    });
  }
}

/** The upstream's stream as OpenAI chunks, through the adapter's translator (a JSON answer replayed as chunks). */
function upstreamChunks(res: UpstreamResponse, a: AttemptRun, signal: Cancellation): UpstreamChunks {
  const json = isJsonContentType(res.headers)
    ? (parsed: unknown) => jsonAsChunks(a.adapter.response(parsed, a.rctx))
    : null;
  return new UpstreamChunks(res, a.adapter.stream(a.rctx), signal, json);
}

function jsonAsChunks(body: Json): Json[] {
  const choices = Array.isArray(body.choices) ? (body.choices as Json[]) : [];
  const chunk = {
    id: body.id,
    object: 'chat.completion.chunk',
    created: body.created,
    model: body.model,
    choices: choices.map((c, i) => {
      const message = (c.message ?? {}) as Json;
      const toolCalls = Array.isArray(message.tool_calls)
        ? (message.tool_calls as Json[]).map((t, index) => ({ index, ...t }))
        : undefined;
      return {
        index: typeof c.index === 'number' ? c.index : i,
        delta: { ...message, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
        finish_reason: c.finish_reason ?? 'stop',
        logprobs: c.logprobs ?? null,
      };
    }),
  };
  return body.usage ? [chunk, { ...chunk, choices: [], usage: body.usage }] : [chunk];
}
