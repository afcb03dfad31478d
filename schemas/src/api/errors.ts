import { z } from 'zod';
import { integer } from './integer.js';
import { JsonObject } from './json-object.js';

/** Standard Maniac API error envelope payload. */
export const ManiacError = z.strictObject({
  code: z.string(),
  message: z.string(),
  details: JsonObject.nullable().optional(),
});
export type ManiacError = z.infer<typeof ManiacError>;

/** Response body for every non-422 error: `{"error": {"code", "message", "details"}}`. */
export const ErrorResponse = z.strictObject({
  error: ManiacError,
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/**
 * One FastAPI/pydantic validation problem. The spec lists `loc`, `msg`, `type`; FastAPI also sends `input` and,
 * for some types, `ctx` — both are optional here.
 */
export const ValidationError = z.object({
  type: z.string(),
  loc: z.array(z.union([z.string(), integer()])),
  msg: z.string(),
  input: z.unknown().optional(),
  ctx: JsonObject.optional(),
});
export type ValidationError = z.infer<typeof ValidationError>;
/** Alias of {@link ValidationError} that does not read like an `Error` subclass. */
export type ValidationErrorEntry = ValidationError;

/** 422 response body: `{"detail": [{"type", "loc", "msg", ...}]}`. */
export const HTTPValidationError = z.object({
  detail: z.array(ValidationError).optional(),
});
export type HTTPValidationError = z.infer<typeof HTTPValidationError>;
