import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockUpstream, pollUntil, startTestHost, testConfig, type TestHost } from '@maniac-gateway/testkit';
import type { GatewayConfig } from '@maniac-gateway/runtime';
import { IngestApi } from '../src/app.js';

let mock: MockUpstream;
let config: GatewayConfig;
let gw: TestHost;
let second: TestHost;

async function call(
  host: TestHost,
  method: string,
  path: string,
  body?: unknown,
  key = host.apiKey,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${host.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  config = testConfig({ providers: { openai: { base_url: mock.url }, groq: { base_url: mock.url } } });
  gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
  // A second instance on the same topics: changes made through the first must reach it.
  second = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
});

afterAll(async () => {
  await second?.stop();
  await gw?.stop();
  await mock?.stop();
});

describe('containers API', () => {
  it('get-or-create: 201 then 200 with the same container, in the body and under data', async () => {
    const created = await call(gw, 'POST', '/v1/containers', {
      label: 'support',
      initial_model: 'openai:gpt-4o-mini',
      default_system_prompt: 'Be kind.',
      params: { temperature: 0.3 },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      object: 'container',
      label: 'support',
      model: 'openai/gpt-4o-mini',
      system_prompt: 'Be kind.',
      params: { temperature: 0.3 },
    });
    expect((created.json.data as Record<string, unknown>).id).toBe(created.json.id);
    const again = await call(gw, 'POST', '/v1/containers', { label: 'support', model: 'groq/other' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id: created.json.id, model: 'openai/gpt-4o-mini' });
  });

  it('routes maniac:<label> through the run-time container, and a PATCH reaches every instance', async () => {
    await call(gw, 'POST', '/v1/containers', {
      label: 'router',
      model: 'openai/gpt-4o-mini',
      instructions: 'Sys.',
    });
    // Both instances authenticate project 1's key: keys and containers come from the shared control topic.
    const chat = (host: TestHost) =>
      call(
        host,
        'POST',
        '/v1/chat/completions',
        { model: 'maniac:router', messages: [{ role: 'user', content: 'x' }] },
        gw.apiKey,
      );
    const first = await chat(gw);
    expect(first.json).toMatchObject({ model: 'openai/gpt-4o-mini', container: 'router' });
    expect(mock.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'Sys.' },
      { role: 'user', content: 'x' },
    ]);

    const patched = await call(gw, 'PATCH', '/v1/containers/router', { model: 'groq/llama-3.1-8b-instant' });
    expect(patched.json.model).toBe('groq/llama-3.1-8b-instant');
    expect((await chat(gw)).json.model).toBe('groq/llama-3.1-8b-instant');
    // The second gateway instance (same topics) routes with the new model within seconds.
    await pollUntil(
      async () => ((await chat(second)).json.model === 'groq/llama-3.1-8b-instant' ? true : undefined),
      { timeoutMs: 10_000, message: 'second instance did not pick up the container change' },
    );
  });

  it('lists with ?label, 409 on rename onto an existing label, 400 for unroutable models', async () => {
    await call(gw, 'POST', '/v1/containers', { label: 'a', model: 'openai/gpt-4o' });
    await call(gw, 'POST', '/v1/containers', { label: 'b', model: 'openai/gpt-4o' });
    const list = await call(gw, 'GET', '/v1/containers?label=a');
    expect((list.json.data as { label: string }[]).map((c) => c.label)).toEqual(['a']);
    const conflict = await call(gw, 'PATCH', '/v1/containers/a', { label: 'b' });
    expect(conflict.status).toBe(409);
    expect((conflict.json.error as { code: string }).code).toBe('container_conflict');
    const bad = await call(gw, 'POST', '/v1/containers', { label: 'c', model: 'nowhere/x' });
    expect(bad.status).toBe(400);
    expect((bad.json.error as { code: string; message: string }).message).toContain("provider 'nowhere'");
    const missing = await call(gw, 'POST', '/v1/containers', { label: 'd' });
    expect(missing.status).toBe(422);
    const renamed = await call(gw, 'PATCH', '/v1/containers/a', { label: 'a2' });
    expect(renamed.json.label).toBe('a2');
    expect((await call(gw, 'GET', '/v1/containers/a')).status).toBe(404);
    expect((await call(gw, 'GET', '/api/v1/containers/a2')).status).toBe(200);
  });

  it('DELETE stops routing the label', async () => {
    await call(gw, 'POST', '/v1/containers', { label: 'gone', model: 'openai/gpt-4o' });
    const del = await call(gw, 'DELETE', '/v1/containers/gone');
    expect(del.json).toMatchObject({ deleted: true, label: 'gone' });
    const chat = await call(gw, 'POST', '/v1/chat/completions', {
      model: 'maniac:gone',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(chat.status).toBe(404);
    expect((await call(gw, 'GET', '/v1/containers/gone')).status).toBe(404);
  });

  it("isolates projects: B can neither see nor change A's containers, nor route through them", async () => {
    await call(gw, 'POST', '/v1/containers', { label: 'private', model: 'openai/gpt-4o' });
    const b = await gw.newProjectKey();
    expect((await call(gw, 'GET', '/v1/containers/private', undefined, b.apiKey)).status).toBe(404);
    expect(
      ((await call(gw, 'GET', '/v1/containers', undefined, b.apiKey)).json.data as unknown[]).length,
    ).toBe(0);
    expect((await call(gw, 'PATCH', '/v1/containers/private', { model: 'groq/x' }, b.apiKey)).status).toBe(
      404,
    );
    expect((await call(gw, 'DELETE', '/v1/containers/private', undefined, b.apiKey)).status).toBe(404);
    const chat = await call(
      gw,
      'POST',
      '/v1/chat/completions',
      { model: 'maniac:private', messages: [{ role: 'user', content: 'x' }] },
      b.apiKey,
    );
    expect(chat.status).toBe(404);
  });

  it("accepts the Python client's spellings: default_parameters on create, default_* on PATCH", async () => {
    const created = await call(gw, 'POST', '/v1/containers', {
      label: 'py',
      initial_model: 'openai/gpt-4o-mini',
      api: 'chat.completions',
      default_parameters: { temperature: 0.2 },
      default_system_prompt: 'Hi.',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      project_id: gw.projectId,
      api: 'chat.completions',
      params: { temperature: 0.2 },
      default_parameters: { temperature: 0.2 },
      system_prompt: 'Hi.',
      default_system_prompt: 'Hi.',
    });
    const patched = await call(gw, 'PATCH', '/v1/containers/py', {
      default_model: 'groq/llama-3.1-8b-instant',
      default_parameters: { top_p: 0.5 },
      default_system_prompt: 'Bye.',
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      model: 'groq/llama-3.1-8b-instant',
      params: { top_p: 0.5 },
      system_prompt: 'Bye.',
    });
    const unknownField = await call(gw, 'PATCH', '/v1/containers/py', { colour: 'red' });
    expect(unknownField.status).toBe(422);
  });

  it('routes a `container` body field (Python client 0.4) like maniac:<label>, pinned to `model` if given', async () => {
    await call(gw, 'POST', '/v1/containers', {
      label: 'field',
      model: 'openai/gpt-4o-mini',
      instructions: 'F.',
    });
    const viaField = await call(gw, 'POST', '/v1/chat/completions', {
      container: 'field',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(viaField.status).toBe(200);
    expect(viaField.json).toMatchObject({ container: 'field', model: 'openai/gpt-4o-mini' });
    // Never forwarded upstream; the container's prompt applies.
    expect(mock.requests.at(-1)?.body.container).toBeUndefined();
    expect(mock.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'F.' },
      { role: 'user', content: 'x' },
    ]);
    const pinned = await call(gw, 'POST', '/v1/chat/completions', {
      container: 'field',
      model: 'groq/llama-3.1-8b-instant',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(pinned.json).toMatchObject({ container: 'field', model: 'groq/llama-3.1-8b-instant' });
    const unknown = await call(gw, 'POST', '/v1/chat/completions', {
      container: 'nope',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(unknown.status).toBe(404);
  });

  it('pages the list with limit/offset (total counts them all); 422 for a bad limit', async () => {
    const b = await gw.newProjectKey();
    for (const label of ['p1', 'p2', 'p3']) {
      await call(gw, 'POST', '/v1/containers', { label, model: 'openai/gpt-4o' }, b.apiKey);
    }
    const page = await call(gw, 'GET', '/v1/containers?limit=2&offset=1', undefined, b.apiKey);
    expect(page.json.total).toBe(3);
    expect((page.json.data as { label: string }[]).map((c) => c.label)).toEqual(['p2', 'p3']);
    const all = await call(gw, 'GET', '/v1/containers', undefined, b.apiKey);
    expect((all.json.data as unknown[]).length).toBe(3);
    const bad = await call(gw, 'GET', '/v1/containers?limit=abc', undefined, b.apiKey);
    expect(bad.status).toBe(422);
    expect((bad.json.detail as { type: string }[])[0]?.type).toBe('int_parsing');
  });

  it('accepts the maniac-apikey header instead of Bearer', async () => {
    const res = await fetch(`${gw.url}/v1/containers`, { headers: { 'maniac-apikey': gw.apiKey } });
    expect(res.status).toBe(200);
  });
});

describe('GET /v1/models', () => {
  it("lists configured providers' known models with pricing, and the project's containers; the SDK reads it", async () => {
    await call(gw, 'POST', '/v1/containers', { label: 'listed', model: 'openai/gpt-4o' });
    const { default: OpenAI } = await import('openai');
    const client = new OpenAI({ apiKey: gw.apiKey, baseURL: `${gw.url}/v1` });
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toContain('openai/gpt-4o-mini');
    expect(ids).toContain('maniac:listed');
    expect(ids.some((id) => id.startsWith('anthropic/'))).toBe(false);
    const raw = await call(gw, 'GET', '/v1/models');
    const entry = (
      raw.json.data as { id: string; pricing: { input: number } | null; context_window: number | null }[]
    ).find((m) => m.id === 'openai/gpt-4o-mini');
    expect(entry?.pricing?.input).toBeGreaterThan(0);
    expect(entry?.context_window).toBeGreaterThan(0);
  });

  it('filters by ?container (its slug, model and fallbacks) and pages with limit/offset', async () => {
    await call(gw, 'POST', '/v1/containers', {
      label: 'filtered',
      model: 'openai:gpt-4o',
      fallback_models: ['groq/some-unpriced-model'],
    });
    const res = await call(gw, 'GET', '/v1/models?container=filtered');
    expect((res.json.data as { id: string }[]).map((m) => m.id)).toEqual([
      'maniac:filtered',
      'openai/gpt-4o',
      'groq/some-unpriced-model',
    ]);
    expect((res.json.data as { pricing: unknown }[])[1]?.pricing).not.toBeNull();
    expect((await call(gw, 'GET', '/v1/models?container=maniac:filtered')).json.total).toBe(3);
    const missing = await call(gw, 'GET', '/v1/models?container=nope');
    expect(missing.status).toBe(404);
    expect((missing.json.error as { code: string }).code).toBe('container_not_found');
    const all = await call(gw, 'GET', '/v1/models');
    const page = await call(gw, 'GET', '/v1/models?limit=5&offset=2');
    expect(page.json.total).toBe(all.json.total);
    expect(page.json.data).toEqual((all.json.data as unknown[]).slice(2, 7));
  });
});

describe('container counters without ClickHouse', () => {
  it('are null (with a warning) when ClickHouse is unreachable; the container is still served', async () => {
    const unreachable = testConfig({
      providers: { openai: { base_url: mock.url } },
      extra: { clickhouse: { url: 'http://127.0.0.1:9', database: 'nowhere' } },
    });
    const host = await startTestHost(unreachable, (ctx) => [new IngestApi(ctx)]);
    try {
      const created = await call(host, 'POST', '/v1/containers', { label: 'x', model: 'openai/gpt-4o' });
      expect(created.status).toBe(201);
      expect(created.json.stats).toBeNull();
      const got = await call(host, 'GET', '/v1/containers/x');
      expect(got.status).toBe(200);
      expect(got.json).toMatchObject({ label: 'x', stats: null, data: { stats: null } });
      const list = await call(host, 'GET', '/v1/containers');
      expect((list.json.data as { stats: unknown }[])[0]?.stats).toBeNull();
    } finally {
      await host.stop();
    }
  });
});
