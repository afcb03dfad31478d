import { randomUUID } from 'node:crypto';
import type { Attempt, ChatReq, ChatRes, CompletionEvent, Usage } from '@maniac-gateway/schemas';
import type { AuthContext } from '@maniac-gateway/runtime';

export interface CompletionOutcome {
  status: 'success' | 'error' | 'client_cancelled';
  httpStatus: number;
  errorCode?: string | null;
  errorMessage?: string | null;
  response: ChatRes | null;
  /** `response` already serialised (saves serialising it twice). */
  responseJson?: string;
  provider: string | null;
  model: string | null;
  upstreamModel: string | null;
  upstreamId: string | null;
  finishReason: string | null;
  ttftMs: number | null;
  spendNanos: number | null;
  attempts: Attempt[];
}

export interface EventContext {
  completionId: string;
  requestId: string;
  auth: AuthContext;
  receivedMs: number;
  container: string | null;
  stream: boolean;
  request: ChatReq;
}

/** A token count the event can carry: a finite, non-negative, safe integer. */
function tokenCount(v: unknown): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return null;
  const n = Math.round(v);
  return Number.isSafeInteger(n) ? n : null;
}

function numberOrNull(v: unknown): number | null {
  return tokenCount(v);
}

/** The event's usage record from an OpenAI-shaped usage object (details included when reported). */
export function usageRecord(usage: ChatRes['usage'] | undefined): Usage | null {
  if (!usage) return null;
  const prompt = (usage.prompt_tokens_details ?? {}) as Record<string, unknown>;
  const completion = (usage.completion_tokens_details ?? {}) as Record<string, unknown>;
  const promptTokens = tokenCount(usage.prompt_tokens);
  const completionTokens = tokenCount(usage.completion_tokens);
  const totalTokens = tokenCount(usage.total_tokens);
  // Usage an upstream reports that no event can hold (negative, fractional beyond reason, beyond 2^53) is
  // recorded as unknown rather than failing the request.
  if (promptTokens === null || completionTokens === null || totalTokens === null) return null;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: totalTokens,
    cached_tokens: numberOrNull(prompt.cached_tokens),
    cache_creation_tokens: numberOrNull(prompt.cache_creation_tokens),
    reasoning_tokens: numberOrNull(completion.reasoning_tokens),
  };
}

export function buildCompletionEvent(
  ctx: EventContext,
  outcome: CompletionOutcome,
  nowMs: number,
): CompletionEvent {
  const req = ctx.request;
  return {
    event_id: randomUUID(),
    source: 'completion',
    completion_id: ctx.completionId,
    project_id: ctx.auth.projectId,
    key_id: ctx.auth.keyId,
    request_id: ctx.requestId,
    container: ctx.container,
    model: outcome.model,
    provider: outcome.provider,
    upstream_model: outcome.upstreamModel,
    upstream_id: outcome.upstreamId,
    stream: ctx.stream,
    status: outcome.status,
    http_status: outcome.httpStatus,
    error_code: outcome.errorCode ?? null,
    error_message: outcome.errorMessage ?? null,
    finish_reason: outcome.finishReason,
    usage: usageRecord(outcome.response?.usage),
    spend_nanos: outcome.spendNanos,
    latency_ms: Math.max(0, nowMs - ctx.receivedMs),
    ttft_ms: outcome.ttftMs,
    attempts: outcome.attempts,
    tags: req.tags ?? [],
    metadata_json: req.metadata ? JSON.stringify(req.metadata) : null,
    trace_json: req.trace ? JSON.stringify(req.trace) : null,
    request_json: JSON.stringify(req),
    response_json: outcome.responseJson ?? (outcome.response ? JSON.stringify(outcome.response) : null),
    created_ms: ctx.receivedMs,
  };
}
