import type { ChatReq } from '@maniac-gateway/schemas';
import type { ContainerConfig, ProviderConfig } from '@maniac-gateway/runtime';
import type { SseEvent } from './sse.js';

/**
 * What a provider kind must do to sit behind the OpenAI-compatible API: build the upstream HTTP call from a
 * ChatReq, turn its JSON answer into an OpenAI-format body, and turn its stream events into OpenAI-format
 * chunks. Everything after that (ChatRes normalisation, chunk rewriting, assembly, events) is shared.
 */

export type Json = Record<string, unknown>;

export interface UpstreamRequestContext {
  /** The model name sent upstream (for Azure: the deployment). */
  upstreamModel: string;
  container: ContainerConfig | null;
  provider: ProviderConfig;
  providerName: string;
  stream: boolean;
  /**
   * The model's default output limit (from the price book), for providers that require a max-tokens value
   * (Anthropic) when the request gives none. Null or absent: unknown.
   */
  defaultMaxTokens?: number | null;
}

/** What an upstream error body says, in the provider's own terms. */
export interface UpstreamErrorInfo {
  /** The provider's message, e.g. `Overloaded`. */
  message: string;
  /** The provider's error type or status, e.g. `overloaded_error`, `RESOURCE_EXHAUSTED`. */
  type: string | null;
  /**
   * Whether another attempt (another provider or model) could succeed. False for errors that are the request's
   * fault (malformed, too long): every upstream would refuse it too.
   */
  retryable: boolean;
}

export interface UpstreamCall {
  /** Path and query appended to the provider's base URL. */
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Raised by a stream translator for an in-stream error or an event it cannot understand. */
export class StreamProtocolError extends Error {
  constructor(
    message: string,
    readonly code: string = 'upstream_malformed_stream',
  ) {
    super(message);
    this.name = 'StreamProtocolError';
  }
}

export interface StreamTranslator {
  /**
   * One upstream SSE event → zero or more OpenAI `chat.completion.chunk` objects. `done` is true once the
   * upstream has signalled the end of the stream. Throws StreamProtocolError for in-stream errors.
   */
  push(event: SseEvent): { chunks: Json[]; done: boolean };
}

export interface ProviderAdapter {
  /** May throw ApiError 501 `unsupported_parameter` for a parameter this provider cannot honour. */
  request(req: ChatReq, ctx: UpstreamRequestContext): UpstreamCall;
  /** The upstream's JSON answer as an OpenAI chat.completion body. */
  response(body: unknown, ctx: UpstreamRequestContext): Json;
  stream(ctx: UpstreamRequestContext): StreamTranslator;
  /** Reads an upstream error response (status and body text). Absent: the OpenAI rules (`upstreamError`). */
  error?(status: number, text: string): UpstreamErrorInfo;
}
