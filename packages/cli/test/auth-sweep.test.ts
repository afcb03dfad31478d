import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockUpstream, pollUntil, startTestHost, testConfig, type TestHost } from '@maniac-gateway/testkit';
import { composeComponents } from '../src/compose.js';

/**
 * Isolation and auth sweep over every API route of the composed gateway, under both prefixes: no key, malformed
 * headers, an unknown near-miss key and a revoked key are 401 everywhere (never 403, never data); another
 * project's key sees none of project A's completions, containers, usage or models, and A's ids and labels answer
 * 404 — exactly what an id that does not exist answers.
 */

type Json = Record<string, unknown>;
let mock: MockUpstream;
let gw: TestHost;
let keyB = '';
let revokedKey = '';
let completionA = '';
const LABEL = 'secret-a';

async function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; json: Json; text: string }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // SSE or empty
  }
  return { status: res.status, json, text };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const messages = [{ role: 'user', content: 'hi' }];
const example = (id: string) => ({
  input: { model: 'openai/gpt-4o-mini', messages },
  output: {
    id,
    model: 'openai/gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  },
});

/** Every API route (relative to the prefix), with a body that would succeed for project A. */
function routes(): { method: string; path: string; body?: unknown }[] {
  return [
    { method: 'POST', path: '/chat/completions', body: { model: 'openai/gpt-4o-mini', messages } },
    { method: 'GET', path: '/chat/completions' },
    { method: 'GET', path: `/chat/completions/${completionA}` },
    {
      method: 'POST',
      path: '/chat/completions/register',
      body: { container: LABEL, items: [example('sw-1')] },
    },
    { method: 'POST', path: '/completions/register', body: { container: LABEL, dataset: [example('sw-2')] } },
    { method: 'POST', path: '/containers', body: { label: 'sweep-new', model: 'openai/gpt-4o-mini' } },
    { method: 'GET', path: '/containers' },
    { method: 'GET', path: `/containers/${LABEL}` },
    { method: 'PATCH', path: `/containers/${LABEL}`, body: { model: 'openai/gpt-4o-mini' } },
    { method: 'DELETE', path: `/containers/${LABEL}` },
    { method: 'GET', path: `/containers/${LABEL}/dataset` },
    { method: 'GET', path: '/models' },
    { method: 'GET', path: '/usage' },
  ];
}
const PREFIXES = ['/v1', '/api/v1'];

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  gw = await startTestHost(
    testConfig({ providers: { openai: { base_url: mock.url, api_key: 'sk-sweep' } } }),
    composeComponents,
  );
  keyB = (await gw.newProjectKey()).apiKey;
  const { key, record } = await gw.ctx.controlPlane.createKey(gw.projectId, 'to-revoke');
  await gw.ctx.controlPlane.revokeKey(record.id);
  revokedKey = key;
  const created = await call('POST', '/v1/containers', bearer(gw.apiKey), {
    label: LABEL,
    model: 'openai/gpt-4o-mini',
  });
  expect(created.status).toBe(201);
  const chat = await call('POST', '/v1/chat/completions', bearer(gw.apiKey), {
    model: `maniac:${LABEL}`,
    messages,
  });
  expect(chat.status).toBe(200);
  completionA = chat.json.id as string;
  await pollUntil(
    async () =>
      (await call('GET', `/v1/chat/completions/${completionA}`, bearer(gw.apiKey))).status === 200
        ? true
        : undefined,
    { timeoutMs: 60_000, message: 'completion of project A not stored' },
  );
});

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
});

