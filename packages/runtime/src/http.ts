import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { jsonInvalidDetail } from '@maniac-gateway/schemas';
import { ApiError, ErrorCodes, errorEnvelope } from './api-error.js';
import { ValidationFailure } from './validation-failure.js';
import { fixedInfoLine, type Logger } from './logger.js';
import type { Bindings, ChildLoggerOptions, LogFn } from 'pino';
import type { Metrics } from './metrics.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** The longest path parameter the router matches (ids, container names); a longer one is a 404. */
const MAX_PARAM_LENGTH = 200;

export interface HttpServerOptions {
  logger: Logger;
  bodyLimitBytes: number;
  /** Maximum time to wait for a request's headers+body; protects against slowloris. */
  requestTimeoutMs?: number;
  metrics?: Metrics;
  /** Counts the requests the server has begun, for callers that want to know whether it has been asked for work. */
  activity?: RequestActivity;
}

export interface RequestActivity {
  /** Requests begun, those to `ignore`d paths (exact match) left out. */
  started: number;
  ignore: ReadonlySet<string>;
}

/**
 * A Fastify instance with the gateway's HTTP conventions: request ids (`x-request-id` honoured or generated,
 * echoed on every response), one error renderer for the spec's envelope and FastAPI's 422 body, a JSON
 * parser whose failures are 422 `json_invalid`, and a JSON 404. Services register their app plugins on it.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const accessLine = fixedInfoLine(options.logger, 'request');
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes,
    requestTimeout: options.requestTimeoutMs ?? 120_000,
    // One access line per request is written by the onResponse hook below instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      if (typeof incoming === 'string' && REQUEST_ID_RE.test(incoming)) return incoming;
      return `req_${randomUUID().replaceAll('-', '')}`;
    },
    // request.log is made on first use (see LazyRequestLogger).
    childLoggerFactory: (logger, bindings, opts) => new LazyRequestLogger(logger, bindings, opts),
    return503OnClosing: true,
    // On close: idle keep-alive connections are closed at once; requests in flight finish first.
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any route runs — a path parameter longer than maxParamLength, a malformed
    // percent-encoding — get the spec's envelope as well, not Fastify's own body (and its undocumented 414).
    frameworkErrors: (error, request, routerReply) => {
      const reply = routerReply as FastifyReply;
      const rendered = renderError(error, request);
      for (const [name, value] of Object.entries(rendered.headers)) reply.header(name, value);
      // No route ran, so no hook does: the request id header, the access line and the http metric are set here.
      reply.raw.once('finish', () => accessLog(request, reply, options.metrics, accessLine, rendered.status));
      void reply.code(rendered.status).header('x-request-id', request.id).send(rendered.body);
    },
  });
  installHttpConventions(app, options, accessLine);
  return app;
}

/**
 * Fastify's per-request logger (`request.log`, bound to the request id), made on first use: a request that ends
 * well logs nothing through it (its access line is written directly), and a pino child per request cost ~2 KB of
 * garbage and ~1 % of ingest-api's CPU (its bindings are serialised when it is made).
 */
class LazyRequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | null = null;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private logger(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger().level = level;
  }

  readonly fatal: LogFn = (...args: Parameters<LogFn>) => this.logger().fatal(...args);
  readonly error: LogFn = (...args: Parameters<LogFn>) => this.logger().error(...args);
  readonly warn: LogFn = (...args: Parameters<LogFn>) => this.logger().warn(...args);
  readonly info: LogFn = (...args: Parameters<LogFn>) => this.logger().info(...args);
  readonly debug: LogFn = (...args: Parameters<LogFn>) => this.logger().debug(...args);
  readonly trace: LogFn = (...args: Parameters<LogFn>) => this.logger().trace(...args);
  readonly silent: LogFn = (...args: Parameters<LogFn>) => this.logger().silent(...args);

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }
}

const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

