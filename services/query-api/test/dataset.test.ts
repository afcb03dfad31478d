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
import { pollUntil } from '@maniac-gateway/testkit';
import { createWriter, type CompletionWriter } from '@maniac-gateway/writer';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetExporter, datasetFilter, DatasetQuery, queryApi } from '../src/index.js';

/**
 * GET /containers/{label}/dataset over real Kafka and ClickHouse: events with chosen times, sources, statuses and
 * tags are produced to a unique topic, projected by the real writer, and exported through the route with keys of
 * two projects.
 */

const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const suffix = `${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
const prefix = `ds-${suffix}`;
const database = `ds_${suffix}`;

const config = loadConfig({
  raw: {
    log_level: 'warn',
    kafka: {
      client_id: prefix,
      completions_partitions: 2,
      topics: {
        completions: `${prefix}.completions`,
        control: `${prefix}.control`,
        dead_letter: `${prefix}.completions.dlq`,
      },
    },
    clickhouse: { database },
    containers: [{ label: 'shared', model: 'openai/gpt-4o-mini', system_prompt: 'Config prompt.' }],
  },
  env: { KAFKA_BROKERS, CLICKHOUSE_URL },
});

type Line = { messages: Record<string, unknown>[]; tools?: unknown[]; parallel_tool_calls?: boolean };

const HOUR = 3_600_000;
const base = Date.UTC(2026, 0, 5, 9, 15, 0);

describe('dataset export', () => {
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
  const events: CompletionEventInput[] = [];

  function event(
    projectId: string,
    n: number,
    o: Partial<CompletionEventInput> & { answer?: unknown; question?: string } = {},
  ): CompletionEventInput {
    const { answer, question, ...overrides } = o;
    const id = `chatcmpl-${projectId.slice(-4)}-${String(n).padStart(3, '0')}`;
    const message =
      answer === undefined
        ? { role: 'assistant', content: `answer ${n}` }
        : (answer as Record<string, unknown>);
    return {
      event_id: randomUUID(),
      source: 'completion',
      completion_id: id,
      project_id: projectId,
      key_id: 'key',
      request_id: `req-${n}`,
      container: 'bot',
      model: 'openai/gpt-4o-mini',
      provider: 'openai',
      status: 'success',
      http_status: 200,
      finish_reason: 'stop',
      usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
      spend_nanos: 1000,
      latency_ms: 100,
      tags: [],
      request_json: JSON.stringify({
        model: 'maniac:bot',
        messages: [{ role: 'user', content: question ?? `question ${n}` }],
      }),
      response_json: JSON.stringify({
        id,
        object: 'chat.completion',
        created: 1,
        model: 'openai/gpt-4o-mini',
        choices: [{ index: 0, message, finish_reason: 'stop' }],
      }),
      created_ms: base + n * 1000,
      ...overrides,
    };
  }

  async function exportRaw(
    query: string,
    key: string | null = keyA,
    label = 'bot',
    prefixPath = '/v1',
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const res = await app.inject({
      method: 'GET',
      url: `${prefixPath}/containers/${label}/dataset${query}`,
      headers: key === null ? {} : { authorization: `Bearer ${key}` },
    });
    return { status: res.statusCode, body: res.body, headers: res.headers };
  }

  async function exportLines(query = '', key: string | null = keyA, label = 'bot'): Promise<Line[]> {
    const res = await exportRaw(query, key, label);
    expect(res.status).toBe(200);
    return res.body
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line);
  }

  /** The user question of each exported line (our fixtures have one user message). */
  const questions = (lines: Line[]) =>
    lines.map((l) => l.messages.find((m) => m.role === 'user')?.content as string);

  beforeAll(async () => {
    kafka = createKafka({ brokers: config.kafka.brokers, clientId: prefix, logger });
    ch = createClient({ url: CLICKHOUSE_URL });
    controlPlane = new ControlPlane(kafka, config.kafka.topics.control, logger);
    await controlPlane.start();
    projectA = (await controlPlane.createProject(`a-${suffix}`)).id;
    projectB = (await controlPlane.createProject(`b-${suffix}`)).id;
    keyA = (await controlPlane.createKey(projectA)).key;
    keyB = (await controlPlane.createKey(projectB)).key;
    const container = (projectId: string, label: string, systemPrompt: string | null) =>
      controlPlane.putContainer({
        id: `ctr_${randomUUID().slice(0, 8)}`,
        project_id: projectId,
        label,
        model: 'openai/gpt-4o-mini',
        fallback_models: [],
        system_prompt: systemPrompt,
        params_json: '{}',
        tags: [],
        created_ms: Date.now(),
        updated_ms: Date.now(),
        deleted_ms: null,
      });
    await container(projectA, 'bot', 'Be brief.');
    await container(projectA, 'secret', null);
    await container(projectB, 'bot', null);
    await pollUntil(() => (controlPlane.container(projectB, 'bot') ? true : undefined));

    // Project A, container bot: spread over three hours and two days, out of order on the topic.
    events.push(
      event(projectA, 1, { tags: ['gold', 'en'] }),
      event(projectA, 2, { created_ms: base + 2 * HOUR, tags: ['en'] }),
      event(projectA, 3, { created_ms: base + 26 * HOUR, tags: ['gold'] }),
      // Tools in the request and a tool call as the answer.
      event(projectA, 4, {
        created_ms: base + 1 * HOUR,
        request_json: JSON.stringify({
          messages: [{ role: 'user', content: 'question 4' }],
          tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
          parallel_tool_calls: false,
        }),
        answer: {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
          ],
          refusal: null,
        },
      }),
      // Registered example (with output) and an input-only one (skipped).
      event(projectA, 5, { source: 'register', created_ms: base + 3000, tags: ['gold'] }),
      event(projectA, 6, { source: 'register', created_ms: base + 4000, response_json: null }),
      // Failed and cancelled completions are not examples.
      event(projectA, 7, { status: 'error', http_status: 503, response_json: null }),
      event(projectA, 8, { status: 'client_cancelled', http_status: 499 }),
      // A system message of its own: system_prompt=container leaves it alone.
      event(projectA, 9, {
        created_ms: base + 2 * HOUR + 5000,
        request_json: JSON.stringify({
          messages: [
            { role: 'system', content: 'Own prompt.' },
            { role: 'user', content: 'question 9' },
          ],
        }),
      }),
      // Content parts in the answer are joined into text.
      event(projectA, 10, {
        created_ms: base + 26 * HOUR + 1000,
        answer: {
          role: 'assistant',
          content: [
            { type: 'text', text: 'part one, ' },
            { type: 'text', text: 'two' },
          ],
        },
      }),
      // Other containers of A, a config-defined one, and no container.
      event(projectA, 11, { container: 'secret' }),
      event(projectA, 12, { container: 'shared' }),
      event(projectA, 13, { container: null }),
      // Project B: its own container bot.
      event(projectB, 1, { question: 'b question' }),
      event(projectB, 2, { container: 'secret', question: 'b secret' }),
    );
    writer = createWriter(config, {
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      kafka,
      clickhouse: ch,
      options: { groupId: `${prefix}-writer`, flushIntervalMs: 100 },
    });
    await writer.start();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic: config.kafka.topics.completions,
      acks: -1,
      messages: [...events].reverse().map((e) => {
        const { value, headers } = encodeCompletionEvent(e);
        return { key: e.completion_id, value, headers };
      }),
    });
    await producer.disconnect();
    await pollUntil(
      async () => {
        const rs = await ch.query({
          query: `SELECT count() AS n FROM ${database}.completions`,
          format: 'JSONEachRow',
        });
        const [row] = await rs.json<{ n: string }>();
        return Number(row?.n) === events.length && (await writer.drained()) ? true : undefined;
      },
      { timeoutMs: 60_000, message: 'events not projected' },
    );

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

  it('streams successful completions and registered examples as fine-tuning JSONL, oldest first', async () => {
    const res = await exportRaw('?format=openai-jsonl');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="bot.jsonl"');
    expect(res.body.endsWith('\n')).toBe(true);
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    // 1 (t0), 5 (t0+3s, registered), 4 (+1h), 2 (+2h), 9 (+2h5s), 3 (+26h), 10 (+26h1s); 6, 7, 8 are not examples.
    expect(questions(lines)).toEqual([
      'question 1',
      'question 5',
      'question 4',
      'question 2',
      'question 9',
      'question 3',
      'question 10',
    ]);
    expect(lines[0]).toEqual({
      messages: [
        { role: 'user', content: 'question 1' },
        { role: 'assistant', content: 'answer 1' },
      ],
    });
    // Tools and the tool call, per OpenAI's fine-tuning format.
    expect(lines[2]).toEqual({
      messages: [
        { role: 'user', content: 'question 4' },
        {
          role: 'assistant',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
          ],
        },
      ],
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
      parallel_tool_calls: false,
    });
    expect(lines[6]?.messages.at(-1)).toEqual({ role: 'assistant', content: 'part one, two' });
    // The stored messages as sent: no container prompt unless asked for.
    expect(
      lines.every((l) => l.messages[0]?.role !== 'system' || l.messages[0]?.content === 'Own prompt.'),
    ).toBe(true);
    // The default format, and the /api/v1 prefix.
    const plain = await exportRaw('', keyA, 'bot', '/api/v1');
    expect(plain.body).toBe(res.body);
  });

  it('filters by source', async () => {
    expect(questions(await exportLines('?source=register'))).toEqual(['question 5']);
    expect(questions(await exportLines('?source=completion'))).not.toContain('question 5');
    expect(await exportLines('?source=completion')).toHaveLength(6);
    expect(await exportLines('?source=all')).toHaveLength(7);
  });

  it('filters by time: since inclusive, until exclusive, ISO 8601 or unix seconds', async () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    expect(questions(await exportLines(`?since=${iso(base + 2 * HOUR)}`))).toEqual([
      'question 2',
      'question 9',
      'question 3',
      'question 10',
    ]);
    expect(questions(await exportLines(`?until=${(base + 2 * HOUR) / 1000}`))).toEqual([
      'question 1',
      'question 5',
      'question 4',
    ]);
    expect(
      questions(await exportLines(`?since=${(base + HOUR) / 1000}&until=${iso(base + 2 * HOUR + 5000)}`)),
    ).toEqual(['question 4', 'question 2']);
    expect(questions(await exportLines('?since=2026-01-06'))).toEqual(['question 3', 'question 10']);
  });

  it('filters by tags: any of them by default, all of them with tags_match=all', async () => {
    expect(questions(await exportLines('?tags=gold,en'))).toEqual([
      'question 1',
      'question 5',
      'question 2',
      'question 3',
    ]);
    expect(questions(await exportLines('?tags=gold&tags=en&tags_match=all'))).toEqual(['question 1']);
    expect(questions(await exportLines('?tags=gold&source=register'))).toEqual(['question 5']);
    expect(await exportLines('?tags=none')).toEqual([]);
  });

  it("system_prompt=container prepends the container's prompt where the request had none", async () => {
    const lines = await exportLines('?system_prompt=container');
    expect(lines[0]?.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    const own = lines.find((l) => l.messages.some((m) => m.content === 'question 9'));
    expect(own?.messages.filter((m) => m.role === 'system')).toEqual([
      { role: 'system', content: 'Own prompt.' },
    ]);
  });

  it('exports a config-defined container per project', async () => {
    expect(questions(await exportLines('', keyA, 'shared'))).toEqual(['question 12']);
    expect(await exportLines('', keyB, 'shared')).toEqual([]);
  });

  it("isolates projects: B exports its own container of the same label, and never A's", async () => {
    expect(questions(await exportLines('', keyB, 'bot'))).toEqual(['b question']);
    // B has rows under 'secret' but no such container: 404, like any unknown container.
    const secret = await exportRaw('', keyB, 'secret');
    expect(secret.status).toBe(404);
    expect(JSON.parse(secret.body)).toMatchObject({ error: { code: 'container_not_found' } });
    expect(questions(await exportLines('', keyA, 'secret'))).toEqual(['question 11']);
  });

  it('404 for an unknown container, 401 without a key, 422 for bad parameters', async () => {
    const unknown = await exportRaw('', keyA, 'nope');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({
      error: { code: 'container_not_found', details: { container: 'nope' } },
    });
    expect((await exportRaw('', null)).status).toBe(401);
    const bad = async (query: string, loc: string, type: string) => {
      const res = await exportRaw(query);
      expect(res.status).toBe(422);
      const detail = (JSON.parse(res.body) as { detail: { loc: string[]; type: string }[] }).detail;
      expect(detail[0]).toMatchObject({ loc: ['query', loc], type });
    };
    await bad('?format=csv', 'format', 'literal_error');
    await bad('?source=everything', 'source', 'literal_error');
    await bad('?tags_match=some', 'tags_match', 'literal_error');
    await bad('?since=yesterday', 'since', 'datetime_parsing');
    await bad('?since=2026-02-01&until=2026-01-01', 'since', 'value_error');
  });

  it('reads in windows: small windows give exactly the same lines', async () => {
    const whole = await exportRaw('');
    const query = DatasetQuery.parse({});
    const filter = datasetFilter(projectA, 'bot', query);
    const exporter = new DatasetExporter(ch, database, { windowRows: 1, chunkBytes: 1 });
    const windows = await exporter.plan(filter);
    // One window per non-empty hour (a single hour holds more than one row).
    expect(windows.map((w) => (w.fromS * 1000 - Math.floor(base / HOUR) * HOUR) / HOUR)).toEqual([
      0, 1, 2, 26,
    ]);
    let text = '';
    let rows = 0;
    for await (const chunk of exporter.chunks(filter)) {
      text += chunk.text;
      rows += chunk.rows;
    }
    expect(text).toBe(whole.body);
    expect(rows).toBe(7);
  });
});
