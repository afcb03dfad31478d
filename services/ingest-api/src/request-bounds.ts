import type { FastifyInstance } from 'fastify';
import { ValidationFailure } from '@maniac-gateway/runtime';

export interface RequestBounds {
  /** Most `messages` one chat request may carry (`server.max_messages`). */
  maxMessages: number;
  /** Most `tools` one chat request may carry (`server.max_tools`). */
  maxTools: number;
}

/**
 * Bounds on the size of a chat request beyond its byte size (`server.body_limit_mb`, 413): a request with more
 * messages or tools than configured is refused before any upstream is called, with pydantic's `too_long` 422
 * (the spec's validation error shape). Runs after authentication (onRequest) and JSON parsing.
 */
export function installRequestBounds(app: FastifyInstance, bounds: RequestBounds): void {
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'POST' || !request.routeOptions.url?.endsWith('/chat/completions')) return;
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
    for (const [field, max] of [
      ['messages', bounds.maxMessages],
      ['tools', bounds.maxTools],
    ] as const) {
      const value = (body as Record<string, unknown>)[field];
      if (!Array.isArray(value) || value.length <= max) continue;
      throw new ValidationFailure([
        {
          type: 'too_long',
          loc: ['body', field],
          msg: `List should have at most ${max} items after validation, not ${value.length}`,
          ctx: { field_type: 'List', max_length: max, actual_length: value.length },
        },
      ]);
    }
  });
}