function parseJsonBody(body: string): unknown {
  if (body.length === 0) {
    throw new ValidationFailure([{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
  }
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const match = /position (\d+)/.exec(message);
    throw new ValidationFailure(jsonInvalidDetail(match ? Number(match[1]) : 0, message));
  }
}

function installHttpConventions(
  app: FastifyInstance,
  options: HttpServerOptions,
  accessLine: ((fields: string) => void) | null,
): void {
  app.removeAllContentTypeParsers();
  // Every body is parsed as JSON whatever its declared type: clients that forget the header get a useful 422
  // rather than a 415.
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    // Some clients (the Maniac Python client) declare a JSON content type on every request: an empty body is
    // no body on methods that take none.
    if ((body as string).length === 0 && BODYLESS_METHODS.has(req.method)) {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Every reply goes through onSend: the request id is echoed there. Graceful shutdown: responses finished while
  // closing end their keep-alive connection, so close() does not wait for idle client connections to time out.
  // (Callback-style hooks: an async hook costs a promise per request.)
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  const metrics = options.metrics;
  app.addHook('onResponse', (request, reply, done) => {
    try {
      accessLog(request, reply, metrics, accessLine, reply.statusCode);
    } finally {
      done();
    }
  });
  // A response that never finishes (the client left: a cancelled stream, a timeout on the client's side) gets no
  // onResponse: it is logged and counted here instead, as status 499 (nginx's "client closed request").
  const activity = options.activity;
  app.addHook('onRequest', (request, reply, done) => {
    if (activity && !activity.ignore.has(request.url)) activity.started++;
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return;
      // (Checked again a turn later: an in-process response, Fastify's inject, closes before it finishes.) A
      // response ended by the handler whose socket closed before it was flushed never finishes either.
      setImmediate(() => {
        if (!reply.raw.writableFinished) accessLog(request, reply, metrics, accessLine, CLIENT_CLOSED);
      });
    });
    done();
  });

  app.setNotFoundHandler(async (request, reply) => {
    return reply.code(404).send(
      errorEnvelope(ErrorCodes.notFound, `No route for ${request.method} ${request.url.split('?')[0]}`, {
        request_id: request.id,
      }),
    );
  });

  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (reply.sent || reply.raw.headersSent) return;
    const rendered = renderError(error, request);
    if (rendered.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    }
    for (const [name, value] of Object.entries(rendered.headers)) reply.header(name, value);
    return reply.code(rendered.status).send(rendered.body);
  });
}

/** The status an access line and the http metrics give a request whose client left before its response ended. */
const CLIENT_CLOSED = 499;

/** The http metrics and the one access-log line of a finished (or abandoned) request. */
function accessLog(
  request: FastifyRequest,
  reply: FastifyReply,
  metrics: Metrics | undefined,
  accessLine: ((fields: string) => void) | null,
  status: number,
): void {
  const route = request.routeOptions.url ?? 'unmatched';
  if (metrics) {
    metrics.httpRequests.inc({ method: request.method, route, status: String(status) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  }
  if (route.startsWith('/healthz') || route.startsWith('/readyz') || route.startsWith('/metrics')) return;
  const ms = Math.round(reply.elapsedTime * 10) / 10;
  if (accessLine) {
    // The same line as the fallback below (the request child's binding, then the fields), built directly.
    accessLine(
      `,"request_id":${JSON.stringify(request.id)},"method":${JSON.stringify(request.method)},"route":${JSON.stringify(route)},"status":${status},"ms":${Number.isFinite(ms) ? ms : 0}`,
    );
    return;
  }
  request.log.info(
    {
      method: request.method,
      route,
      status,
      ms,
    },
    'request',
  );
}

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Maps anything thrown inside a request to a status and body. Never leaks internals for 5xx. */
export function renderError(error: unknown, request: FastifyRequest): RenderedError {
  const requestId = request.id;
  if (error instanceof ValidationFailure) {
    return { status: 422, headers: {}, body: { detail: error.detail } };
  }
  if (error instanceof ApiError) {
    return {
      status: error.status,
      headers: error.headers,
      body: errorEnvelope(error.code, error.message, { ...(error.details ?? {}), request_id: requestId }),
    };
  }
  const fastifyCode = (error as { code?: unknown }).code;
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (fastifyCode === 'FST_ERR_MAX_PARAM_LENGTH') {
    // The router refuses to match a longer path parameter: no resource has such an id (Fastify's own answer is
    // a 414, a status the spec does not have).
    return {
      status: 404,
      headers: {},
      body: errorEnvelope(
        ErrorCodes.notFound,
        `No such resource: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`,
        { request_id: requestId },
      ),
    };
  }
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      headers: {},
      body: errorEnvelope(ErrorCodes.payloadTooLarge, 'Request body exceeds the configured limit', {
        request_id: requestId,
      }),
    };
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const message = error instanceof Error ? error.message : 'Bad request';
    return {
      status: statusCode,
      headers: {},
      body: errorEnvelope(ErrorCodes.invalidRequest, message, {
        request_id: requestId,
        ...(typeof fastifyCode === 'string' ? { reason: fastifyCode } : {}),
      }),
    };
  }
  return {
    status: 500,
    headers: {},
    body: errorEnvelope(ErrorCodes.internal, 'Internal server error', { request_id: requestId }),
  };
}
