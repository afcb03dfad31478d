/**
 * Pipeline measurements against the running gateway: end-to-end freshness at a steady request rate (response
 * received → row visible in ClickHouse's `completions_by_id`, the table query-api's get reads first), and
 * completeness (rows = requests, no duplicates). Also parsers for the writer and read-side micro-benchmarks.
 */
import { Agent, request } from 'node:http';
import { sleep } from './proc.js';

export class ClickHouse {
  constructor(
    readonly url: string,
    readonly database: string,
  ) {}

  async query(sql: string): Promise<string> {
    const res = await fetch(`${this.url}/?database=${encodeURIComponent(this.database)}`, {
      method: 'POST',
      body: sql,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.slice(0, 500)}`);
    return text;
  }

  async rows(sql: string): Promise<string[][]> {
    const text = await this.query(`${sql} FORMAT TabSeparated`);
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split('\t'));
  }
}

const ID_RE = /^[\w-]{1,100}$/;

function inList(ids: string[]): string {
  return ids
    .filter((id) => ID_RE.test(id))
    .map((id) => `'${id}'`)
    .join(',');
}

export interface FreshnessResult {
  rate: number;
  warmupSeconds: number;
  seconds: number;
  sent: number;
  ok: number;
  errors: number;
  /** Client-side latency of the requests, ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Response received → row visible, ms (poll interval included: an upper bound). */
  freshness: number[];
  /** Per second of the run (by response time): where a slow tail comes from — the requests, or the rows. */
  timeline: FreshnessSecond[];
  neverSeen: number;
  pollMs: number;
  rows: number;
  uniqueIds: number;
  queryApiChecked: number;
  queryApiFound: number;
}

export interface FreshnessSecond {
  /** From the start of the warm-up. */
  second: number;
  warmup: boolean;
  answered: number;
  latencyP99Ms: number;
  freshP50Ms: number;
  freshP99Ms: number;
  /** This client's own event-loop lag (its longest timer delay that second): a slow client reads answers late. */
  clientLagMaxMs: number;
  /** Connections this client opened that second (a request finding every open connection busy opens one). */
  connectsOpened: number;
}

/**
 * Sends `rate` req/s for `warmupSeconds` + `seconds` (open loop, paced every millisecond), polls ClickHouse every
 * `pollMs` for the ids answered so far, and afterwards checks that each id is stored exactly once and that
 * query-api's get serves a sample of them. Request latency and freshness figures are of the requests sent after
 * the warm-up (the steady state); the timeline and the completeness check cover the warm-up too.
 */
export async function freshness(o: {
  url: string;
  /** query-api (the gateway itself when all services run in one process). */
  queryUrl: string;
  key: string;
  body: string;
  clickhouse: ClickHouse;
  projectId: string;
  rate: number;
  /** At the same rate before the measured part, not in the latency or freshness figures. */
  warmupSeconds: number;
  seconds: number;
  pollMs: number;
  settleMs: number;
}): Promise<FreshnessResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const warmupTotal = Math.round(o.rate * o.warmupSeconds);
  const total = warmupTotal + Math.round(o.rate * o.seconds);
  const respondedAt = new Map<string, number>();
  /** Ids answered to warm-up requests: stored and timed like the rest, but not in the figures. */
  const warmupIds = new Set<string>();
  const pending = new Set<string>();
  const fresh: number[] = [];
  const latencies: number[] = [];
  // By second of the response (from the start): request latencies and freshness.
  const latencyBySecond: number[][] = [];
  const freshBySecond: number[][] = [];
  const t0 = performance.now();
  const secondOf = (at: number) => Math.max(0, Math.floor((at - t0) / 1000));
  const push = (into: number[][], second: number, value: number) => (into[second] ??= []).push(value);
  const clientLag: number[] = [];
  const connects: number[] = [];
  let lagTick = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    const s = secondOf(now);
    clientLag[s] = Math.max(clientLag[s] ?? 0, now - lagTick - 10);
    lagTick = now;
  }, 10);
  const ids: string[] = [];
  let sent = 0;
  let finished = 0;
  let errors = 0;

  const send = (warmup: boolean) => {
    const started = performance.now();
    const req = request(
      `${o.url}/v1/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(o.body),
          authorization: `Bearer ${o.key}`,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => {
          const now = performance.now();
          finished++;
          if (!warmup) latencies.push(now - started);
          push(latencyBySecond, secondOf(now), now - started);
          if (res.statusCode !== 200) {
            errors++;
            return;
          }
          try {
            const id = (JSON.parse(Buffer.concat(parts).toString()) as { id: string }).id;
            respondedAt.set(id, now);
            if (warmup) warmupIds.add(id);
            pending.add(id);
            ids.push(id);
          } catch {
            errors++;
          }
        });
      },
    );
    req.on('error', () => {
      finished++;
      errors++;
    });
    req.once('socket', (socket) => {
      if (!socket.connecting) return;
      const s = secondOf(performance.now());
      connects[s] = (connects[s] ?? 0) + 1;
    });
    req.end(o.body);
  };

  const pacer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * o.rate) / 1000));
    while (sent < due) {
      send(sent < warmupTotal);
      sent++;
    }
    if (sent >= total) clearInterval(pacer);
  }, 1);

  const poll = async () => {
    const batch = [...pending].slice(0, 5000);
    if (batch.length === 0) return;
    const rows = await o.clickhouse.rows(
      `SELECT completion_id FROM completions_by_id WHERE project_id = '${o.projectId}' AND completion_id IN (${inList(batch)})`,
    );
    const now = performance.now();
    for (const [id] of rows) {
      if (id === undefined || !pending.has(id)) continue;
      pending.delete(id);
      const at = respondedAt.get(id)!;
      if (!warmupIds.has(id)) fresh.push(now - at);
      push(freshBySecond, secondOf(at), now - at);
    }
  };

  let lastProgress = performance.now();
  let lastPending = -1;
  while (finished < total || pending.size > 0) {
    const started = performance.now();
    await poll();
    if (finished >= total) {
      if (pending.size !== lastPending) {
        lastPending = pending.size;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > o.settleMs) {
        break;
      }
    }
    await sleep(Math.max(0, o.pollMs - (performance.now() - started)));
  }
  clearInterval(pacer);
  clearInterval(lagTimer);
  agent.destroy();

  // Completeness: every answered id stored exactly once (completions is the table of record).
  let rows = 0;
  let unique = 0;
  for (let i = 0; i < ids.length; i += 2000) {
    const chunk = ids.slice(i, i + 2000);
    const [r] = await o.clickhouse.rows(
      `SELECT count(), uniqExact(completion_id) FROM completions WHERE project_id = '${o.projectId}' AND completion_id IN (${inList(chunk)})`,
    );
    rows += Number(r?.[0] ?? 0);
    unique += Number(r?.[1] ?? 0);
  }
  // And query-api serves them.
  const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 20)) === 0).slice(0, 20);
  let found = 0;
  for (const id of sample) {
    const res = await fetch(`${o.queryUrl}/v1/chat/completions/${id}`, {
      headers: { authorization: `Bearer ${o.key}` },
    });
    const body = (await res.json()) as { id?: string };
    if (res.status === 200 && body.id === id) found++;
  }
  latencies.sort((a, b) => a - b);
  const sorted = (xs: number[] | undefined) => [...(xs ?? [])].sort((a, b) => a - b);
  const timeline: FreshnessSecond[] = [];
  for (let second = 0; second < Math.max(latencyBySecond.length, freshBySecond.length); second++) {
    const lat = sorted(latencyBySecond[second]);
    const fr = sorted(freshBySecond[second]);
    timeline.push({
      second,
      warmup: second < o.warmupSeconds,
      answered: lat.length,
      latencyP99Ms: percentile(lat, 99),
      freshP50Ms: percentile(fr, 50),
      freshP99Ms: percentile(fr, 99),
      clientLagMaxMs: clientLag[second] ?? 0,
      connectsOpened: connects[second] ?? 0,
    });
  }
  return {
    rate: o.rate,
    warmupSeconds: o.warmupSeconds,
    seconds: o.seconds,
    sent,
    ok: ids.length,
    errors,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
    freshness: fresh,
    timeline,
    neverSeen: pending.size,
    pollMs: o.pollMs,
    rows,
    uniqueIds: unique,
    queryApiChecked: sample.length,
    queryApiFound: found,
  };
}

