import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, type ClickHouseClient, type GatewayConfig } from '@maniac-gateway/runtime';
import {
  MockUpstream,
  REPO_ROOT,
  ServiceProcess,
  faultClickHouse,
  faultKafka,
  freePort,
  openAiStream,
  pollUntil,
  startTestHost,
  testConfig,
  useFaultInfra,
  type Behaviour,
  type TestHost,
} from '@maniac-gateway/testkit';
import { composeComponents } from '../../src/compose.js';

/**
 * The whole pipeline under faults, on dedicated Kafka/ClickHouse instances (.data/faults, own ports): steady
 * client traffic through an in-process gateway (ingest-api + query-api from composeComponents), a second
 * ingest-api and the writer as child processes, while the test stops and pauses Kafka, stops ClickHouse, renames
 * the target table away, SIGKILLs the writer right after an insert and an ingest-api instance mid-stream, and the
 * mock upstream resets, hangs, sends malformed SSE, cuts streams and answers 5xx/429 bursts.
 *
 * Afterwards: every response a client received in full is in ClickHouse exactly once (by request id, and by
 * completion id for 2xx), no row is duplicated, rollups equal the sums over the rows, no service crashed,
 * memory stayed bounded, and each fault was visible in /readyz or /metrics while it lasted.
 */

const CONCURRENCY = Number(process.env.FAULTS_CONCURRENCY ?? 5);
const PRODUCE_TIMEOUT_MS = 2_000;
/** Bound on a child service's resident memory during the run. */
const MAX_RSS_BYTES = 768 * 1024 * 1024;

type Json = Record<string, unknown>;

interface Outcome {
  rid: string;
  target: 'host' | 'child';
  kind: string;
  stream: boolean;
  status: number | null;
  completionId: string | null;
  /** The client received a whole response (JSON body, or a stream ending with [DONE]). */
  complete: boolean;
  errorFrame: boolean;
  startedAt: number;
  endedAt: number;
}

const KINDS: { kind: string; weight: number; body: (stream: boolean) => Json }[] = [
  { kind: 'ok', weight: 10, body: () => ({ model: 'openai/gpt-4o-mini' }) },
  { kind: 'fallback', weight: 2, body: () => ({ model: 'openai/flaky', models: ['openai/gpt-4o-mini'] }) },
  { kind: 'burst', weight: 3, body: () => ({ model: 'openai/burst' }) },
  { kind: 'reset', weight: 1, body: () => ({ model: 'openai/reset' }) },
  { kind: 'hang', weight: 1, body: () => ({ model: 'openai/hang' }) },
  { kind: 'malformed', weight: 1, body: () => ({ model: 'openai/malformed' }) },
  { kind: 'cut', weight: 1, body: () => ({ model: 'openai/cut' }) },
  { kind: 'no-store', weight: 1, body: () => ({ model: 'openai/gpt-4o-mini', store: false }) },
];
const TOTAL_WEIGHT = KINDS.reduce((n, k) => n + k.weight, 0);

function pickKind(): (typeof KINDS)[number] {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const k of KINDS) {
    r -= k.weight;
    if (r < 0) return k;
  }
  return KINDS[0] as (typeof KINDS)[number];
}

async function getJson(url: string): Promise<{ status: number; json: Json } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return { status: res.status, json: (await res.json()) as Json };
  } catch {
    return null;
  }
}

async function metricValue(base: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  let text: string;
  try {
    text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(3_000) })).text();
  } catch {
    return Number.NaN;
  }
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).some(([k, v]) => !labelText.includes(`${k}="${v}"`))) continue;
    total += Number(m[3]);
    found = true;
  }
  return found ? total : 0;
}

type Check = { ok: boolean; reason?: string };
async function readyChecks(base: string): Promise<{ status: number; checks: Record<string, Check> } | null> {
  const r = await getJson(`${base}/readyz`);
  return r ? { status: r.status, checks: (r.json.checks ?? {}) as Record<string, Check> } : null;
}

