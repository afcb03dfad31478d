/** Load generators: wrk (fixed concurrency, closed loop) and vegeta (fixed rate, open loop). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAsync } from './proc.js';

export interface HttpTarget {
  name: string;
  /** Full URL of the chat completions endpoint. */
  url: string;
  headers: Record<string, string>;
  /** Process tree to measure (RSS, CPU); undefined for the mock itself (it is measured as the upstream). */
  pid?: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Failed requests: socket errors, timeouts, non-2xx statuses. */
  errors: number;
  /** Failed requests by kind (connect, read, write, timeout, non-2xx, …). */
  errorKinds: Record<string, number>;
}

const WRK_DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

function luaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Writes a wrk script that POSTs the body file with the target's headers. */
export function wrkScript(dir: string, target: HttpTarget, bodyFile: string, tag: string): string {
  const lines = [
    `wrk.method = "POST"`,
    `local f = assert(io.open(${luaString(bodyFile)}, "rb"))`,
    `wrk.body = f:read("*a")`,
    `f:close()`,
    `wrk.headers["Content-Type"] = "application/json"`,
    ...Object.entries(target.headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
    WRK_DONE,
  ];
  const path = join(dir, `wrk-${target.name}-${tag}.lua`);
  writeFileSync(path, lines.join('\n'));
  return path;
}

export async function wrk(
  target: HttpTarget,
  script: string,
  o: { connections: number; seconds: number; threads?: number },
): Promise<LoadResult> {
  const threads = Math.min(o.threads ?? 1, o.connections);
  const r = await runAsync('wrk', [
    `-t${threads}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    '--timeout',
    '10s',
    '-s',
    script,
    target.url,
  ]);
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk against ${target.name} printed no summary:\n${r.stdout}\n${r.stderr}`);
  const j = JSON.parse(line.slice(8)) as Record<string, number>;
  const n = (k: string) => j[k] ?? 0;
  const seconds = n('duration_us') / 1e6;
  const socketErrors = n('connect') + n('read') + n('write') + n('timeout');
  return {
    requests: n('requests'),
    seconds,
    rps: n('requests') / seconds,
    p50Ms: n('p50') / 1000,
    p90Ms: n('p90') / 1000,
    p99Ms: n('p99') / 1000,
    maxMs: n('max') / 1000,
    errors: socketErrors + n('status'),
    errorKinds: Object.fromEntries(
      (['connect', 'read', 'write', 'timeout', 'status'] as const)
        .filter((k) => n(k) > 0)
        .map((k) => [k === 'status' ? 'non-2xx' : k, n(k)]),
    ),
  };
}

interface VegetaReport {
  latencies: { '50th': number; '90th': number; '99th': number; max: number };
  requests: number;
  rate: number;
  throughput: number;
  duration: number;
  wait: number;
  success: number;
  status_codes: Record<string, number>;
  errors: string[] | null;
}

/** Fixed-rate load with vegeta (open loop: requests are sent on schedule whatever the latency). */
export async function vegeta(
  vegetaBin: string,
  dir: string,
  target: HttpTarget,
  bodyFile: string,
  o: { rate: number; seconds: number },
): Promise<LoadResult & { sentRate: number }> {
  const targets = join(dir, `vegeta-${target.name}.txt`);
  const headerLines = Object.entries({ 'Content-Type': 'application/json', ...target.headers }).map(
    ([k, v]) => `${k}: ${v}`,
  );
  writeFileSync(targets, [`POST ${target.url}`, ...headerLines, `@${bodyFile}`, ''].join('\n'));
  const cmd =
    `${vegetaBin} attack -targets=${targets} -rate=${o.rate}/1s -duration=${o.seconds}s -timeout=10s ` +
    `-max-connections=512 | ${vegetaBin} report -type=json`;
  const r = await runAsync('bash', ['-o', 'pipefail', '-c', cmd]);
  if (r.status !== 0) throw new Error(`vegeta against ${target.name} failed:\n${r.stderr}`);
  const j = JSON.parse(r.stdout) as VegetaReport;
  const failed = Math.round(j.requests * (1 - j.success));
  // Status 0 is a request that got no response: a timeout (-timeout=10s) or a socket error.
  const errorKinds = Object.fromEntries(
    Object.entries(j.status_codes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => [code === '0' ? 'timeout/socket' : `status ${code}`, n]),
  );
  const seconds = (j.duration + j.wait) / 1e9;
  return {
    requests: j.requests,
    seconds,
    rps: j.throughput,
    sentRate: j.rate,
    p50Ms: j.latencies['50th'] / 1e6,
    p90Ms: j.latencies['90th'] / 1e6,
    p99Ms: j.latencies['99th'] / 1e6,
    maxMs: j.latencies.max / 1e6,
    errors: failed,
    errorKinds,
  };
}
