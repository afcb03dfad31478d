import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createHttpServer } from './http.js';
import { createLogger } from './logger.js';

function server() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ name: 'http-test', level: 'info', destination });
  const app = createHttpServer({ logger, bodyLimitBytes: 1024 });
  app.get('/ok', async () => ({ ok: true }));
  app.get('/boom', async () => {
    throw new Error('internal detail');
  });
  app.get('/slow', async () => {
    await new Promise((r) => setTimeout(r, 300));
    return { late: true };
  });
  app.get('/logs', async (request) => {
    request.log.info({ step: 1 }, 'handler line');
    return { ok: true };
  });
  return { app, lines };
}

describe('request logging', () => {
  it('writes one access line per request, with its request id', async () => {
    const { app, lines } = server();
    const res = await app.inject({ method: 'GET', url: '/ok' });
    expect(res.statusCode).toBe(200);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'request',
      request_id: res.headers['x-request-id'],
      route: '/ok',
      status: 200,
    });
    await app.close();
  });

  it("binds the request id to request.log's lines (a handler's own, a 500's error line)", async () => {
    const { app, lines } = server();
    const logged = await app.inject({ method: 'GET', url: '/logs', headers: { 'x-request-id': 'req_abc' } });
    expect(logged.statusCode).toBe(200);
    expect(lines.find((l) => l.msg === 'handler line')).toMatchObject({ request_id: 'req_abc', step: 1 });

    const failed = await app.inject({ method: 'GET', url: '/boom' });
    expect(failed.statusCode).toBe(500);
    expect(failed.body).not.toContain('internal detail');
    const error = lines.find((l) => l.msg === 'request failed');
    expect(error).toMatchObject({ request_id: failed.headers['x-request-id'], level: 50 });
    expect(JSON.stringify(error)).toContain('internal detail');
    await app.close();
  });
  it('logs a request whose client left before the response ended once, as 499', async () => {
    const { app, lines } = server();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const controller = new AbortController();
    const pending = fetch(`http://127.0.0.1:${port}/slow`, {
      headers: { 'x-request-id': 'req_gone' },
      signal: controller.signal,
    }).catch(() => undefined);
    // Abort once the request is in (its handler is waiting).
    const deadline = Date.now() + 5_000;
    while (app.server.connections === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await pending;
    while (!lines.some((l) => l.request_id === 'req_gone') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // After the handler would have answered: still one line.
    await new Promise((r) => setTimeout(r, 400));
    const access = lines.filter((l) => l.msg === 'request' && l.request_id === 'req_gone');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ route: '/slow', status: 499 });
    // A request that completes is not logged twice.
    const ok = await fetch(`http://127.0.0.1:${port}/ok`, { headers: { 'x-request-id': 'req_done' } });
    expect(ok.status).toBe(200);
    while (!lines.some((l) => l.request_id === 'req_done') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(lines.filter((l) => l.request_id === 'req_done')).toMatchObject([{ status: 200 }]);
    await app.close();
  });
});
