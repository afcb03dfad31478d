import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, ErrorCodes } from './api-error.js';
import type { AuthContext, ControlPlane } from './control-plane.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

const MESSAGES: Record<string, string> = {
  missing: 'Missing API key: send Authorization: Bearer <key>',
  malformed: 'Malformed Authorization header: expected Bearer <key>',
  unknown: 'Invalid API key',
  revoked: 'API key has been revoked',
};

/**
 * Requires `Authorization: Bearer <key>` on every route of the encapsulated context it is installed in.
 * Keys are resolved in memory (no I/O on the hot path); failures are 401 in the spec's envelope.
 */
export function installAuth(app: FastifyInstance, controlPlane: ControlPlane): void {
  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null);
  // Callback style (an async hook costs a promise per request).
  app.addHook('onRequest', (request, _reply, done) => {
    const failure = authenticateRequest(request, controlPlane);
    if (failure) done(failure);
    else done();
  });
}

/** Sets `request.auth`, or returns the error to answer with. */
function authenticateRequest(request: FastifyRequest, controlPlane: ControlPlane): ApiError | null {
  if (!controlPlane.isReady()) {
    return new ApiError(503, ErrorCodes.notReady, 'Gateway is starting: control plane not yet loaded');
  }
  // `maniac-apikey: <key>` is accepted as an alternative to Bearer (some Maniac clients send it).
  const alt = request.headers['maniac-apikey'];
  const authorization =
    request.headers.authorization ?? (typeof alt === 'string' && alt !== '' ? `Bearer ${alt}` : undefined);
  const result = controlPlane.authenticate(authorization);
  if (!result.ok) {
    if (result.reason === 'project_disabled') {
      return new ApiError(403, 'project_disabled', 'The project of this API key is disabled', {
        reason: 'project_disabled',
      });
    }
    return new ApiError(401, ErrorCodes.unauthorized, MESSAGES[result.reason] ?? 'Unauthorized', {
      reason: result.reason,
    });
  }
  request.auth = result.auth;
  return null;
}

/** The authenticated context of a request on an authenticated route. */
export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new ApiError(401, ErrorCodes.unauthorized, 'Unauthorized');
  return request.auth;
}
