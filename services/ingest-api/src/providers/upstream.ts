import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { finished, type Readable } from 'node:stream';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import type { ProviderConfig } from '@maniac-gateway/runtime';

// undici's Pool and request modules alone, not the package's index, which loads all of undici (fetch, WebSocket,
// the cache, mock and proxy dispatchers) and adds `request` and the other calls to every dispatcher's prototype.
// `request` is called on the pool instead. startup-modules.test.ts checks both are what the package exports.
const undiciModule = createRequire(import.meta.url);
const Pool = undiciModule('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;
const poolRequest = undiciModule('undici/lib/api/api-request.js') as (
  this: Pool,
  options: Dispatcher.RequestOptions,
) => Promise<Dispatcher.ResponseData>;

/**
 * HTTP to upstream providers with undici: one keep-alive pool per provider, no pipelining, and the four
 * timeouts (connect, first byte, idle stream, total). Failures are classified so the fallback logic can decide
 * whether another attempt makes sense.
 */

export type UpstreamFailureKind =
  'connect' | 'timeout' | 'idle_timeout' | 'reset' | 'cancelled' | 'too_large';

export class UpstreamFailure extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamFailure';
  }
}

/**
 * Cancellation of one request (the client went away) or one attempt (total timeout). An EventEmitter, which undici
 * accepts as `signal`: several times cheaper per request than AbortController's EventTarget plus
 * `AbortSignal.timeout` and `AbortSignal.any` (measured: ~3 % of the gateway's CPU, and their weak references
 * add GC work).
 */
export class Cancellation extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new UpstreamFailure('cancelled', 'client disconnected');
    this.emit('abort');
  }
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /**
   * The raw response body. Readers enforce `maxBytes` (`readBodyText`, `UpstreamChunks`): more fails with
   * UpstreamFailure too_large. (Counting where the bytes are read is cheaper than a Transform in between.)
   */
  body: Readable;
  maxBytes: number;
}

/** Default bound on one upstream response, JSON or stream (`server.max_upstream_response_mb`). */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** The failure of a body beyond its bound (a stream's client gets an `upstream_too_large` error frame). */
export function tooLarge(res: UpstreamResponse): UpstreamFailure {
  return new UpstreamFailure('too_large', `upstream response exceeds ${res.maxBytes} bytes`);
}

export interface PoolStats {
  provider: string;
  connected: number;
  /** Connections open and ready for the next request (one returns to the pool the tick after its answer ends). */
  free: number;
  running: number;
  queued: number;
}

interface ProviderPool {
  pool: Pool;
  /** The base URL's path (no trailing slash), prefixed to every request path. */
  prefix: string;
  totalMs: number;
}

export class UpstreamClient {
  private readonly pools = new Map<string, ProviderPool>();

  constructor(
    private readonly providers: Record<string, ProviderConfig>,
    private readonly options: { maxResponseBytes?: number } = {},
  ) {}

  has(name: string): boolean {
    return name in this.providers;
  }

  config(name: string): ProviderConfig {
    const p = this.providers[name];
    if (!p) throw new Error(`provider ${name} not configured`);
    return p;
  }

  /** One keep-alive pool per provider, addressed by path (no URL parsing or origin lookup per request). */
  private pool(name: string): ProviderPool {
    let entry = this.pools.get(name);
    if (!entry) {
      const provider = this.config(name);
      const t = provider.timeouts;
      const url = new URL(provider.base_url);
      entry = {
        pool: new Pool(url.origin, {
          connect: { timeout: t.connect_ms },
          headersTimeout: t.first_byte_ms,
          bodyTimeout: t.idle_ms,
          keepAliveTimeout: 30_000,
          pipelining: 1,
          connections: provider.max_connections,
        }),
        prefix: url.pathname.replace(/\/+$/, ''),
        totalMs: t.total_ms,
      };
      this.pools.set(name, entry);
    }
    return entry;
  }

  /**
   * POSTs JSON to `<base_url><path>`; resolves with status and a body stream, or rejects with UpstreamFailure.
   * The attempt is cancelled when `signal` fires (the client left) or after the provider's total timeout, which
   * covers the body too: the timer is cleared once the body is done.
   */
  async post(
    name: string,
    path: string,
    body: unknown,
    extraHeaders: Record<string, string>,
    signal: Cancellation,
  ): Promise<UpstreamResponse> {
    const provider = this.config(name);
    const { pool, prefix, totalMs } = this.pool(name);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...extraHeaders,
      ...provider.headers,
    };
    if (signal.aborted) throw new UpstreamFailure('cancelled', 'client disconnected');
    const attempt = new Cancellation();
    const onClientAbort = () => attempt.abort(signal.reason);
    signal.once('abort', onClientAbort);
    const timer = setTimeout(
      () => attempt.abort(new UpstreamFailure('timeout', 'upstream total timeout exceeded')),
      totalMs,
    );
    timer.unref();
    const release = () => {
      clearTimeout(timer);
      signal.off('abort', onClientAbort);
    };
    try {
      const res = await poolRequest.call(pool, {
        path: prefix + path,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: attempt,
      });
      res.body.once('close', release);
      // Readers see the body's errors through their own listeners; this one only keeps an error emitted while
      // nobody reads (a destroy after [DONE], a reset of an abandoned body) from being an uncaught exception —
      // undici's body emits RequestAbortedError when destroyed before its end. (Found by the fault suite: the
      // crash took an ingest process and its unsent events with it.)
      res.body.on('error', ignoreError);
      const maxBytes = this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
      return { status: res.statusCode, headers: res.headers, body: res.body, maxBytes };
    } catch (err) {
      release();
      throw classify(err, signal);
    }
  }

  /** Per provider whose pool exists: connections open, requests in flight on them, requests waiting for one. */
  poolStats(): PoolStats[] {
    return [...this.pools].map(([provider, { pool }]) => {
      const { connected, free, running, queued } = pool.stats;
      return { provider, connected, free, running, queued };
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.pool.close()));
    this.pools.clear();
  }
}