/** Client load: workers send requests in a loop until stopped, recording every outcome. */
class Load {
  readonly outcomes: Outcome[] = [];
  readonly inFlight = new Map<string, { target: 'host' | 'child'; kind: string; stream: boolean }>();
  private running = false;
  private workers: Promise<void>[] = [];
  private seq = 0;

  constructor(
    private readonly targets: () => { host: string; child: string | null },
    private readonly apiKey: string,
  ) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < CONCURRENCY; i++) this.workers.push(this.worker(i));
    // A dedicated client keeps long streams open on the child ingest-api (to be killed mid-stream).
    this.workers.push(this.slowStreams());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async worker(i: number): Promise<void> {
    while (this.running) {
      const k = pickKind();
      const stream = Math.random() < 0.5;
      // One worker in five talks to the child ingest-api when it is up.
      const useChild = i === 0 && this.targets().child !== null;
      await this.request(useChild ? 'child' : 'host', k.kind, stream, k.body(stream));
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private async slowStreams(): Promise<void> {
    while (this.running) {
      if (this.targets().child === null) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      await Promise.all([
        this.request('child', 'slow', true, { model: 'openai/slow' }),
        this.request('child', 'slow', true, { model: 'openai/slow' }),
      ]);
    }
  }

  private async request(target: 'host' | 'child', kind: string, stream: boolean, body: Json): Promise<void> {
    const base = target === 'host' ? this.targets().host : this.targets().child;
    if (!base) return;
    const rid = `fault-${process.pid}-${++this.seq}`;
    const outcome: Outcome = {
      rid,
      target,
      kind,
      stream,
      status: null,
      completionId: null,
      complete: false,
      errorFrame: false,
      startedAt: Date.now(),
      endedAt: 0,
    };
    this.inFlight.set(rid, { target, kind, stream });
    try {
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          'content-type': 'application/json',
          'x-request-id': rid,
        },
        body: JSON.stringify({ ...body, messages: [{ role: 'user', content: `hi ${rid}` }], stream }),
        signal: AbortSignal.timeout(30_000),
      });
      outcome.status = res.status;
      const text = await res.text();
      const isSse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
      if (isSse) {
        const frames = text
          .split('\n\n')
          .map((f) => f.trim())
          .filter((f) => f.startsWith('data: '))
          .map((f) => f.slice(6));
        const first = frames[0] && frames[0] !== '[DONE]' ? (JSON.parse(frames[0]) as Json) : null;
        outcome.completionId = typeof first?.id === 'string' ? first.id : null;
        outcome.errorFrame = frames.some((f) => f.startsWith('{"error"'));
        outcome.complete = frames.at(-1) === '[DONE]';
      } else {
        const json = JSON.parse(text) as Json;
        if (res.status === 200) outcome.completionId = typeof json.id === 'string' ? json.id : null;
        outcome.complete = true;
      }
    } catch {
      // connection reset, truncated body (instance killed): not complete
    } finally {
      outcome.endedAt = Date.now();
      this.inFlight.delete(rid);
      this.outcomes.push(outcome);
    }
  }
}

/** Collects the in-process host's log lines (level warn and above). */
class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  has(text: string): boolean {
    return this.lines.some((l) => l.includes(text));
  }
}

let mock: MockUpstream;
let gw: TestHost;
let config: GatewayConfig;
let ch: ClickHouseClient;
let writer: ServiceProcess;
let ingest: ServiceProcess;
let writerUrl = '';
let ingestUrl = '';
let childUp = false;
const logs = new LogSink();
const workDir = mkdtempSync(join(tmpdir(), 'maniac-faults-'));

