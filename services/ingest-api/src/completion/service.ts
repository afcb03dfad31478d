import type { Writable } from 'node:stream';
import type { Attempt, ChatReq, ChatRes, CompletionEvent } from '@maniac-gateway/schemas';
import { ApiError, ErrorCodes, type AuthContext, type Logger } from '@maniac-gateway/runtime';
import { planRoute, type PlannedAttempt, type RoutingTable } from '../routing.js';
import {
  StreamAssembler,
  buildUpstreamRequest,
  rewriteChunk,
  toChatRes,
  upstreamErrorMessage,
  type ResponseIdentity,
} from '../providers/openai.js';
import { SseParser, type SseEvent } from '../providers/sse.js';
import type { UpstreamClient } from '../providers/upstream.js';
import { UpstreamFailure, classify, readBodyText, type UpstreamResponse } from '../providers/upstream.js';
import {
  buildCompletionEvent,
  usageRecord,
  type CompletionOutcome,
  type EventContext,
} from './event-builder.js';
import { newCompletionId } from './identity.js';
import type { PriceBook } from '../pricing/price-book.js';
import type { IngestMetrics } from '../metrics.js';

export interface EventSink {
  emit(event: CompletionEvent): void;
}

export interface CompletionServiceDeps {
  upstream: UpstreamClient;
  routing: () => RoutingTable;
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
  signal: AbortSignal;
}

/** Upstream statuses that are the request's fault: another provider would refuse it too. */
const NON_RETRYABLE = new Set([400, 413, 422]);

interface AttemptFailure {
  attempt: Attempt;
  retryAfterS: number | null;
  /** Set when the failure must end the plan (client error, or the client left). */
  fatal: ApiError | 'cancelled' | null;
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

/**
 * Runs a chat completion through its fallback plan: non-streamed (`complete`) or streamed (`stream`), and emits
 * exactly one event per request (unless `store` is false) whatever the outcome.
 */
export class CompletionService {
  constructor(private readonly deps: CompletionServiceDeps) {}

  private identity(
    attempt: PlannedAttempt,
    completionId: string,
    created: number,
    container: string | null,
  ): ResponseIdentity {
    return { id: completionId, created, model: attempt.slug, provider: attempt.provider, container };
  }

  private emit(req: ChatReq, ctx: EventContext, outcome: CompletionOutcome): void {
    this.deps.metrics.completions.inc({ status: outcome.status, stream: String(ctx.stream) });
    if (req.store === false) return;
    this.deps.events.emit(buildCompletionEvent(ctx, outcome, Date.now()));
  }

  private async failureFromResponse(
    res: UpstreamResponse,
    attempt: PlannedAttempt,
    startedMs: number,
    signal: AbortSignal,
  ): Promise<AttemptFailure> {
    let text = '';
    try {
      text = await readBodyText(res, signal);
    } catch {
      // the status is what matters
    }
    const message = upstreamErrorMessage(res.status, text);
    const record: Attempt = {
      provider: attempt.provider,
      model: attempt.slug,
      status: res.status,
      error_code: `upstream_http_${res.status}`,
      message,
      latency_ms: Date.now() - startedMs,
    };
    const fatal = NON_RETRYABLE.has(res.status)
      ? new ApiError(400, 'upstream_bad_request', `${attempt.provider} rejected the request: ${message}`, {
          provider: attempt.provider,
          model: attempt.slug,
          upstream_status: res.status,
        })
      : null;
    return { attempt: record, retryAfterS: retryAfterSeconds(res.headers), fatal };
  }

  private failureFromError(
    err: unknown,
    attempt: PlannedAttempt,
    startedMs: number,
    signal: AbortSignal,
  ): AttemptFailure {
    const failure = err instanceof UpstreamFailure ? err : classify(err, signal);
    return {
      attempt: {
        provider: attempt.provider,
        model: attempt.slug,
        status: null,
        error_code: `upstream_${failure.kind}`,
        message: failure.message,
        latency_ms: Date.now() - startedMs,
      },
      retryAfterS: null,
      fatal: failure.kind === 'cancelled' ? 'cancelled' : null,
    };
  }

