/**
 * A fast OpenAI-format mock upstream for the benchmarks (node:http, one process, no framework).
 *
 * - `POST …/chat/completions`: a fixed `chat.completion` JSON reply, or — when the body has `"stream": true` —
 *   an SSE stream of `chunks` `chat.completion.chunk` events of ~`chunk-size` bytes of content each, `interval`
 *   ms apart (0 = all at once), a usage chunk when `stream_options.include_usage` is asked for, then `[DONE]`.
 * - Zero added latency by default; `--delay MS` delays every reply (JSON: the whole reply; SSE: the headers).
 * - Per request, a model name containing `<chunks>x<interval>ms` (e.g. `openai/stream-40x50ms`) shapes the
 *   stream: every proxy forwards the model, so this is how the harness asks for long streams. The headers
 *   `x-mock-delay-ms`, `x-mock-chunks`, `x-mock-interval-ms`, `x-mock-chunk-size` also override the defaults
 *   (handy by hand; proxies need not forward them).
 * - `GET /healthz` → 200; `GET /stats` → the request count since start.
 *
 * The request body is read but not parsed (a regex looks for `"stream": true`): the mock must stay far cheaper
 * than anything measured through it.
 *
 *   node --import tsx bench/mock-upstream.ts [--port 0] [--delay 0] [--chunks 20] [--interval 0] [--chunk-size 16]
 *
 * Prints `listening <port>` on stdout once ready.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

export interface MockOptions {
  port?: number;
  host?: string;
  /** Fixed delay before every reply, ms (default 0). */
  delayMs?: number;
  /** SSE: content chunks per stream (default 20). */
  chunks?: number;
  /** SSE: ms between chunks (default 0: written back to back). */
  intervalMs?: number;
  /** SSE: bytes of content per chunk (default 16). */
  chunkSize?: number;
}

export interface MockUpstream {
  server: Server;
  port: number;
  url: string;
  requests(): number;
  close(): Promise<void>;
}

const STREAM_RE = /"stream"\s*:\s*true/;
const USAGE_RE = /"include_usage"\s*:\s*true/;
const MODEL_RE = /"model"\s*:\s*"([^"]{1,200})"/;
const SHAPE_RE = /(\d{1,5})x(\d{1,5})ms/;

const CREATED = Math.floor(Date.now() / 1000);
const USAGE = { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 };

function jsonReply(model: string, n: number): string {
  return JSON.stringify({
    id: `chatcmpl-mock${n}`,
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: USAGE,
    system_fingerprint: 'fp_mock',
  });
}

function chunk(id: string, model: string, delta: object, finish: string | null): string {
  return `data: ${JSON.stringify({
    id,
    object: 'chat.completion.chunk',
    created: CREATED,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  })}\n\n`;
}

function headerInt(req: IncomingMessage, name: string, fallback: number): number {
  const v = req.headers[name];
  if (typeof v !== 'string') return fallback;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export async function startMockUpstream(options: MockOptions = {}): Promise<MockUpstream> {
  const defaults = {
    delayMs: options.delayMs ?? 0,
    chunks: options.chunks ?? 20,
    intervalMs: options.intervalMs ?? 0,
    chunkSize: options.chunkSize ?? 16,
  };
  let count = 0;

  function stream(res: ServerResponse, model: string, usage: boolean, n: number, req: IncomingMessage): void {
    const shape = SHAPE_RE.exec(model);
    const chunks = headerInt(req, 'x-mock-chunks', shape ? Number(shape[1]) : defaults.chunks);
    const intervalMs = headerInt(req, 'x-mock-interval-ms', shape ? Number(shape[2]) : defaults.intervalMs);
    const size = headerInt(req, 'x-mock-chunk-size', defaults.chunkSize);
    const id = `chatcmpl-mock${n}`;
    const content = 'x'.repeat(size);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(chunk(id, model, { role: 'assistant', content: '' }, null));
    let sent = 0;
    const finish = () => {
      let tail = chunk(id, model, {}, 'stop');
      if (usage) {
        tail += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: CREATED, model, choices: [], usage: USAGE })}\n\n`;
      }
      res.end(`${tail}data: [DONE]\n\n`);
    };
    if (intervalMs === 0) {
      let body = '';
      for (; sent < chunks; sent++) body += chunk(id, model, { content }, null);
      res.write(body);
      finish();
      return;
    }
    const timer = setInterval(() => {
      if (res.destroyed) {
        clearInterval(timer);
        return;
      }
      if (sent < chunks) {
        res.write(chunk(id, model, { content }, null));
        sent++;
      }
      if (sent >= chunks) {
        clearInterval(timer);
        finish();
      }
    }, intervalMs);
    res.on('close', () => clearInterval(timer));
  }

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET') {
      if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else if (url === '/stats') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests: count }));
      } else {
        res.writeHead(404).end();
      }
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const n = ++count;
      if (!url.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
        return;
      }
      const body =
        parts.length === 1 ? parts[0]!.toString('latin1') : Buffer.concat(parts).toString('latin1');
      const model = MODEL_RE.exec(body)?.[1] ?? 'gpt-4o-mini';
      const delayMs = headerInt(req, 'x-mock-delay-ms', defaults.delayMs);
      const reply = () => {
        if (res.destroyed) return;
        if (STREAM_RE.test(body)) {
          stream(res, model, USAGE_RE.test(body), n, req);
        } else {
          const payload = jsonReply(model, n);
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          });
          res.end(payload);
        }
      };
      if (delayMs > 0) setTimeout(reply, delayMs);
      else reply();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.maxRequestsPerSocket = 0;
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      delay: { type: 'string', default: '0' },
      chunks: { type: 'string', default: '20' },
      interval: { type: 'string', default: '0' },
      'chunk-size': { type: 'string', default: '16' },
    },
  });
  const mock = await startMockUpstream({
    port: Number(values.port),
    delayMs: Number(values.delay),
    chunks: Number(values.chunks),
    intervalMs: Number(values.interval),
    chunkSize: Number(values['chunk-size']),
  });
  console.log(`listening ${mock.port}`);
  const stop = () => void mock.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
