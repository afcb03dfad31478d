/**
 * The one error type handlers and the pipeline throw. Rendered as the spec's envelope
 * `{"error":{"code","message","details"}}` by the error handler in http.ts.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | null;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> | null = null,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export interface ErrorEnvelope {
  error: { code: string; message: string; details: Record<string, unknown> | null };
}

export function errorEnvelope(
  code: string,
  message: string,
  details: Record<string, unknown> | null,
): ErrorEnvelope {
  return { error: { code, message, details } };
}

/** Stable, documented error codes (README "Errors"). */
export const ErrorCodes = {
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  notFound: 'not_found',
  modelNotFound: 'model_not_found',
  containerNotFound: 'container_not_found',
  completionNotFound: 'completion_not_found',
  invalidRequest: 'invalid_request',
  payloadTooLarge: 'payload_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  methodNotAllowed: 'method_not_allowed',
  upstreamUnavailable: 'upstream_unavailable',
  upstreamRateLimited: 'upstream_rate_limited',
  upstreamError: 'upstream_error',
  upstreamTimeout: 'upstream_timeout',
  unsupportedParameter: 'unsupported_parameter',
  notReady: 'not_ready',
  internal: 'internal_error',
} as const;
