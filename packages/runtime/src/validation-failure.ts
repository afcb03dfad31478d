import type { ValidationErrorEntry } from '@maniac-gateway/schemas';

/** Thrown for request-shape problems; rendered as FastAPI's 422 `{"detail":[…]}` body. */
export class ValidationFailure extends Error {
  readonly detail: ValidationErrorEntry[];
  constructor(detail: ValidationErrorEntry[]) {
    super('validation failed');
    this.name = 'ValidationFailure';
    this.detail = detail;
  }
}
