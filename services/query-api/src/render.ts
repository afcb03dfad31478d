import type { ChatResRelaxedOutput } from '@maniac-gateway/schemas';
import type { StoredCompletion } from './completion-store.js';
import { modelId } from './model-id.js';

/** A stored completion → the spec's `ChatResRelaxed` item (list and get). Pure. */

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(json: string | null): JsonObject | null {
  if (json === null || json === '') return null;
  try {
    const value: unknown = JSON.parse(json);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

function toNumber(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}

/** USD from nano-dollars; null when the price was unknown. */
export function spendUsd(spendNanos: string | number | null): number | null {
  if (spendNanos === null) return null;
  return Number(spendNanos) / 1e9;
}

const TRACE_KEYS = ['id', 'span_id', 'parent_span_id', 'name', 'source', 'metadata'] as const;

function traceOf(json: string | null): ChatResRelaxedOutput['trace'] {
  const trace = parseObject(json);
  if (!trace || typeof trace.id !== 'string') return null;
  const out: JsonObject = {};
  for (const key of TRACE_KEYS) if (key in trace) out[key] = trace[key];
  return out as NonNullable<ChatResRelaxedOutput['trace']>;
}

/**
 * Usage from the event's columns (what spend was computed from), keeping any extra keys the served response
 * carried (`*_tokens_details` entries such as audio tokens).
 */
function usageOf(row: StoredCompletion, response: JsonObject | null): ChatResRelaxedOutput['usage'] {
  const served = isObject(response?.usage) ? response.usage : null;
  if (!row.has_usage) return served as ChatResRelaxedOutput['usage'];
  const usage: JsonObject = {
    ...(served ?? {}),
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    total_tokens: Number(row.total_tokens),
  };
  const promptDetails: JsonObject = isObject(served?.prompt_tokens_details)
    ? { ...served.prompt_tokens_details }
    : {};
  const completionDetails: JsonObject = isObject(served?.completion_tokens_details)
    ? { ...served.completion_tokens_details }
    : {};
  if (row.cached_tokens !== null) promptDetails.cached_tokens = toNumber(row.cached_tokens);
  if (row.cache_creation_tokens !== null)
    promptDetails.cache_creation_tokens = toNumber(row.cache_creation_tokens);
  if (row.reasoning_tokens !== null) completionDetails.reasoning_tokens = toNumber(row.reasoning_tokens);
  if (Object.keys(promptDetails).length > 0) usage.prompt_tokens_details = promptDetails;
  if (Object.keys(completionDetails).length > 0) usage.completion_tokens_details = completionDetails;
  return usage as ChatResRelaxedOutput['usage'];
}

export function renderCompletion(row: StoredCompletion): ChatResRelaxedOutput {
  const response = parseObject(row.response_json);
  const model = typeof response?.model === 'string' ? response.model : row.model || null;
  const created =
    typeof response?.created === 'number' ? response.created : Math.floor(Number(row.created_ms) / 1000);
  const choices = Array.isArray(response?.choices)
    ? (response.choices as ChatResRelaxedOutput['choices'])
    : [];
  return {
    id: row.completion_id,
    object: 'chat.completion',
    created,
    model,
    choices,
    usage: usageOf(row, response),
    provider: row.provider || (typeof response?.provider === 'string' ? response.provider : null),
    container: row.container || (typeof response?.container === 'string' ? response.container : null),
    model_id: modelId(row.model || model),
    spend: spendUsd(row.spend_nanos),
    tags: row.tags,
    metadata: parseObject(row.metadata_json),
    trace: traceOf(row.trace_json),
  };
}
