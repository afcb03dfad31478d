import { randomUUID } from 'node:crypto';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import {
  ControlPlane,
  createHttpServer,
  createKafka,
  createLogger,
  loadConfig,
  Metrics,
  type Kafka,
} from '@maniac-gateway/runtime';
import { encodeCompletionEvent, type CompletionEventInput } from '@maniac-gateway/schemas';
import { createWriter, type CompletionWriter } from '@maniac-gateway/writer';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelId, queryApi } from '../src/index.js';

/**
 * query-api over real Kafka and ClickHouse: events are produced to a unique topic, projected by the real writer
 * into a unique database, and read through the HTTP routes with keys of two projects.
 */

const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const suffix = `${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
const prefix = `qa-${suffix}`;
const database = `qa_${suffix}`;

const config = loadConfig({
  raw: {
    log_level: 'warn',
    kafka: {
      client_id: prefix,
      completions_partitions: 3,
      topics: {
        completions: `${prefix}.completions`,
        control: `${prefix}.control`,
        dead_letter: `${prefix}.completions.dlq`,
      },
    },
    clickhouse: { database },
  },
  env: { KAFKA_BROKERS, CLICKHOUSE_URL },
});

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Item {
  id: string;
  object: string;
  created: number;
  model: string | null;
  choices: { message: { role: string; content: unknown } }[];
  usage: Record<string, unknown> | null;
  provider: string | null;
  container: string | null;
  model_id: string | null;
  spend: number | null;
  tags: string[] | null;
  metadata: Record<string, unknown> | null;
  trace: Record<string, unknown> | null;
}
interface ListBody {
  object: string;
  data: Item[];
  total: number;
}

describe('query-api: list, get and usage over the projection', () => {
  const logger = createLogger({ name: 'test', level: 'warn' });
  let kafka: Kafka;
  let ch: ClickHouseClient;
  let controlPlane: ControlPlane;
  let writer: CompletionWriter;
  let app: FastifyInstance;
  let keyA = '';
  let keyB = '';
  let projectA = '';
  let projectB = '';
  const eventsA: CompletionEventInput[] = [];
  const eventsB: CompletionEventInput[] = [];
  const base = Date.UTC(2026, 2, 10, 12, 0, 0);

  function event(
    projectId: string,
    i: number,
    overrides: Partial<CompletionEventInput> = {},
  ): CompletionEventInput {
    const id = `chatcmpl-${projectId.slice(-4)}-${String(i).padStart(3, '0')}`;
    const model =
      overrides.model === undefined ? (i % 2 === 0 ? 'openai/gpt-4o' : 'groq/llama-3.1-8b') : overrides.model;
    return {
      event_id: randomUUID(),
      source: 'completion',
      completion_id: id,
      project_id: projectId,
      key_id: 'key',
      request_id: `req-${i}`,
      container: i % 3 === 0 ? 'support-bot' : null,
      model,
      provider: model?.split('/')[0] ?? null,
      status: 'success',
      http_status: 200,
      finish_reason: 'stop',
      usage: {
        prompt_tokens: 100 + i,
        completion_tokens: 10 + i,
        total_tokens: 110 + 2 * i,
        cached_tokens: i % 2 === 0 ? 3 : null,
        reasoning_tokens: i % 4 === 0 ? 1 : null,
      },
      spend_nanos: i % 5 === 4 ? null : 1_000_000 * (i + 1),
      latency_ms: 200,
      tags: [`n${i}`],
      metadata_json: JSON.stringify({ i }),
      trace_json: JSON.stringify({ id: `trace-${i}`, name: 'run' }),
      request_json: JSON.stringify({ model, messages: [{ role: 'user', content: `q${i}` }] }),
      response_json: JSON.stringify({
        id,
        object: 'chat.completion',
        created: Math.floor((base + i * 1000) / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: `a${i}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 100 + i, completion_tokens: 10 + i, total_tokens: 110 + 2 * i },
      }),
      // Pairs of events share a millisecond, so ties are broken by id.
      created_ms: base + Math.floor(i / 2) * 1000,
      ...overrides,
    };
  }

  async function get<T>(url: string, key: string | null): Promise<{ status: number; body: T }> {
    const res = await app.inject({
      method: 'GET',
      url,
      headers: key === null ? {} : { authorization: `Bearer ${key}` },
    });
    return { status: res.statusCode, body: res.json<T>() };
  }

  beforeAll(async () => {
    kafka = createKafka({ brokers: config.kafka.brokers, clientId: prefix, logger });
    ch = createClient({ url: CLICKHOUSE_URL });
    controlPlane = new ControlPlane(kafka, config.kafka.topics.control, logger);
    await controlPlane.start();
    projectA = (await controlPlane.createProject(`a-${suffix}`)).id;
    projectB = (await controlPlane.createProject(`b-${suffix}`)).id;
    keyA = (await controlPlane.createKey(projectA)).key;
    keyB = (await controlPlane.createKey(projectB)).key;

    writer = createWriter(config, {
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka,
      clickhouse: ch,
      options: { groupId: `${prefix}-writer`, flushIntervalMs: 100 },
    });
    await writer.start();

    for (let i = 0; i < 25; i++) eventsA.push(event(projectA, i));
    // A registered example without output.
    eventsA.push(
      event(projectA, 25, {
        source: 'register',
        model: null,
        provider: null,
        container: 'support-bot',
        usage: null,
        spend_nanos: null,
        response_json: null,
        trace_json: null,
        metadata_json: null,
        tags: [],
      }),
    );
    for (let i = 0; i < 5; i++) eventsB.push(event(projectB, i));
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic: config.kafka.topics.completions,
      acks: -1,
      messages: [...eventsA, ...eventsB].map((e) => {
        const { value, headers } = encodeCompletionEvent(e);
        return { key: e.completion_id, value, headers };
      }),
    });
    await producer.disconnect();
    await waitFor('events projected', async () => {
      const rs = await ch.query({
        query: `SELECT count() AS n FROM ${database}.completions`,
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ n: string }>();
      return Number(row?.n) === eventsA.length + eventsB.length && (await writer.drained())
        ? true
        : undefined;
    });

    app = createHttpServer({ logger, bodyLimitBytes: 1024 * 1024 });
    for (const p of ['/v1', '/api/v1']) {
      await app.register(
        async (scope) =>
          queryApi(scope, {
            config,
            clickhouse: ch,
            controlPlane,
            logger,
            metrics: new Metrics({ defaultMetrics: false }),
          }),
        { prefix: p },
      );
    }
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await writer?.stop();
    await controlPlane?.stop();
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await ch.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin
      .deleteTopics({
        topics: [
          config.kafka.topics.completions,
          config.kafka.topics.control,
          config.kafka.topics.dead_letter,
        ],
      })
      .catch(() => undefined);
    await admin.disconnect();
  });

  /** Project A's completions in the API's order: created time, then id. */
  function expectedOrder(order: 'asc' | 'desc'): string[] {
    const sorted = [...eventsA].sort((x, y) =>
      x.created_ms !== y.created_ms
        ? x.created_ms - y.created_ms
        : x.completion_id < y.completion_id
          ? -1
          : x.completion_id > y.completion_id
            ? 1
            : 0,
    );
    const ids = sorted.map((e) => e.completion_id);
    return order === 'asc' ? ids : ids.reverse();
  }

  it('lists the project’s completions newest first, 20 by default, with the total', async () => {
    const { status, body } = await get<ListBody>('/v1/chat/completions', keyA);
    expect(status).toBe(200);
    expect(body.object).toBe('list');
    expect(body.total).toBe(26);
    expect(body.data.map((d) => d.id)).toEqual(expectedOrder('desc').slice(0, 20));
  });

  it('paginates with limit and offset in both orders (ties broken by id)', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      for (let offset = 0; offset < 26; offset += 7) {
        const { body } = await get<ListBody>(
          `/v1/chat/completions?limit=7&offset=${offset}&order=${order}`,
          keyA,
        );
        expect(body.total).toBe(26);
        seen.push(...body.data.map((d) => d.id));
      }
      expect(seen).toEqual(expectedOrder(order));
    }
    const past = await get<ListBody>('/v1/chat/completions?offset=1000', keyA);
    expect(past.body).toEqual({ object: 'list', data: [], total: 26 });
  });

  it('filters by model in either spelling, by container, and by maniac:<label>', async () => {
    const gpt = eventsA.filter((e) => e.model === 'openai/gpt-4o').map((e) => e.completion_id);
    for (const spelling of ['openai/gpt-4o', 'openai:gpt-4o', 'OpenAI:gpt-4o']) {
      const { body } = await get<ListBody>(
        `/v1/chat/completions?limit=100&model=${encodeURIComponent(spelling)}`,
        keyA,
      );
      expect(body.total).toBe(gpt.length);
      expect(new Set(body.data.map((d) => d.id))).toEqual(new Set(gpt));
    }
    const bot = eventsA.filter((e) => e.container === 'support-bot').map((e) => e.completion_id);
    const byContainer = await get<ListBody>('/v1/chat/completions?limit=100&container=support-bot', keyA);
    expect(byContainer.body.total).toBe(bot.length);
    const byLabel = await get<ListBody>(
      `/v1/chat/completions?limit=100&model=${encodeURIComponent('maniac:support-bot')}`,
      keyA,
    );
    expect(byLabel.body.total).toBe(bot.length);
    const both = await get<ListBody>(
      '/v1/chat/completions?limit=100&container=support-bot&model=openai:gpt-4o',
      keyA,
    );
    expect(both.body.total).toBe(
      eventsA.filter((e) => e.container === 'support-bot' && e.model === 'openai/gpt-4o').length,
    );
    const none = await get<ListBody>("/v1/chat/completions?model=x'%20OR%20'1'%3D'1", keyA);
    expect(none.body).toEqual({ object: 'list', data: [], total: 0 });
  });

  it('gets one completion with model_id, spend, tags, metadata, trace, usage, provider and container', async () => {
    const e = eventsA[6]!;
    const { status, body } = await get<Item>(`/v1/chat/completions/${e.completion_id}`, keyA);
    expect(status).toBe(200);
    expect(body).toEqual({
      id: e.completion_id,
      object: 'chat.completion',
      created: JSON.parse(e.response_json!).created,
      model: 'openai/gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'a6' }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 106,
        completion_tokens: 16,
        total_tokens: 122,
        prompt_tokens_details: { cached_tokens: 3 },
      },
      provider: 'openai',
      container: 'support-bot',
      model_id: modelId('openai/gpt-4o'),
      spend: 0.007,
      tags: ['n6'],
      metadata: { i: 6 },
      trace: { id: 'trace-6', name: 'run' },
    });
    // The list renders the same item.
    const { body: list } = await get<ListBody>('/v1/chat/completions?limit=100', keyA);
    expect(list.data.find((d) => d.id === e.completion_id)).toEqual(body);
    // Unknown spend is null, not 0.
    const unknown = await get<Item>(`/v1/chat/completions/${eventsA[4]!.completion_id}`, keyA);
    expect(unknown.body.spend).toBeNull();
    // And via the /api/v1 prefix.
    expect((await get<Item>(`/api/v1/chat/completions/${e.completion_id}`, keyA)).body).toEqual(body);
  });

  it('returns registered examples without output with empty choices', async () => {
    const e = eventsA[25]!;
    const { status, body } = await get<Item>(`/v1/chat/completions/${e.completion_id}`, keyA);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: e.completion_id,
      choices: [],
      usage: null,
      spend: null,
      container: 'support-bot',
    });
  });

  it('keeps projects apart: another project’s id is 404 completion_not_found, never 403', async () => {
    const other = eventsB[0]!;
    const asB = await get<Item>(`/v1/chat/completions/${other.completion_id}`, keyB);
    expect(asB.status).toBe(200);
    const asA = await get<{ error: { code: string } }>(`/v1/chat/completions/${other.completion_id}`, keyA);
    expect(asA.status).toBe(404);
    expect(asA.body.error.code).toBe('completion_not_found');
    const missing = await get<{ error: { code: string; details: Record<string, unknown> } }>(
      `/v1/chat/completions/${encodeURIComponent("nope' OR '1'='1")}`,
      keyA,
    );
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('completion_not_found');
    const listB = await get<ListBody>('/v1/chat/completions?limit=100', keyB);
    expect(listB.body.total).toBe(5);
    expect(new Set(listB.body.data.map((d) => d.id))).toEqual(new Set(eventsB.map((e) => e.completion_id)));
  });

  it('requires a key', async () => {
    const res = await get<{ error: { code: string } }>('/v1/chat/completions', null);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect((await get('/v1/chat/completions', 'mgw_not-a-key')).status).toBe(401);
  });

  it('rejects out-of-bounds parameters with FastAPI-style 422s', async () => {
    const cases: [string, string, string][] = [
      ['limit=0', 'limit', 'greater_than_equal'],
      ['limit=101', 'limit', 'less_than_equal'],
      ['limit=abc', 'limit', 'int_parsing'],
      ['offset=-1', 'offset', 'greater_than_equal'],
      ['order=sideways', 'order', ''],
    ];
    for (const [query, field, type] of cases) {
      const res = await get<{ detail: { loc: (string | number)[]; type: string; msg: string }[] }>(
        `/v1/chat/completions?${query}`,
        keyA,
      );
      expect(res.status, query).toBe(422);
      expect(res.body.detail[0]!.loc).toEqual(['query', field]);
      if (type) expect(res.body.detail[0]!.type).toBe(type);
    }
    expect((await get('/v1/chat/completions?limit=100&offset=0&order=asc', keyA)).status).toBe(200);
  });

  it('reports usage rollups that agree with the rows, grouped and filtered', async () => {
    const served = eventsA.filter((e) => e.source === 'completion');
    const range = `from=2026-03-01&to=2026-04-01`;
    const { status, body } = await get<{
      totals: Record<string, number>;
      data: Record<string, string | number>[];
      granularity: string;
    }>(`/v1/usage?${range}&group_by=model,day`, keyA);
    expect(status).toBe(200);
    expect(body.granularity).toBe('day');
    expect(body.totals).toMatchObject({
      requests: served.length,
      prompt_tokens: served.reduce((n, e) => n + e.usage!.prompt_tokens, 0),
      completion_tokens: served.reduce((n, e) => n + e.usage!.completion_tokens, 0),
      cached_tokens: served.reduce((n, e) => n + (e.usage!.cached_tokens ?? 0), 0),
      reasoning_tokens: served.reduce((n, e) => n + (e.usage!.reasoning_tokens ?? 0), 0),
      spend_unknown_requests: served.filter((e) => e.spend_nanos === null).length,
    });
    expect(body.totals.spend).toBeCloseTo(served.reduce((n, e) => n + (e.spend_nanos ?? 0), 0) / 1e9, 9);
    expect(body.data.map((d) => [d.model, d.day, d.requests])).toEqual([
      ['groq/llama-3.1-8b', '2026-03-10', served.filter((e) => e.model === 'groq/llama-3.1-8b').length],
      ['openai/gpt-4o', '2026-03-10', served.filter((e) => e.model === 'openai/gpt-4o').length],
    ]);

    const hourly = await get<{ granularity: string; data: Record<string, unknown>[] }>(
      `/v1/usage?from=2026-03-10T11:30:00Z&to=2026-03-10T14:00:00Z&group_by=hour&model=openai:gpt-4o`,
      keyA,
    );
    expect(hourly.body.granularity).toBe('hour');
    expect(hourly.body.data).toEqual([
      expect.objectContaining({
        hour: '2026-03-10T12:00:00Z',
        requests: served.filter((e) => e.model === 'openai/gpt-4o').length,
      }),
    ]);

    const all = await get<{ totals: { requests: number } }>(`/v1/usage?${range}&source=all`, keyA);
    expect(all.body.totals.requests).toBe(eventsA.length);
    const other = await get<{ totals: { requests: number } }>(`/v1/usage?${range}`, keyB);
    expect(other.body.totals.requests).toBe(5);
    const bad = await get<{ detail: { loc: string[] }[] }>('/v1/usage?from=yesterday&group_by=planet', keyA);
    expect(bad.status).toBe(422);
    expect(bad.body.detail.map((d) => d.loc.join('.')).sort()).toEqual(['query.from', 'query.group_by.0']);
  });

  it('answers from the rows alone if the rollup ever disagrees with them (window fallback)', async () => {
    // A bogus rollup row in a later hour would make the window too narrow; the list must not be fooled.
    await ch.insert({
      table: `${database}.usage_hourly`,
      values: [
        {
          project_id: projectA,
          hour: Math.floor(base / 1000) + 5 * 3600,
          source: 'completion',
          container: '',
          model: 'openai/gpt-4o',
          provider: 'openai',
          requests: 1000,
          errors: 0,
          cancelled: 0,
          prompt_tokens_sum: 0,
          completion_tokens_sum: 0,
          total_tokens_sum: 0,
          cached_tokens_sum: 0,
          cache_creation_tokens_sum: 0,
          reasoning_tokens_sum: 0,
          spend_nanos_sum: 0,
          spend_unknown: 0,
          latency_ms_sum: 0,
        },
      ],
      format: 'JSONEachRow',
    });
    const { body } = await get<ListBody>('/v1/chat/completions?limit=5', keyA);
    expect(body.total).toBe(26);
    expect(body.data.map((d) => d.id)).toEqual(expectedOrder('desc').slice(0, 5));
  });
});