  /** The error when every attempt failed: 429 when all were rate limited, else 503. */
  private exhausted(failures: AttemptFailure[]): ApiError {
    const attempts = failures.map((f) => f.attempt);
    if (failures.length > 0 && failures.every((f) => f.attempt.status === 429)) {
      const retryAfter = Math.max(1, ...failures.map((f) => f.retryAfterS ?? 1));
      return new ApiError(
        429,
        ErrorCodes.upstreamRateLimited,
        'Every upstream in the fallback plan is rate limiting',
        { attempts },
        { 'retry-after': String(retryAfter) },
      );
    }
    return new ApiError(
      503,
      ErrorCodes.upstreamUnavailable,
      'No upstream in the fallback plan could serve the request',
      {
        attempts,
      },
    );
  }

  private plan(req: ChatReq) {
    return planRoute(req.model, req.models, this.deps.routing());
  }

  private upstreamBody(
    req: ChatReq,
    attempt: PlannedAttempt,
    container: ReturnType<CompletionService['plan']>['container'],
    stream: boolean,
  ) {
    return buildUpstreamRequest(req, {
      upstreamModel: attempt.model,
      container,
      provider: this.deps.upstream.config(attempt.provider),
      stream,
    });
  }

  private spend(attempt: PlannedAttempt, usage: ChatRes['usage']): number | null {
    return this.deps.prices.spendNanos(attempt.provider, attempt.model, usageRecord(usage));
  }

  private errorOutcome(
    error: ApiError | null,
    failures: AttemptFailure[],
    cancelled: boolean,
  ): CompletionOutcome {
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
      attempts: failures.map((f) => f.attempt),
    };
  }

