import { mkdtempSync, readFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, createKafka, createLogger, ControlPlane } from '@maniac-gateway/runtime';
import {
  MockUpstream,
  REPO_ROOT,
  RedisProcess,
  ServiceProcess,
  freePort,
  limitViolations,
  pollUntil,
  testEnv,
  uniqueName,
} from '@maniac-gateway/testkit';

/**
 * Scale-out proof: two ingest-api processes, two writer processes (one consumer group) and one query-api on one
 * Kafka (completions topic with 6 partitions), one ClickHouse and one Redis. A burst across both ingest instances
 * is limited to exactly the global limit; thousands of completions sent across both appear exactly once in
 * ClickHouse although one writer is SIGKILLed mid-run.
 */
const prefix = `${uniqueName('scale')}.`;
const database = uniqueName('scale');
let ports = { ingestA: 0, ingestB: 0, query: 0, writerA: 0, writerB: 0 };
let mock: MockUpstream;
let redis: RedisProcess;
const services: ServiceProcess[] = [];
let controlPlane: ControlPlane;

function service(name: string, entry: string, env: Record<string, string>): ServiceProcess {
  const { brokers, clickhouseUrl } = testEnv();
  const proc = new ServiceProcess(
    name,
    join(REPO_ROOT, entry),
    [],
    {
      KAFKA_BROKERS: brokers,
      CLICKHOUSE_URL: clickhouseUrl,
      CLICKHOUSE_DATABASE: database,
      MANIAC_TOPIC_PREFIX: prefix,
      REDIS_URL: redis.url,
      OPENAI_API_KEY: 'sk-scale-test',
      OPENAI_BASE_URL: mock.url,
      LOG_LEVEL: 'warn',
      ...env,
    },
    join(mkdtempSync(join(tmpdir(), `${name}-`)), `${name}.log`),
  );
  services.push(proc);
  proc.start();
  return proc;
}

async function ready(port: number): Promise<void> {
  await pollUntil(
    async () =>
      (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200 ? true : undefined,
    { timeoutMs: 90_000, intervalMs: 250, message: `service on ${port} not ready` },
  );
}

async function chat(
  port: number,
  key: string,
): Promise<{ status: number; id: string | null; reset: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'scale' }] }),
  });
  const body = (await res.json().catch(() => ({}))) as { id?: string };
  return { status: res.status, id: body.id ?? null, reset: res.headers.get('x-ratelimit-reset') };
}

beforeAll(async () => {
  const [ingestA, ingestB, query, writerA, writerB] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  ports = { ingestA, ingestB, query, writerA, writerB } as typeof ports;
  mock = new MockUpstream();
  await mock.start();
  redis = new RedisProcess();
  await redis.start();
  const logger = createLogger({ name: 'scale-test', level: 'silent' });
  controlPlane = new ControlPlane(
    createKafka({ brokers: testEnv().brokers.split(','), clientId: 'scale-test', logger }),
    `${prefix}control`,
    logger,
  );
  await controlPlane.start();
  service('writer-a', 'services/writer/src/main.ts', {
    WRITER_PORT: String(ports.writerA),
    WRITER_NICE: '10',
  });
  service('writer-b', 'services/writer/src/main.ts', { WRITER_PORT: String(ports.writerB) });
  await Promise.all([ready(ports.writerA), ready(ports.writerB)]);
  // WRITER_NICE=10 lowers writer-a's CPU priority; writer-b keeps the one it was started with (the default).
  const niceOf = (w: ServiceProcess) => {
    const stat = readFileSync(`/proc/${w.pid}/stat`, 'utf8'); // nice is field 19
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  };
  expect(services.map(niceOf)).toEqual([Math.max(10, getPriority()), getPriority()]);
  service('ingest-a', 'services/ingest-api/src/server.ts', {
    PORT: String(ports.ingestA),
    MANIAC_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'spool-a-')),
  });
  service('ingest-b', 'services/ingest-api/src/server.ts', {
    PORT: String(ports.ingestB),
    MANIAC_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'spool-b-')),
  });
  service('query', 'services/query-api/src/main.ts', { QUERY_API_PORT: String(ports.query) });
  await Promise.all([ready(ports.ingestA), ready(ports.ingestB), ready(ports.query)]);
}, 240_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await controlPlane?.stop();
  await redis?.stop();
  await mock?.stop();
});

describe('several instances of every service', () => {
  it('holds a global rate limit across ingest instances, and projects every completion exactly once despite a writer crash', async () => {
    const project = await controlPlane.createProject('scale');
    const limited = await controlPlane.createKey(project.id, 'limited', { rpm: 40 });
    const { key } = await controlPlane.createKey(project.id, 'bulk');
    const expected = new Set<string>();
    // Both ingest instances must have read the keys from the control topic (every 200 here is a completion too).
    for (const port of [ports.ingestA, ports.ingestB]) {
      await pollUntil(
        async () => {
          const res = await chat(port, key);
          if (res.id) expected.add(res.id);
          return res.status === 200 ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
    }
    const burst = await Promise.all(
      Array.from({ length: 100 }, (_, i) => chat(i % 2 === 0 ? ports.ingestA : ports.ingestB, limited.key)),
    );
    expect(burst.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    // Exactly the global limit in each one-minute window that refused requests (a burst may straddle two).
    expect(limitViolations(burst, 40)).toEqual([]);

    const total = 3000;
    let sent = 0;
    let killed = false;
    const worker = async () => {
      while (sent < total) {
        const n = sent++;
        if (n === total / 2 && !killed) {
          killed = true;
          await services.find((s) => s.name === 'writer-a')?.kill();
        }
        const res = await chat(n % 2 === 0 ? ports.ingestA : ports.ingestB, key);
        expect(res.status).toBe(200);
        if (res.id) expected.add(res.id);
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    for (const r of burst) if (r.id) expected.add(r.id);
    expect(killed).toBe(true);

    const clickhouse = createClickHouse({
      url: testEnv().clickhouseUrl,
      database,
      username: 'default',
      password: '',
    });
    const counts = await pollUntil(
      async () => {
        const rs = await clickhouse.query({
          query: `SELECT count() AS rows, uniqExact(completion_id) AS ids FROM ${database}.completions WHERE project_id = '${project.id}'`,
          format: 'JSONEachRow',
        });
        const [row] = await rs.json<{ rows: string; ids: string }>();
        return row && Number(row.ids) >= expected.size ? row : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'not every completion reached ClickHouse' },
    );
    await clickhouse.close();
    console.log(
      `scale-out: ${expected.size} completions served, ${counts.rows} rows, ${counts.ids} distinct ids`,
    );
    expect(Number(counts.rows)).toBe(expected.size);
    expect(Number(counts.ids)).toBe(expected.size);

    const list = await fetch(`http://127.0.0.1:${ports.query}/v1/chat/completions?limit=1`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(((await list.json()) as { total: number }).total).toBe(expected.size);
    for (const s of services) expect(s.crashes, s.name).toEqual([]);
  });
});