function ignoreError(): void {
  // see UpstreamClient.post
}

/**
 * Ends an upstream body after use: drained when the exchange completed normally (keeps the keep-alive connection
 * for the next request; anything after the end event is discarded, and a body that does not end within
 * `drainMs` is destroyed), destroyed otherwise (the client left or the stream failed: the upstream stops).
 */
export function finishBody(res: UpstreamResponse, completed: boolean, drainMs = 5_000): void {
  const body = res.body;
  if (body.destroyed || body.readableEnded) return;
  if (!completed) {
    body.destroy();
    return;
  }
  const timer = setTimeout(() => body.destroy(), drainMs);
  timer.unref();
  body.once('close', () => clearTimeout(timer));
  body.resume();
}

/** Reads a whole (non-streamed) body as text, bounded. */
export function readBodyText(res: UpstreamResponse, signal: Cancellation): Promise<string> {
  // Stream events rather than `for await`: no async iterator and no promise per chunk on the path of every JSON
  // answer. The same bound and errors as a stream's (UpstreamChunks).
  return new Promise((resolve, reject) => {
    const body = res.body;
    const parts: Buffer[] = [];
    let size = 0;
    let exceeded = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > res.maxBytes) {
        exceeded = true;
        body.off('data', onData);
        body.destroy();
        reject(tooLarge(res));
        return;
      }
      parts.push(chunk);
    };
    body.on('data', onData);
    const cleanup = finished(body, (err) => {
      cleanup();
      if (exceeded) return;
      if (err) reject(classify(err, signal));
      else
        resolve(
          parts.length === 1 ? (parts[0] as Buffer).toString('utf8') : Buffer.concat(parts).toString('utf8'),
        );
    });
  });
}

export function classify(err: unknown, clientSignal: Cancellation): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  if (clientSignal.aborted) return new UpstreamFailure('cancelled', 'client disconnected');
  const code = (err as { code?: string }).code ?? '';
  const name = (err as { name?: string }).name ?? '';
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamFailure('connect', 'connect timeout');
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new UpstreamFailure('connect', `${code}: ${message}`);
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new UpstreamFailure('timeout', 'no response headers within the first-byte timeout');
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamFailure('idle_timeout', 'upstream stream idle for too long');
    default:
      break;
  }
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new UpstreamFailure('timeout', 'upstream total timeout exceeded');
  }
  return new UpstreamFailure('reset', message || 'upstream connection failed');
}
