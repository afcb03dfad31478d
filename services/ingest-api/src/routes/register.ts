import type { FastifyInstance } from 'fastify';
import { requireAuth } from '@maniac-gateway/runtime';
import type { RegisterService } from '../register/register-service.js';

/** POST /chat/completions/register, and the legacy POST /completions/register (`dataset` instead of `items`). */
export function registerRegisterRoutes(app: FastifyInstance, service: RegisterService): void {
  app.post('/chat/completions/register', async (request) =>
    service.register(request.body, requireAuth(request), request.id),
  );
  app.post('/completions/register', async (request) =>
    service.register(request.body, requireAuth(request), request.id, true),
  );
}