describe('auth on every route', () => {
  const cases: [string, () => Record<string, string>, string][] = [
    ['no key', () => ({}), 'missing'],
    ['Basic scheme', () => ({ authorization: 'Basic dXNlcjpwYXNz' }), 'malformed'],
    ['Bearer without a key', () => ({ authorization: 'Bearer' }), 'malformed'],
    ['two tokens', () => ({ authorization: `Bearer ${gw.apiKey} extra` }), 'malformed'],
    [
      'near-miss key',
      () => bearer(`${gw.apiKey.slice(0, -1)}${gw.apiKey.endsWith('A') ? 'B' : 'A'}`),
      'unknown',
    ],
    ['key of another length', () => bearer(`${gw.apiKey}x`), 'unknown'],
    ['revoked key', () => bearer(revokedKey), 'revoked'],
    ['revoked key in maniac-apikey', () => ({ 'maniac-apikey': revokedKey }), 'revoked'],
  ];
  it.each(cases)(
    '%s: 401 on every route under both prefixes, nothing else in the body',
    async (_name, headers, reason) => {
      let checked = 0;
      for (const prefix of PREFIXES) {
        for (const r of routes()) {
          const res = await call(r.method, `${prefix}${r.path}`, headers(), r.body);
          expect(res.status, `${r.method} ${prefix}${r.path}`).toBe(401);
          expect(res.json.error, `${r.method} ${prefix}${r.path}`).toMatchObject({
            code: 'unauthorized',
            details: { reason },
          });
          expect(res.text).not.toContain(completionA);
          checked++;
        }
      }
      expect(checked).toBe(routes().length * PREFIXES.length);
    },
  );
});

describe("another project's key", () => {
  it("sees none of project A's data: A's ids and labels answer 404, never 403", async () => {
    const b = bearer(keyB);
    const unknownId = 'chatcmpl-doesnotexist0000000000000000';
    for (const prefix of PREFIXES) {
      const p = (path: string) => `${prefix}${path}`;
      // Get by id: A's id is answered exactly like an id that does not exist.
      const other = await call('GET', p(`/chat/completions/${completionA}`), b);
      const missing = await call('GET', p(`/chat/completions/${unknownId}`), b);
      expect(other.status).toBe(404);
      expect(missing.status).toBe(404);
      expect((other.json.error as Json).code).toBe((missing.json.error as Json).code);
      // The list and usage are B's own (empty).
      const list = await call('GET', p('/chat/completions?limit=100'), b);
      expect(list.status).toBe(200);
      expect(list.json).toMatchObject({ total: 0, data: [] });
      const usage = await call('GET', p('/usage'), b);
      expect(usage.status).toBe(200);
      expect(usage.text).not.toContain(gw.projectId);
      expect(JSON.stringify(usage.json)).not.toMatch(/"requests":[1-9]/);
      // Containers: A's label does not exist for B, whatever the verb.
      for (const [method, path, body] of [
        ['GET', `/containers/${LABEL}`, undefined],
        ['PATCH', `/containers/${LABEL}`, { model: 'openai/gpt-4o-mini' }],
        ['DELETE', `/containers/${LABEL}`, undefined],
        ['GET', `/containers/${LABEL}/dataset`, undefined],
        ['POST', '/chat/completions/register', { container: LABEL, items: [example('sw-b')] }],
      ] as const) {
        const res = await call(method, p(path), b, body);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.text).not.toContain(completionA);
      }
      const containers = await call('GET', p('/containers'), b);
      expect(containers.status).toBe(200);
      expect(containers.text).not.toContain(LABEL);
      const models = await call('GET', p('/models'), b);
      expect(models.status).toBe(200);
      expect(models.text).not.toContain(`maniac:${LABEL}`);
      // Routing through A's container is not possible either.
      const chat = await call('POST', p('/chat/completions'), b, { model: `maniac:${LABEL}`, messages });
      expect(chat.status).toBe(404);
    }
    // A still sees all of it (B's DELETE did nothing).
    const a = bearer(gw.apiKey);
    expect((await call('GET', `/v1/containers/${LABEL}`, a)).status).toBe(200);
    expect((await call('GET', `/v1/chat/completions/${completionA}`, a)).status).toBe(200);
    expect((await call('GET', '/v1/models', a)).text).toContain(`maniac:${LABEL}`);
  });
});