function scriptUpstream(): void {
  const stream = openAiStream();
  const slow = openAiStream({ pieces: Array.from({ length: 14 }, (_, i) => `p${i} `) });
  mock.reset();
  mock.script('flaky', { kind: 'error', status: 500 });
  mock.script('reset', { kind: 'reset' });
  mock.script('hang', { kind: 'hang' });
  mock.script('malformed', { kind: 'sse', events: [...stream.slice(0, 2), '{"choices": [ not json'] });
  mock.script('cut', { kind: 'sse', events: stream, cutAfter: 3 });
  mock.script('slow', { kind: 'sse', events: slow, intervalMs: 60 });
  burst();
}

/** 5xx then 429 bursts on the `burst` model, then normal answers (re-armed at every fault). */
function burst(): void {
  const errors: Behaviour[] = [
    ...Array.from({ length: 8 }, (_, i): Behaviour => ({
      kind: 'error',
      status: [500, 502, 503][i % 3] ?? 500,
    })),
    ...Array.from({ length: 8 }, (): Behaviour => ({
      kind: 'error',
      status: 429,
      headers: { 'retry-after': '1' },
    })),
  ];
  mock.script('burst', ...errors, { kind: 'json' });
}

const observed: Record<string, string> = {};
const rss = { writer: 0, ingest: 0 };

function sampleRss(): void {
  rss.writer = Math.max(rss.writer, writer.rssBytes() ?? 0);
  rss.ingest = Math.max(rss.ingest, ingest.rssBytes() ?? 0);
}

/** Polls until `probe` returns a description of what showed the fault; records it. */
async function observe(fault: string, probe: () => Promise<string | undefined>, timeoutMs = 30_000) {
  const seen = await pollUntil(probe, { timeoutMs, intervalMs: 100, message: `${fault} not visible` });
  observed[fault] = seen;
}

async function hold(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    sampleRss();
    await new Promise((r) => setTimeout(r, Math.min(250, end - Date.now())));
  }
}

async function writerMetric(name: string): Promise<number> {
  return metricValue(writerUrl, name);
}

async function waitWriterHealthy(): Promise<void> {
  await pollUntil(
    async () => {
      const r = await readyChecks(writerUrl);
      return r?.status === 200 ? true : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 200, message: 'writer not ready' },
  );
}

async function waitPublisherOk(base: string): Promise<void> {
  await pollUntil(async () => ((await readyChecks(base))?.checks.event_publisher?.ok ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 200,
    message: `event publisher of ${base} did not recover`,
  });
}

beforeAll(async () => {
  await useFaultInfra();
  mock = new MockUpstream();
  await mock.start();
  scriptUpstream();
  config = testConfig({
    providers: {
      openai: {
        base_url: mock.url,
        api_key: 'sk-faults',
        timeouts: { connect_ms: 1_000, first_byte_ms: 1_500, idle_ms: 1_500, total_ms: 20_000 },
      },
    },
  });
  config.log_level = 'warn';
  // Own consumer groups (the writer's group is `<client_id>-writer`).
  config.kafka.client_id = `faults-${config.clickhouse.database}`;
  config.kafka.produce_timeout_ms = PRODUCE_TIMEOUT_MS;
  config.server.shutdown_grace_ms = 10_000;

  // The writer and a second ingest-api as child processes on the same topics and database.
  const writerPort = await freePort();
  writerUrl = `http://127.0.0.1:${writerPort}`;
  const writerConfig = join(workDir, 'writer.json');
  writeFileSync(writerConfig, JSON.stringify(config));
  writer = new ServiceProcess(
    'writer',
    join(REPO_ROOT, 'services/writer/src/main.ts'),
    ['--config', writerConfig],
    // A restarted writer rejoins once the killed one's session expired: the broker's minimum, not 30 s.
    { WRITER_PORT: String(writerPort), WRITER_SESSION_TIMEOUT_MS: '6000' },
    join(workDir, 'writer.log'),
  );
  writer.start();

  // The in-process gateway: every composed component but the writer (which runs, killable, as a child).
  gw = await startTestHost(config, (ctx) => composeComponents(ctx).filter((c) => c.name !== 'writer'), {
    logDestination: logs,
  });
  const ingestPort = await freePort();
  ingestUrl = `http://127.0.0.1:${ingestPort}`;
  const spoolDir = join(workDir, 'child-spool');
  mkdirSync(spoolDir);
  const ingestConfig = join(workDir, 'ingest.json');
  writeFileSync(
    ingestConfig,
    JSON.stringify({
      ...config,
      server: { ...config.server, port: ingestPort },
      spool: { ...config.spool, dir: spoolDir },
    }),
  );
  ingest = new ServiceProcess(
    'ingest-api',
    join(REPO_ROOT, 'services/ingest-api/src/server.ts'),
    ['--config', ingestConfig],
    {},
    join(workDir, 'ingest.log'),
  );
  ingest.start();
  ch = createClickHouse({ ...config.clickhouse }, { requestTimeoutMs: 30_000 });
  await waitWriterHealthy();
  await pollUntil(async () => ((await readyChecks(ingestUrl))?.status === 200 ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 200,
    message: 'child ingest-api not ready',
  });
  childUp = true;
}, 240_000);

