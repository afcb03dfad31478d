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
  app.get('/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
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

describe('errors the router raises', () => {
  it('answers a path parameter beyond the router limit with a 404 in the spec envelope, not a 414', async () => {
    const { app, lines } = server();
    const ok = await app.inject({ method: 'GET', url: `/items/${'a'.repeat(200)}` });
    expect(ok.statusCode).toBe(200);
    const res = await app.inject({
      method: 'GET',
      url: `/items/${encodeURIComponent('T\u0335\u0321o invoke the hive-mind '.repeat(20))}`,
      headers: { 'x-request-id': 'req-long-param' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-request-id']).toBe('req-long-param');
    expect(res.json()).toEqual({
      error: {
        code: 'not_found',
        message: expect.stringContaining('longer than 200 characters') as unknown,
        details: { request_id: 'req-long-param' },
      },
    });
    expect(lines.filter((l) => l.request_id === 'req-long-param')).toMatchObject([{ status: 404 }]);
  });

  it('answers a malformed percent-encoding with a 400 in the spec envelope', async () => {
    const { app } = server();
    const res = await app.inject({ method: 'GET', url: '/items/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: { code: string; details: Record<string, unknown> } }>();
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.details.reason).toBe('FST_ERR_BAD_URL');
    expect(typeof body.error.details.request_id).toBe('string');
  });
});

describe('request activity', () => {
  it('counts the requests begun, those to ignored paths left out', async () => {
    const logger = createLogger({ name: 'http-test', level: 'silent' });
    const activity = { started: 0, ignore: new Set(['/healthz']) };
    const app = createHttpServer({ logger, bodyLimitBytes: 1024, activity });
    app.get('/ok', async () => ({ ok: true }));
    app.get('/healthz', async () => ({ status: 'ok' }));
    await app.inject({ method: 'GET', url: '/healthz' });
    expect(activity.started).toBe(0);
    await app.inject({ method: 'GET', url: '/ok' });
    await app.inject({ method: 'GET', url: '/nowhere' });
    expect(activity.started).toBe(2);
    await app.close();
  });
});
