import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ChatReq, validate } from '@maniac-gateway/schemas';
import { ValidationFailure, requireAuth, type AuthContext } from '@maniac-gateway/runtime';
import type { CompletionService, RequestContext } from '../completion/service.js';
import type { Admission } from '../limits/request-guard.js';
import type { RoutePlan } from '../routing.js';
import { Cancellation } from '../providers/upstream.js';

export interface ChatAdmission {
  admit(auth: AuthContext, req: ChatReq, plan: RoutePlan, receivedMs: number): Promise<Admission>;
}

/** POST /chat/completions — parse, check limits, hand to the pipeline, render. */
export function registerChatRoutes(
  app: FastifyInstance,
  service: CompletionService,
  gate: ChatAdmission,
): void {
  app.post('/chat/completions', async (request, reply) => {
    const receivedMs = Date.now();
    const auth = requireAuth(request);
    const parsed = validate(ChatReq, request.body, 'body');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const req = parsed.value;

    const abort = new Cancellation();
    const onClose = () => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.once('close', onClose);
    const plan = service.plan(req, auth.projectId);
    const admission = await gate.admit(auth, req, plan, receivedMs);
    for (const [name, value] of Object.entries(admission.headers)) reply.header(name, value);
    const ctx: RequestContext = {
      requestId: request.id,
      auth,
      receivedMs,
      signal: abort,
      plan,
      onOutcome: (outcome) => {
        admission.settle(
          outcome.response?.usage?.total_tokens ?? null,
          outcome.spendNanos,
          outcome.status === 'client_cancelled',
        );
        admission.release();
      },
    };
    try {
      return await respond();
    } finally {
      // Settled and released by the outcome; this covers a request that ended without one.
      admission.settle(null, null);
      admission.release();
    }

    async function respond() {
      if (req.stream === true) {
        // The SSE body is a stream handed to Fastify once the first upstream event is in (so hooks, access log
        // and metrics still apply); until then a failure can still become a JSON error.
        const body = new PassThrough();
        let committed = false;
        await service.stream(req, ctx, body, () => {
          committed = true;
          reply
            .code(200)
            .header('content-type', 'text/event-stream; charset=utf-8')
            .header('cache-control', 'no-cache')
            .header('x-accel-buffering', 'no')
            .send(body);
        });
        if (!committed) {
          // The client left before anything was sent.
          reply.hijack();
          reply.raw.destroy();
        }
        return reply;
      }

      const done = await service.complete(req, ctx);
      if (done === null) {
        reply.hijack();
        reply.raw.destroy();
        return reply;
      }
      return reply.type('application/json; charset=utf-8').send(done.json);
    }
  });
}