/** Rows, distinct ids and stored-vs-served counts of the whole run for one project. */
export async function projectCompleteness(
  ch: ClickHouse,
  projectId: string,
  completionsServed: () => Promise<number>,
  settleMs: number,
): Promise<{ served: number; rows: number; uniqueIds: number; waitedMs: number }> {
  const started = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const served = await completionsServed();
    const [r] = await ch.rows(
      `SELECT count(), uniqExact(completion_id) FROM completions WHERE project_id = '${projectId}'`,
    );
    const rows = Number(r?.[0] ?? 0);
    const uniqueIds = Number(r?.[1] ?? 0);
    if (rows >= served) return { served, rows, uniqueIds, waitedMs: Date.now() - started };
    if (rows !== last) {
      last = rows;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > settleMs) {
      return { served, rows, uniqueIds, waitedMs: Date.now() - started };
    }
    await sleep(500);
  }
}

/** Sum of a Prometheus counter family in a /metrics text. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** `writer projected N events in X ms: Y events/s` from services/writer/bench/throughput.ts. */
export function parseWriterBench(
  stdout: string,
): { events: number; ms: number; eventsPerSecond: number } | null {
  const m = /writer projected (\d+) events in (\d+) ms: (\d+) events\/s/.exec(stdout);
  return m ? { events: Number(m[1]), ms: Number(m[2]), eventsPerSecond: Number(m[3]) } : null;
}

/** `label   median X ms   p90 Y ms` lines from services/query-api/bench/list-latency.ts. */
export function parseListBench(stdout: string): { label: string; medianMs: number; p90Ms: number }[] {
  const out: { label: string; medianMs: number; p90Ms: number }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(.+?)\s+median\s+([\d.]+) ms\s+p90\s+([\d.]+) ms/.exec(line);
    if (m) out.push({ label: m[1]!.trim(), medianMs: Number(m[2]), p90Ms: Number(m[3]) });
  }
  return out;
}
