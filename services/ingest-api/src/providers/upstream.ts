import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { ProviderConfig } from '@maniac-gateway/runtime';

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

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /**
   * The raw response body. Readers enforce `maxBytes` (`readBodyText`, `boundedChunks`): more fails with
   * UpstreamFailure too_large. (Counting where the bytes are read is cheaper than a Transform in between.)
   */
  body: Readable;
  maxBytes: number;
}

/** Default bound on one upstream response, JSON or stream (`server.max_upstream_response_mb`). */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * The body's chunks, failing with `too_large` once more than `maxBytes` came through (a stream's client then
 * gets an `upstream_too_large` error frame; a JSON answer is a failed attempt). The body's own errors (resets,
 * timeouts, aborts) come through unchanged.
 */
export async function* boundedChunks(res: UpstreamResponse): AsyncGenerator<Buffer, void> {
  let size = 0;
  for await (const chunk of res.body) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size > res.maxBytes) {
      // Exactly the first maxBytes come through, however the network happened to cut the chunks.
      const within = bytes.length - (size - res.maxBytes);
      if (within > 0) yield bytes.subarray(0, within);
      res.body.destroy();
      throw new UpstreamFailure('too_large', `upstream response exceeds ${res.maxBytes} bytes`);
    }
    yield bytes;
  }
}

export class UpstreamClient {
  private readonly agents = new Map<string, Agent>();

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

  private agent(name: string): Agent {
    let agent = this.agents.get(name);
    if (!agent) {
      const t = this.config(name).timeouts;
      agent = new Agent({
        connect: { timeout: t.connect_ms },
        headersTimeout: t.first_byte_ms,
        bodyTimeout: t.idle_ms,
        keepAliveTimeout: 30_000,
        pipelining: 1,
        connections: 256,
      });
      this.agents.set(name, agent);
    }
    return agent;
  }

  /** POSTs JSON to `<base_url><path>`; resolves with status and a body stream, or rejects with UpstreamFailure. */
  async post(
    name: string,
    path: string,
    body: unknown,
    extraHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    const provider = this.config(name);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...extraHeaders,
      ...provider.headers,
    };
    const total = AbortSignal.timeout(provider.timeouts.total_ms);
    try {
      const res = await request(`${provider.base_url}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        dispatcher: this.agent(name),
        signal: AbortSignal.any([signal, total]),
      });
      const maxBytes = this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
      return { status: res.statusCode, headers: res.headers, body: res.body, maxBytes };
    } catch (err) {
      throw classify(err, signal);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.agents.values()].map((a) => a.close()));
    this.agents.clear();
  }
}

/** Reads a whole (non-streamed) body as text, bounded. */
export async function readBodyText(res: UpstreamResponse, signal: AbortSignal): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > res.maxBytes) {
        res.body.destroy();
        throw new UpstreamFailure('too_large', `upstream response exceeds ${res.maxBytes} bytes`);
      }
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    throw classify(err, signal);
  }
  return parts.length === 1 ? (parts[0] as Buffer).toString('utf8') : Buffer.concat(parts).toString('utf8');
}

export function classify(err: unknown, clientSignal: AbortSignal): UpstreamFailure {
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