  /** Non-streamed completion. Resolves with the ChatRes, or null when the client went away. */
  async complete(req: ChatReq, ctx: RequestContext): Promise<ChatRes | null> {
    const plan = this.plan(req);
    const completionId = newCompletionId();
    const created = Math.floor(ctx.receivedMs / 1000);
    const container = plan.container?.label ?? null;
    const eventCtx: EventContext = {
      completionId,
      requestId: ctx.requestId,
      auth: ctx.auth,
      receivedMs: ctx.receivedMs,
      container,
      stream: false,
      request: req,
    };
    const failures: AttemptFailure[] = [];
    for (const attempt of plan.attempts) {
      const startedMs = Date.now();
      let failure: AttemptFailure;
      try {
        const res = await this.deps.upstream.post(
          attempt.provider,
          '/chat/completions',
          this.upstreamBody(req, attempt, plan.container, false),
          ctx.signal,
        );
        if (res.status >= 200 && res.status < 300) {
          const text = await readBodyText(res, ctx.signal);
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new UpstreamFailure('reset', 'upstream returned a body that is not JSON');
          }
          const chatRes = toChatRes(parsed, this.identity(attempt, completionId, created, container));
          const upstreamId = (parsed as { id?: unknown }).id;
          this.emit(req, eventCtx, {
            status: 'success',
            httpStatus: 200,
            response: chatRes,
            provider: attempt.provider,
            model: attempt.slug,
            upstreamModel: attempt.model,
            upstreamId: typeof upstreamId === 'string' ? upstreamId : null,
            finishReason: chatRes.choices[0]?.finish_reason ?? null,
            ttftMs: null,
            spendNanos: this.spend(attempt, chatRes.usage),
            attempts: [
              ...failures.map((f) => f.attempt),
              {
                provider: attempt.provider,
                model: attempt.slug,
                status: res.status,
                error_code: null,
                message: null,
                latency_ms: Date.now() - startedMs,
              },
            ],
          });
          return chatRes;
        }
        failure = await this.failureFromResponse(res, attempt, startedMs, ctx.signal);
      } catch (err) {
        failure = this.failureFromError(err, attempt, startedMs, ctx.signal);
      }
      failures.push(failure);
      this.deps.metrics.attemptFailures.inc({
        provider: attempt.provider,
        reason: failure.attempt.error_code ?? 'unknown',
      });
      if (failure.fatal === 'cancelled') {
        this.emit(req, eventCtx, this.errorOutcome(null, failures, true));
        return null;
      }
      if (failure.fatal) {
        this.emit(req, eventCtx, this.errorOutcome(failure.fatal, failures, false));
        throw failure.fatal;
      }
    }
    const error = this.exhausted(failures);
    this.emit(req, eventCtx, this.errorOutcome(error, failures, false));
    throw error;
  }

  /**
   * Streamed completion written to `out`. The upstream's first event is peeked before the status is committed,
   * so failures before the first byte fall back or become a normal JSON error (thrown); after it, failures end
   * the stream with an error frame and `[DONE]`.
   */
  async stream(req: ChatReq, ctx: RequestContext, out: Writable, commit: () => void): Promise<void> {
    const plan = this.plan(req);
    const completionId = newCompletionId();
    const created = Math.floor(ctx.receivedMs / 1000);
    const container = plan.container?.label ?? null;
    const eventCtx: EventContext = {
      completionId,
      requestId: ctx.requestId,
      auth: ctx.auth,
      receivedMs: ctx.receivedMs,
      container,
      stream: true,
      request: req,
    };
    const clientWantsUsage = req.stream_options?.include_usage === true;
    const failures: AttemptFailure[] = [];

    for (const attempt of plan.attempts) {
      const startedMs = Date.now();
      const identity = this.identity(attempt, completionId, created, container);
      let res: UpstreamResponse;
      try {
        res = await this.deps.upstream.post(
          attempt.provider,
          '/chat/completions',
          this.upstreamBody(req, attempt, plan.container, true),
          ctx.signal,
        );
      } catch (err) {
        const failure = this.failureFromError(err, attempt, startedMs, ctx.signal);
        failures.push(failure);
        if (failure.fatal === 'cancelled')
          return this.emit(req, eventCtx, this.errorOutcome(null, failures, true));
        continue;
      }
      if (res.status < 200 || res.status >= 300) {
        const failure = await this.failureFromResponse(res, attempt, startedMs, ctx.signal);
        failures.push(failure);
        this.deps.metrics.attemptFailures.inc({
          provider: attempt.provider,
          reason: failure.attempt.error_code ?? 'unknown',
        });
        if (failure.fatal === 'cancelled')
          return this.emit(req, eventCtx, this.errorOutcome(null, failures, true));
        if (failure.fatal) {
          this.emit(req, eventCtx, this.errorOutcome(failure.fatal, failures, false));
          throw failure.fatal;
        }
        continue;
      }

      const events = isJsonContentType(res.headers) ? jsonAsEvents(res, ctx.signal) : sseEvents(res);
      // Peek: the first data event decides whether this attempt is good.
      let first: IteratorResult<SseEvent>;
      try {
        first = await events.next();
        if (first.done) throw new UpstreamFailure('reset', 'upstream stream ended before any event');
        const firstError = streamErrorOf(first.value.data);
        if (firstError !== null) throw new UpstreamFailure('reset', firstError);
      } catch (err) {
        res.body.destroy();
        const failure = this.failureFromError(err, attempt, startedMs, ctx.signal);
        failures.push(failure);
        this.deps.metrics.attemptFailures.inc({
          provider: attempt.provider,
          reason: failure.attempt.error_code ?? 'unknown',
        });
        if (failure.fatal === 'cancelled')
          return this.emit(req, eventCtx, this.errorOutcome(null, failures, true));
        continue;
      }

      commit();
      const assembler = new StreamAssembler();
      let ttftMs: number | null = null;
      let sawDone = false;
      let streamError: { code: string; message: string } | null = null;
      let cancelled = false;
      const write = async (data: string): Promise<void> => {
        if (out.destroyed) throw new UpstreamFailure('cancelled', 'client disconnected');
        if (!out.write(`data: ${data}\n\n`)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              out.off('drain', done);
              out.off('close', done);
              resolve();
            };
            out.on('drain', done);
            out.on('close', done);
          });
        }
      };
      const handle = async (ev: SseEvent): Promise<void> => {
        const data = ev.data.trim();
        if (data === '[DONE]') {
          sawDone = true;
          return;
        }
        if (data === '') return;
        let chunk: unknown;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw new StreamProtocolError('upstream sent an event that is not JSON');
        }
        if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) {
          throw new StreamProtocolError('upstream sent an event that is not a JSON object');
        }
        const upstreamError = streamErrorOf(data);
        if (upstreamError !== null) throw new StreamProtocolError(upstreamError, 'upstream_stream_error');
        const obj = chunk as Record<string, unknown>;
        assembler.add(obj);
        const rewritten = rewriteChunk(obj, identity, clientWantsUsage);
        if (rewritten) {
          await write(JSON.stringify(rewritten));
          ttftMs ??= Date.now() - ctx.receivedMs;
        }
      };
      try {
        await handle(first.value);
        while (!sawDone) {
          const next = await events.next();
          if (next.done) break;
          await handle(next.value);
        }
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
          const failure = err instanceof UpstreamFailure ? err : classify(err, ctx.signal);
          if (failure.kind === 'cancelled' || ctx.signal.aborted) cancelled = true;
          else streamError = { code: `upstream_${failure.kind}`, message: failure.message };
        }
      } finally {
        if (!res.body.destroyed) res.body.destroy();
      }

      if (!cancelled && !out.destroyed) {
        if (streamError) {
          await write(
            JSON.stringify({
              error: {
                code: streamError.code,
                message: streamError.message,
                details: { request_id: ctx.requestId, provider: attempt.provider, model: attempt.slug },
              },
            }),
          ).catch(() => undefined);
        }
        await write('[DONE]').catch(() => undefined);
        out.end();
      }
      const chatRes = assembler.toChatRes(identity);
      const status = cancelled ? 'client_cancelled' : streamError ? 'error' : 'success';
      this.emit(req, eventCtx, {
        status,
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
          ...failures.map((f) => f.attempt),
          {
            provider: attempt.provider,
            model: attempt.slug,
            status: res.status,
            error_code: streamError?.code ?? null,
            message: streamError?.message ?? null,
            latency_ms: Date.now() - startedMs,
          },
        ],
      });
      return;
    }
    const error = this.exhausted(failures);
    this.emit(req, eventCtx, this.errorOutcome(error, failures, false));
    throw error;
  }
}

