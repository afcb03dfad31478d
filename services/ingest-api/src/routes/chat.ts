import type { FastifyInstance } from 'fastify';
import { ChatReq, validate } from '@maniac-gateway/schemas';
import { ValidationFailure, requireAuth } from '@maniac-gateway/runtime';
import type { CompletionService, RequestContext } from '../completion/service.js';

/** POST /chat/completions — parse, hand to the pipeline, render. */
export function registerChatRoutes(app: FastifyInstance, service: CompletionService): void {
  app.post('/chat/completions', async (request, reply) => {
    const receivedMs = Date.now();
    const auth = requireAuth(request);
    const parsed = validate(ChatReq, request.body, 'body');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const req = parsed.value;

    const abort = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.once('close', onClose);
    const ctx: RequestContext = { requestId: request.id, auth, receivedMs, signal: abort.signal };

    if (req.stream === true) {
      let committed = false;
      await service.stream(req, ctx, reply.raw, () => {
        committed = true;
        reply.hijack();
        reply.raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-request-id': request.id,
        });
        reply.raw.flushHeaders();
      });
      if (!committed) {
        // The client left before anything was sent.
        reply.hijack();
        reply.raw.destroy();
      }
      return reply;
    }

    const res = await service.complete(req, ctx);
    if (res === null) {
      reply.hijack();
      reply.raw.destroy();
      return reply;
    }
    return reply.send(res);
  });
}