afterAll(async () => {
  // Whatever happened, leave the dedicated instances running and resumed for the next suite.
  await faultKafka('start').catch(() => undefined);
  await faultClickHouse('start').catch(() => undefined);
  await ingest?.stop().catch(() => undefined);
  await writer?.stop().catch(() => undefined);
  await gw?.stop();
  await mock?.stop();
  await ch
    ?.command({ query: `DROP DATABASE IF EXISTS ${config.clickhouse.database}` })
    .catch(() => undefined);
  await ch?.close();
}, 180_000);

describe('the pipeline under faults', () => {
  it('loses nothing, duplicates nothing, and shows every fault while it lasts', async () => {
    const started = Date.now();
    const db = config.clickhouse.database;
    const load = new Load(() => ({ host: gw.url, child: childUp ? ingestUrl : null }), gw.apiKey);
    const faults: string[] = [];
    const phaseTimes: Record<string, number> = {};
    let phaseStart = Date.now();
    const phase = (name: string) => {
      const last = faults.at(-1);
      if (last) phaseTimes[last] = Date.now() - phaseStart;
      phaseStart = Date.now();
      faults.push(name);
      burst();
    };
    load.start();
    await hold(1_500);

    // --- Kafka stopped (controlled shutdown) and restarted.
    phase('kafka_stop');
    await faultKafka('stop');
    await observe('kafka_stop', async () => {
      const r = await readyChecks(gw.url);
      const up = await metricValue(gw.url, 'maniac_kafka_up');
      const check = r?.checks.event_publisher;
      return check && !check.ok && up === 0
        ? `readyz event_publisher: ${check.reason}; maniac_kafka_up 0`
        : undefined;
    });
    await hold(2_000);
    await faultKafka('start');
    await waitPublisherOk(gw.url);

    // --- Kafka stalled (SIGSTOP) for longer than the producer timeout.
    phase('kafka_pause');
    await faultKafka('pause');
    await observe('kafka_pause', async () => {
      const check = (await readyChecks(gw.url))?.checks.event_publisher;
      return check && !check.ok && (check.reason ?? '').includes('timed out')
        ? `readyz event_publisher: ${check.reason}`
        : undefined;
    });
    await hold(PRODUCE_TIMEOUT_MS + 1_000);
    await faultKafka('resume');
    await waitPublisherOk(gw.url);
    await waitWriterHealthy();

    // --- ClickHouse stopped and restarted.
    phase('clickhouse_stop');
    await faultClickHouse('stop');
    await observe('clickhouse_stop', async () => {
      const r = await readyChecks(gw.url);
      const w = await readyChecks(writerUrl);
      const outage = await writerMetric('maniac_writer_clickhouse_outage');
      return r?.status === 503 && r.checks.query_clickhouse?.ok === false && outage === 1 && w?.status === 503
        ? `query-api readyz 503 (query_clickhouse: ${r.checks.query_clickhouse.reason}); writer outage gauge 1`
        : undefined;
    });
    await hold(1_500);
    await faultClickHouse('start');
    await waitWriterHealthy();

    // --- Inserts fail: the target table is renamed away, then back.
    phase('table_renamed');
    await ch.command({ query: `RENAME TABLE ${db}.completions TO ${db}.completions_away` });
    try {
      await observe('table_renamed', async () => {
        const w = await readyChecks(writerUrl);
        const reason = w?.checks.writer_clickhouse?.reason ?? '';
        return w?.status === 503 && reason.includes("doesn't exist") ? `writer readyz: ${reason}` : undefined;
      });
      await hold(1_500);
    } finally {
      await ch.command({ query: `RENAME TABLE ${db}.completions_away TO ${db}.completions` });
    }
    await waitWriterHealthy();

    // --- The writer SIGKILLed right after an insert (before or during its Kafka commit), then at random.
    for (const when of ['after_insert', 'random'] as const) {
      phase(`writer_kill_${when}`);
      if (when === 'after_insert') {
        const before = await writerMetric('maniac_writer_batch_rows_count');
        await pollUntil(
          async () => ((await writerMetric('maniac_writer_batch_rows_count')) > before ? true : undefined),
          { timeoutMs: 30_000, intervalMs: 10 },
        );
      } else {
        await hold(Math.round(200 + Math.random() * 800));
      }
      await writer.kill();
      await observe(`writer_kill_${when}`, async () =>
        (await getJson(`${writerUrl}/healthz`)) === null ? 'writer /healthz unreachable' : undefined,
      );
      await hold(1_000);
      writer.start();
      await waitWriterHealthy();
    }

    // --- An ingest-api instance SIGKILLed with streams in flight, then restarted on its spool.
    phase('ingest_kill');
    await pollUntil(
      () =>
        [...load.inFlight.values()].filter((f) => f.target === 'child' && f.kind === 'slow').length >= 2
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 10 },
    );
    const killedAt = Date.now();
    const inFlightAtKill = new Set(
      [...load.inFlight.entries()].filter(([, f]) => f.target === 'child').map(([rid]) => rid),
    );
    childUp = false;
    await ingest.kill();
    // Responses can still finish between the decision to kill and the process's death: up to here, too.
    const diedAt = Date.now();
    await observe('ingest_kill', async () =>
      (await getJson(`${ingestUrl}/healthz`)) === null ? 'ingest-api /healthz unreachable' : undefined,
    );
    await hold(500);
    ingest.start();
    await pollUntil(async () => ((await readyChecks(ingestUrl))?.status === 200 ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 200,
      message: 'child ingest-api not ready after restart',
    });
    childUp = true;
    await hold(2_000);
    phase('end');
    faults.pop();
    await load.stop();
    const trafficMs = Date.now() - started;

    // --- Convergence: every complete response is stored.
    const outcomes = load.outcomes;
    const expectOne = outcomes.filter(
      (o) => o.complete && o.kind !== 'no-store' && !inFlightAtKill.has(o.rid) && o.status !== null,
    );
    const rowsByRid = async () => {
      const rs = await ch.query({
        query: `SELECT request_id AS rid, count() AS n, groupArray(completion_id) AS ids
          FROM ${db}.completions WHERE project_id = '${gw.projectId}' GROUP BY request_id`,
        format: 'JSONEachRow',
      });
      const rows = await rs.json<{ rid: string; n: string | number; ids: string[] }>();
      return new Map(rows.map((r) => [r.rid, { n: Number(r.n), ids: r.ids }]));
    };
    let stored = new Map<string, { n: number; ids: string[] }>();
    // Events a killed instance had answered but not yet made durable (its in-memory batch): reported, bounded.
    const lostWindowMs = 1_000;
    const mayBeLost = (o: Outcome) =>
      o.target === 'child' && o.endedAt >= killedAt - lostWindowMs && o.endedAt <= diedAt;
    await pollUntil(
      async () => {
        stored = await rowsByRid();
        return expectOne.every((o) => stored.has(o.rid) || mayBeLost(o)) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'not every complete response reached ClickHouse' },
    ).catch((err: unknown) => {
      const missing = expectOne.filter((o) => !stored.has(o.rid) && !mayBeLost(o));
      throw new Error(`${String(err)}; missing ${missing.length}: ${JSON.stringify(missing.slice(0, 5))}`);
    });
    // The writer has flushed everything it had (nothing buffered for long): settle, then count.
    await hold(1_500);
    stored = await rowsByRid();

    const lostInWindow = expectOne.filter((o) => !stored.has(o.rid));
    // The figures first, so that a failing run prints them too.
    const upstreamFailures: Record<string, number> = {};
    for (const reason of [
      'upstream_reset',
      'upstream_timeout',
      'upstream_http_500',
      'upstream_http_429',
      'upstream_malformed_stream',
    ]) {
      upstreamFailures[reason] = await metricValue(gw.url, 'maniac_upstream_attempt_failures_total', {
        reason,
      });
    }
    const counters = {
      produced: await metricValue(gw.url, 'maniac_events_produced_total'),
      spooled: await metricValue(gw.url, 'maniac_events_spooled_total'),
      replayed: await metricValue(gw.url, 'maniac_events_replayed_total'),
      dropped: await metricValue(gw.url, 'maniac_events_dropped_total'),
      childProduced: await metricValue(ingestUrl, 'maniac_events_produced_total'),
      childReplayedAfterRestart: await metricValue(ingestUrl, 'maniac_events_replayed_total'),
    };
    const byStatus: Record<string, number> = {};
    for (const o of outcomes) {
      const key = o.status === null ? 'no response' : o.complete ? String(o.status) : `${o.status} (cut)`;
      byStatus[key] = (byStatus[key] ?? 0) + 1;
    }
    const report = {
      traffic_s: Math.round(trafficMs / 100) / 10,
      requests: outcomes.length,
      by_status: byStatus,
      stream_error_frames: outcomes.filter((o) => o.errorFrame).length,
      complete_responses_expected_stored: expectOne.length,
      ok_2xx_with_id: expectOne.filter((o) => o.status === 200 && o.completionId && stored.has(o.rid)).length,
      cut_by_ingest_kill: inFlightAtKill.size,
      lost_in_kill_window: lostInWindow.length,
      rows: [...stored.values()].reduce((n, v) => n + v.n, 0),
      faults: faults.length,
      fault_ms: phaseTimes,
      events: counters,
      upstream_attempt_failures: upstreamFailures,
      max_rss_mb: {
        writer: Math.round(rss.writer / 2 ** 20),
        ingest_child: Math.round(rss.ingest / 2 ** 20),
      },
      observed,
    };
    console.log(`[faults] pipeline report\n${JSON.stringify(report, null, 2)}`);
    for (const o of expectOne) {
      if (!stored.has(o.rid)) continue;
      expect(stored.get(o.rid)?.n, `rows for ${o.rid} (${o.kind})`).toBe(1);
      if (o.status === 200 && o.completionId) expect(stored.get(o.rid)?.ids).toEqual([o.completionId]);
    }
    // Nothing stored twice, whatever its outcome (including requests cut by the kill).
    for (const [rid, v] of stored) expect(v.n, `rows for ${rid}`).toBe(1);
    // store:false is never stored.
    for (const o of outcomes.filter((x) => x.kind === 'no-store')) expect(stored.has(o.rid)).toBe(false);
    const dupEvents = Number(
      (
        await (
          await ch.query({
            query: `SELECT count() - uniqExact(event_id) AS d FROM ${db}.completions`,
            format: 'JSONEachRow',
          })
        ).json<{ d: string }>()
      )[0]?.d ?? 0,
    );
    expect(dupEvents).toBe(0);

    // By completion id: each 2xx id exactly once.
    const okIds = expectOne
      .filter((o) => o.status === 200 && o.completionId && stored.has(o.rid))
      .map((o) => o.completionId as string);
    const storedIds = new Set([...stored.values()].flatMap((v) => v.ids));
    expect(okIds.filter((id) => !storedIds.has(id))).toEqual([]);
    const idRows = await (
      await ch.query({
        query: `SELECT completion_id AS id, count() AS n FROM ${db}.completions WHERE project_id = '${gw.projectId}'
          GROUP BY completion_id HAVING n > 1`,
        format: 'JSONEachRow',
      })
    ).json<{ id: string; n: string }>();
    expect(idRows).toEqual([]);

    // Rollups equal the sums over the rows.
    const sums = async (query: string) =>
      (await (await ch.query({ query, format: 'JSONEachRow' })).json<Record<string, string | number>>())[0] ??
      {};
    const fromRows = await sums(`SELECT count() AS requests, countIf(status = 'error') AS errors,
        sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, sum(total_tokens) AS total,
        sum(ifNull(spend_nanos, 0)) AS spend, sum(latency_ms) AS latency
      FROM ${db}.completions WHERE project_id = '${gw.projectId}'`);
    for (const table of ['usage_hourly', 'usage_daily']) {
      const fromRollup = await sums(`SELECT sum(requests) AS requests, sum(errors) AS errors,
          sum(prompt_tokens_sum) AS prompt, sum(completion_tokens_sum) AS completion, sum(total_tokens_sum) AS total,
          sum(spend_nanos_sum) AS spend, sum(latency_ms_sum) AS latency
        FROM ${db}.${table} WHERE project_id = '${gw.projectId}'`);
      expect(Object.fromEntries(Object.entries(fromRollup).map(([k, v]) => [k, String(v)])), table).toEqual(
        Object.fromEntries(Object.entries(fromRows).map(([k, v]) => [k, String(v)])),
      );
    }

    // No service crashed; the gateway never answered 500; memory stayed bounded.
    expect(writer.crashes).toEqual([]);
    expect(ingest.crashes).toEqual([]);
    expect(writer.alive() && ingest.alive()).toBe(true);
    expect((await getJson(`${gw.url}/healthz`))?.status).toBe(200);
    expect(outcomes.filter((o) => o.status === 500)).toEqual([]);
    expect(rss.writer).toBeLessThan(MAX_RSS_BYTES);
    expect(rss.ingest).toBeLessThan(MAX_RSS_BYTES);
    // Upstream failures are logged as errors with their ApiError (503/429), and the control-plane consumer
    // reports its crash/restart while Kafka is down; anything else at error level is a bug.
    const expectedError = (l: string) =>
      l.includes('"type":"ApiError"') || (l.includes('"component":"control-plane"') && l.includes('Kafka'));
    const unexpected = logs.lines.filter(
      (l) => l.includes('"level":60') || (l.includes('"level":50') && !expectedError(l)),
    );
    expect(unexpected.map((l) => l.slice(0, 400))).toEqual([]);

    // Every fault was visible while it lasted; upstream faults show in the attempt-failure metric; logs say so.
    for (const f of faults) expect(observed[f], f).toBeDefined();
    for (const reason of ['upstream_reset', 'upstream_timeout', 'upstream_http_500', 'upstream_http_429'])
      expect(upstreamFailures[reason], reason).toBeGreaterThan(0);
    expect(logs.has('produce failed: spooling events')).toBe(true);
    expect(writer.log()).toContain('ClickHouse unavailable: pausing consumption');

    expect(counters.dropped).toBe(0);
    // The durability window: only responses finished within it before a SIGKILL may be missing.
    expect(lostInWindow.every(mayBeLost)).toBe(true);
  });
});