class StreamProtocolError extends Error {
  constructor(
    message: string,
    readonly code: string = 'upstream_malformed_stream',
  ) {
    super(message);
  }
}

/** The message of an in-stream `{"error":…}` event, or null for a normal event. */
function streamErrorOf(data: string): string | null {
  if (!data.startsWith('{') || !data.includes('"error"')) return null;
  try {
    const parsed = JSON.parse(data) as Record<string, unknown>;
    const err = parsed.error;
    if (!err) return null;
    if (typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
      return (err as { message: string }).message;
    }
    return typeof err === 'string' ? err : 'upstream reported an error in the stream';
  } catch {
    return null;
  }
}

async function* sseEvents(res: UpstreamResponse): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  for await (const chunk of res.body) {
    for (const ev of parser.push(chunk as Buffer)) yield ev;
  }
  for (const ev of parser.end()) yield ev;
}

/** Some upstreams ignore `stream: true` and answer JSON: replay it as one chunk so the client still streams. */
async function* jsonAsEvents(res: UpstreamResponse, signal: AbortSignal): AsyncGenerator<SseEvent> {
  const text = await readBodyText(res, signal);
  const body = JSON.parse(text) as Record<string, unknown>;
  const choices = Array.isArray(body.choices) ? (body.choices as Record<string, unknown>[]) : [];
  const chunk = {
    id: body.id,
    object: 'chat.completion.chunk',
    created: body.created,
    model: body.model,
    choices: choices.map((c, i) => ({
      index: typeof c.index === 'number' ? c.index : i,
      delta: c.message ?? {},
      finish_reason: c.finish_reason ?? 'stop',
      logprobs: c.logprobs ?? null,
    })),
  };
  yield { event: null, data: JSON.stringify(chunk), id: null };
  if (body.usage) {
    yield { event: null, data: JSON.stringify({ ...chunk, choices: [], usage: body.usage }), id: null };
  }
  yield { event: null, data: '[DONE]', id: null };
}
