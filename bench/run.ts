/**
 * The benchmark harness (issue 7): one command starts a mock upstream, the full gateway pipeline, nginx, the bare
 * Node floor and the Portkey gateway on this machine, drives each with the same load (wrk: fixed concurrency;
 * vegeta: fixed rate; a Node SSE client: streams), interleaved over several rounds, and writes the medians to
 * bench/results/<date>[-quick|-smoke].md and .json. See bench/README.md.
 *
 *   npm run bench                 # full run (~30 min)
 *   npm run bench -- --quick      # ~3 min smoke check with real (short) figures
 *   npm run bench -- --smoke      # ~1 min, tiny load: proves the harness works (CI)
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { wrk, wrkScript, vegeta, type HttpTarget, type LoadResult } from './lib/load.js';
import {
  ClickHouse,
  freshness,
  metricSum,
  parseListBench,
  parseWriterBench,
  percentile,
  projectCompleteness,
  type FreshnessResult,
} from './lib/pipeline.js';
import {
  commandExists,
  freePort,
  httpOk,
  measured,
  run,
  runAsync,
  sleep,
  startProc,
  stopAll,
  stopProc,
  usage,
  waitFor,
  type Proc,
} from './lib/proc.js';
import { fmt, median, ratio, table } from './lib/report.js';
import { concurrentStreams, sequentialStreams, type StreamSample } from './lib/streams.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const WORK = join(BENCH, '.work');
const PORTKEY_VERSION = '1.15.2';

// ---- options ------------------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    targets: { type: 'string' },
    streams: { type: 'string' },
    'fresh-rate': { type: 'string' },
    'fresh-seconds': { type: 'string' },
    'fresh-poll-ms': { type: 'string' },
    'fresh-warmup': { type: 'string' },
    'writer-events': { type: 'string' },
    'read-rows': { type: 'string' },
    'read-db': { type: 'string' },
    'skip-pipeline': { type: 'boolean', default: false },
    'skip-read': { type: 'boolean', default: false },
    'skip-rebuild': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    topology: { type: 'string', default: 'split' },
    'wait-load': { type: 'string' },
    'wait-minutes': { type: 'string', default: '40' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

// split (default): ingest-api, writer and query-api as three processes, the card's layout; one: `maniac-gateway start`.
const topology = args.topology === 'one' ? 'one' : 'split';
const mode = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full';
const preset = {
  full: {
    rounds: 3,
    duration: 8,
    warmup: 5,
    pause: 1.5,
    rates: [2000, 5000],
    ttfcSamples: 300,
    streams: 1000,
    streamShape: '80x50ms',
    rampMs: 1000,
    freshRate: 1000,
    freshSeconds: 30,
    freshWarmup: 10,
    writerEvents: 1_000_000,
    readRows: 10_000_000,
  },
  quick: {
    rounds: 1,
    duration: 2,
    warmup: 2,
    pause: 0.5,
    rates: [2000, 5000],
    ttfcSamples: 100,
    streams: 300,
    streamShape: '40x50ms',
    rampMs: 500,
    freshRate: 500,
    freshSeconds: 8,
    freshWarmup: 3,
    writerEvents: 50_000,
    readRows: 200_000,
  },
  smoke: {
    rounds: 1,
    duration: 1,
    warmup: 1,
    pause: 0.2,
    rates: [200, 500],
    ttfcSamples: 20,
    streams: 50,
    streamShape: '10x20ms',
    rampMs: 200,
    freshRate: 100,
    freshSeconds: 3,
    freshWarmup: 1,
    writerEvents: 5_000,
    readRows: 20_000,
  },
}[mode];
const cfg = {
  ...preset,
  rounds: Number(args.rounds ?? preset.rounds),
  duration: Number(args.duration ?? preset.duration),
  streams: Number(args.streams ?? preset.streams),
  freshRate: Number(args['fresh-rate'] ?? preset.freshRate),
  freshSeconds: Number(args['fresh-seconds'] ?? preset.freshSeconds),
  freshWarmup: Number(args['fresh-warmup'] ?? preset.freshWarmup),
  writerEvents: Number(args['writer-events'] ?? preset.writerEvents),
  readRows: Number(args['read-rows'] ?? preset.readRows),
};
const ALL_TARGETS = ['direct', 'nginx', 'node-floor', 'portkey', 'ours'] as const;
type TargetName = (typeof ALL_TARGETS)[number];
const selected = (args.targets ? args.targets.split(',') : [...ALL_TARGETS]) as TargetName[];
for (const t of selected) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
if (!selected.includes('direct')) selected.unshift('direct');

const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const logDir = join(WORK, 'logs', runId);
const tmpDir = join(WORK, 'tmp', runId);
mkdirSync(logDir, { recursive: true });
mkdirSync(tmpDir, { recursive: true });

function say(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${t}] ${msg}\n`);
}

function load1(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

// ---- tools --------------------------------------------------------------------------------------------

function ensureApt(bin: string, pkg: string): void {
  if (commandExists(bin)) return;
  say(`installing ${pkg} (apt-get)`);
  run('apt-get', ['install', '-y', '-qq', pkg], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function ensureVegeta(): string {
  const local = join(WORK, 'bin', 'vegeta');
  if (existsSync(local)) return local;
  if (commandExists('vegeta')) return 'vegeta';
  if (!commandExists('go'))
    throw new Error('vegeta (fixed-rate load) needs Go to build: install go or vegeta');
  say('building vegeta (go install github.com/tsenart/vegeta/v12, once)');
  run('go', ['install', 'github.com/tsenart/vegeta/v12@v12.13.0'], {
    env: { ...process.env, GOBIN: join(WORK, 'bin') },
  });
  return local;
}

/**
 * Portkey from npm into bench/.work/portkey (never committed). 1.15.2 fails every stream on Node with
 * `TypeError: immutable` (Portkey-AI/gateway#1550); the harness applies the one-line clone of PR #1551 to the
 * installed build so the peer can be measured streaming at all.
 */
function ensurePortkey(): string {
  const dir = join(WORK, 'portkey');
  const entry = join(dir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
  if (!existsSync(entry)) {
    say(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${dir}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'bench-portkey', private: true, dependencies: {} }, null, 2),
    );
    run('npm', ['install', '--no-audit', '--no-fund', `@portkey-ai/gateway@${PORTKEY_VERSION}`], {
      cwd: dir,
    });
  }
  const src = readFileSync(entry, 'utf8');
  const broken = 'r?(i=t,c=s)';
  if (src.includes(broken)) {
    writeFileSync(
      entry,
      src.replace(
        broken,
        'r?(i=this.context.isStreaming?new Response(t.body,{status:t.status,statusText:t.statusText,headers:new Headers(t.headers)}):t,c=s)',
      ),
    );
    say('patched Portkey build: stream response headers cloned before mutation (gateway#1551)');
  }
  return entry;
}

function versionOf(cmd: string, argv: string[], re: RegExp): string {
  const r = run(cmd, argv, { allowFail: true });
  return re.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? 'unknown';
}

// ---- infra --------------------------------------------------------------------------------------------

function infra(): { brokers: string; clickhouseUrl: string } {
  if (process.env.KAFKA_BROKERS && process.env.CLICKHOUSE_URL) {
    return { brokers: process.env.KAFKA_BROKERS, clickhouseUrl: process.env.CLICKHOUSE_URL };
  }
  say('infra/local/up.sh (reuses running Kafka and ClickHouse)');
  const out = run('bash', [join(ROOT, 'infra/local/up.sh')]).stdout;
  const get = (k: string) => new RegExp(`^${k}=(.+)$`, 'm').exec(out)?.[1];
  return { brokers: get('KAFKA_BROKERS') ?? '127.0.0.1:9092', clickhouseUrl: get('CLICKHOUSE_URL') ?? '' };
}

// ---- bodies -------------------------------------------------------------------------------------------

const WORDS =
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by'
    .split(' ')
    .concat(
      'word but not what all were we when your can said there use an each which she do how their if'.split(
        ' ',
      ),
    );

function prose(bytes: number): string {
  let seed = 42;
  const out: string[] = [];
  let len = 0;
  while (len < bytes) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const w = WORDS[seed % WORDS.length]!;
    out.push(w);
    len += w.length + 1;
  }
  return out.join(' ').slice(0, bytes);
}

function chatBody(
  content: string,
  extra: Record<string, unknown> = {},
  model = 'openai/gpt-4o-mini',
): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra });
}

const bodies = {
  small: chatBody('Say hello.'),
  kb1: '',
  kb100: '',
  // The mock sends the role chunk with the headers, then 3 content chunks 5 ms apart: the first chunk is measured
  // alone (with every chunk written at once, a proxy that handles a burst before flushing would look slower).
  stream: chatBody('Say hello.', { stream: true }, 'openai/ttfc-3x5ms'),
  longStream: '',
};
bodies.kb1 = chatBody(prose(1024 - chatBody('').length));
bodies.kb100 = chatBody(prose(100 * 1024 - chatBody('').length));
const bodyFiles: Record<'small' | 'kb1' | 'kb100', string> = {
  small: join(tmpDir, 'small.json'),
  kb1: join(tmpDir, 'kb1.json'),
  kb100: join(tmpDir, 'kb100.json'),
};
for (const k of ['small', 'kb1', 'kb100'] as const) writeFileSync(bodyFiles[k], bodies[k]);

// ---- results ------------------------------------------------------------------------------------------

interface RunRecord extends LoadResult {
  scenario: string;
  target: TargetName;
  round: number;
  cpuCores: number;
  peakRssMb: number;
  sentRate?: number;
}
interface StreamRecord {
  scenario: 'ttfc' | 'concurrent';
  target: TargetName;
  round: number;
  samples: number;
  ok: number;
  errors: number;
  errorDetail: string;
  ttfcP50Ms: number;
  ttfcP99Ms: number;
  totalP50Ms: number;
  totalP99Ms: number;
  peakRssMb: number;
  cpuCores: number;
}
const runs: RunRecord[] = [];
const streamRuns: StreamRecord[] = [];
const rss: Partial<Record<TargetName, { idleMb: number; peakMb: number; afterMb: number }>> = {};
const sideUsage: Partial<
  Record<
    'ours-writer' | 'ours-query',
    { idleMb: number; peakMb: number; afterMb: number; cpuSeconds: number }
  >
> = {};
const loadAverages: { phase: string; load1: number }[] = [];
const notes: string[] = [];

// ---- main ---------------------------------------------------------------------------------------------

const procs: Partial<Record<TargetName | 'mock' | 'ours-writer' | 'ours-query', Proc>> = {};
let cleanup: (() => Promise<void>) | null = null;

async function main(): Promise<void> {
  if (args['wait-load']) {
    // The machine is shared: wait (polling every 15 s) until the 1-minute load average is below the threshold.
    const max = Number(args['wait-load']);
    const deadline = Date.now() + Number(args['wait-minutes']) * 60_000;
    while (load1() >= max && Date.now() < deadline) {
      say(`load average ${load1()} ≥ ${max}: waiting for a quieter machine`);
      await sleep(15_000);
    }
    if (load1() >= max)
      notes.push(`no quiet window: load average still ${load1()} after ${args['wait-minutes']} min`);
  }
  const startedAt = new Date();
  loadAverages.push({ phase: 'start', load1: load1() });
  say(`mode ${mode}: ${cfg.rounds} round(s) of ${cfg.duration}s per run; targets ${selected.join(', ')}`);

  ensureApt('wrk', 'wrk');
  if (selected.includes('nginx')) ensureApt('nginx', 'nginx');
  // The smoke mode (CI) proves the harness and the pipeline under load; optional tools it cannot get (no Go for
  // vegeta, no registry for Portkey) are skipped with a note instead of failing the run.
  const optional = <T>(what: string, get: () => T, fallback: T): T => {
    if (mode !== 'smoke') return get();
    try {
      return get();
    } catch (err) {
      notes.push(`${what} skipped: ${err instanceof Error ? err.message : String(err)}`);
      say(`${what} skipped (smoke mode): ${err instanceof Error ? err.message : String(err)}`);
      return fallback;
    }
  };
  const vegetaBin = optional('fixed-rate scenarios (vegeta)', ensureVegeta, '');
  if (!vegetaBin) cfg.rates = [];
  let portkeyEntry = '';
  if (selected.includes('portkey')) {
    portkeyEntry = optional('the Portkey target', ensurePortkey, '');
    if (!portkeyEntry) selected.splice(selected.indexOf('portkey'), 1);
  }
  const { brokers, clickhouseUrl } = infra();
  if (!args['no-build']) {
    say('building (npx turbo run build)');
    run('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], { cwd: ROOT });
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGb: Math.round(totalmem() / 2 ** 30),
    kernel: run('uname', ['-r']).stdout.trim(),
    node: process.version,
    nginx: versionOf('nginx', ['-v'], /nginx\/([\d.]+)/),
    wrk: versionOf('wrk', ['-v'], /wrk (\S+)/),
    vegeta: 'v12.13.0',
    portkey: PORTKEY_VERSION,
    kafka: brokers,
    clickhouse: (await new ClickHouse(clickhouseUrl, 'system').query('SELECT version()')).trim(),
  };

  // -- processes --
  const node = process.execPath;
  const tsx = ['--import', 'tsx'];
  const mockProc = startProc('mock', node, [...tsx, join(BENCH, 'mock-upstream.ts')], {
    cwd: ROOT,
    logDir,
    readyLine: /listening (\d+)/,
  });
  procs.mock = mockProc;
  const mockPort = Number((await mockProc.ready)![1]);
  const mockUrl = `http://127.0.0.1:${mockPort}`;
  const targets: Partial<Record<TargetName, HttpTarget>> = {
    direct: { name: 'direct', url: `${mockUrl}/v1/chat/completions`, headers: {}, pid: mockProc.pid },
  };

  if (selected.includes('node-floor')) {
    const p = startProc('node-floor', node, [...tsx, join(BENCH, 'node-floor.ts'), '--upstream', mockUrl], {
      cwd: ROOT,
      logDir,
      readyLine: /listening (\d+)/,
    });
    procs['node-floor'] = p;
    const port = Number((await p.ready)![1]);
    targets['node-floor'] = {
      name: 'node-floor',
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: {},
      pid: p.pid,
    };
  }

  if (selected.includes('nginx')) {
    const port = await freePort();
    const dir = join(tmpDir, 'nginx');
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `worker_processes auto;
worker_rlimit_nofile 16384;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  client_max_body_size 20m;
  client_body_buffer_size 256k;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:${mockPort}; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
    );
    const p = startProc('nginx', 'nginx', ['-c', conf, '-p', dir], { logDir });
    procs.nginx = p;
    await waitFor('nginx', () => httpOk(`http://127.0.0.1:${port}/healthz`));
    targets.nginx = {
      name: 'nginx',
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: {},
      pid: p.pid,
    };
  }

  if (selected.includes('portkey')) {
    const port = await freePort();
    const p = startProc('portkey', node, [portkeyEntry, `--port=${port}`, '--headless'], {
      cwd: dirname(portkeyEntry),
      env: { ...process.env, NODE_ENV: 'production' },
      logDir,
    });
    procs.portkey = p;
    await waitFor('portkey', () => httpOk(`http://127.0.0.1:${port}/`));
    targets.portkey = {
      name: 'portkey',
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: {
        authorization: 'Bearer sk-bench',
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `${mockUrl}/v1`,
      },
      pid: p.pid,
    };
  }

  // The gateway: ingest-api + writer + query-api in one process, auth on, limits that never trigger, events on.
  const database = `bench_${runId}`;
  const topicPrefix = `bench-${runId}.`;
  const gwEnv: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: brokers,
    CLICKHOUSE_URL: clickhouseUrl,
    CLICKHOUSE_DATABASE: database,
    MANIAC_TOPIC_PREFIX: topicPrefix,
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: `${mockUrl}/v1`,
    LOG_LEVEL: args['log-level'],
    MANIAC_NO_BOOTSTRAP: '1',
    MANIAC_SPOOL_DIR: join(tmpDir, 'spool'),
    NODE_ENV: 'production',
  };
  const cli = (...argv: string[]) =>
    run(node, [join(ROOT, 'packages/cli/dist/main.js'), ...argv], { env: { ...gwEnv, LOG_LEVEL: 'error' } })
      .stdout;
  const ch = new ClickHouse(clickhouseUrl, database);
  let gwUrl = '';
  let queryUrl = '';
  let gwKey = '';
  let projectId = '';
  cleanup = async () => {
    if (args.keep) return;
    rmSync(tmpDir, { recursive: true, force: true }); // bodies, configs, the gateway's spool
    await ch.query(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await ch.query(`DROP DATABASE IF EXISTS ${database}_old`).catch(() => undefined);
    await ch.query(`DROP DATABASE IF EXISTS ${database}_rebuild`).catch(() => undefined);
    const kafka = new Kafka({
      brokers: brokers.split(','),
      clientId: 'bench-cleanup',
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(topicPrefix));
      if (topics.length) await admin.deleteTopics({ topics });
    } catch {
      // best effort
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  if (selected.includes('ours')) {
    const port = await freePort();
    gwUrl = `http://127.0.0.1:${port}`;
    if (topology === 'one') {
      procs.ours = startProc('ours', node, [join(ROOT, 'packages/cli/dist/main.js'), 'start'], {
        cwd: ROOT,
        env: { ...gwEnv, PORT: String(port) },
        logDir,
      });
      queryUrl = gwUrl;
    } else {
      // The layout of "Running at scale": writer, query-api and ingest-api as separate processes.
      const writerPort = await freePort();
      const queryPort = await freePort();
      procs['ours-writer'] = startProc('ours-writer', node, [join(ROOT, 'services/writer/dist/main.js')], {
        cwd: ROOT,
        env: { ...gwEnv, WRITER_PORT: String(writerPort) },
        logDir,
      });
      await waitFor('writer /readyz', () => httpOk(`http://127.0.0.1:${writerPort}/readyz`), 120_000, 500);
      procs['ours-query'] = startProc('ours-query', node, [join(ROOT, 'services/query-api/dist/main.js')], {
        cwd: ROOT,
        env: { ...gwEnv, QUERY_API_PORT: String(queryPort) },
        logDir,
      });
      procs.ours = startProc('ours', node, [join(ROOT, 'services/ingest-api/dist/server.js')], {
        cwd: ROOT,
        env: { ...gwEnv, PORT: String(port) },
        logDir,
      });
      queryUrl = `http://127.0.0.1:${queryPort}`;
      await waitFor('query-api /readyz', () => httpOk(`${queryUrl}/readyz`), 120_000, 500);
    }
    const p = procs.ours;
    await waitFor('gateway /readyz', () => httpOk(`${gwUrl}/readyz`), 120_000, 500);
    const project = JSON.parse(cli('projects', 'create', `bench-${runId}`)) as { id: string };
    projectId = project.id;
    cli(
      'projects',
      'set-limits',
      project.id,
      '--rpm',
      '1000000000',
      '--tpm',
      '1000000000000',
      '--max-concurrent',
      '100000',
    );
    cli('projects', 'set-budget', project.id, '--monthly', '1000000');
    gwKey = cli(
      'keys',
      'create',
      '--project',
      project.id,
      '--name',
      'bench',
      '--rpm',
      '1000000000',
      '--tpm',
      '1000000000000',
      '--max-concurrent',
      '100000',
    ).trim();
    targets.ours = {
      name: 'ours',
      url: `${gwUrl}/v1/chat/completions`,
      headers: { authorization: `Bearer ${gwKey}` },
      pid: p.pid,
    };
    await waitFor('the new key to be accepted', () =>
      httpOk(targets.ours!.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...targets.ours!.headers },
        body: bodies.small,
      }),
    );
  }

  const active = selected.filter((t) => targets[t]).map((t) => targets[t]!);
  // Every target answers the same request with a 200.
  for (const t of active) {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...t.headers },
      body: bodies.small,
    });
    const json = (await res.json()) as { choices?: unknown[] };
    if (res.status !== 200 || !Array.isArray(json.choices)) {
      throw new Error(`${t.name} did not answer 200 with choices: ${res.status} ${JSON.stringify(json)}`);
    }
  }
  await sleep(1000);
  for (const t of active) {
    rss[t.name as TargetName] = { idleMb: usage(t.pid!).rssMb, peakMb: 0, afterMb: 0 };
  }
  const sides = (['ours-writer', 'ours-query'] as const).filter((n) => procs[n]);
  const sideStart = new Map(sides.map((n) => [n, usage(procs[n]!.pid)]));
  const sideTimer = setInterval(() => {
    for (const n of sides) {
      const r = sideUsage[n] ?? { idleMb: sideStart.get(n)!.rssMb, peakMb: 0, afterMb: 0, cpuSeconds: 0 };
      r.peakMb = Math.max(r.peakMb, usage(procs[n]!.pid).rssMb);
      sideUsage[n] = r;
    }
  }, 1000);

  // -- warm-up --
  const scripts = new Map<string, string>();
  const script = (t: HttpTarget, body: 'small' | 'kb1' | 'kb100') => {
    const key = `${t.name}:${body}`;
    if (!scripts.has(key)) scripts.set(key, wrkScript(tmpDir, t, bodyFiles[body], body));
    return scripts.get(key)!;
  };
  say(`warm-up (${cfg.warmup}s each)`);
  for (const t of active) {
    await wrk(t, script(t, 'small'), { connections: 32, seconds: cfg.warmup });
    await wrk(t, script(t, 'small'), { connections: 1, seconds: 1 });
    await sequentialStreams(t, bodies.stream, 20);
  }
  loadAverages.push({ phase: 'after warm-up', load1: load1() });

  // -- pipeline freshness, on a pipeline that has only seen the warm-up --
  let fresh: FreshnessResult | null = null;
  let whole: Awaited<ReturnType<typeof projectCompleteness>> | null = null;
  let writerBench: ReturnType<typeof parseWriterBench> = null;
  let readBench: ReturnType<typeof parseListBench> = [];
  let rebuild: { events: number; durationMs: number; eventsPerSecond: number } | null = null;
  let topicEvents: number | null = null;
  let publisherState = '';
  const served = async () =>
    metricSum(await (await fetch(`${gwUrl}/metrics`)).text(), 'maniac_completions_total');
  const metricsAt = async () => {
    const text = await (await fetch(`${gwUrl}/metrics`)).text();
    return {
      completions: metricSum(text, 'maniac_completions_total'),
      produced: metricSum(text, 'maniac_events_produced_total'),
      spooled: metricSum(text, 'maniac_events_spooled_total'),
      dropped: metricSum(text, 'maniac_events_dropped_total'),
    };
  };
  const topicMessages = async () => {
    const kafka = new Kafka({
      brokers: brokers.split(','),
      clientId: 'bench-offsets',
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(`${topicPrefix}completions`);
      return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
    } catch {
      return null;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  let gwMetrics: Awaited<ReturnType<typeof metricsAt>> | null = null;
  if (selected.includes('ours') && !args['skip-pipeline']) {
    say('waiting for the writer to store the warm-up completions');
    const warm = await projectCompleteness(ch, projectId, served, 30_000);
    say(`stored ${warm.rows} rows for ${warm.served} completions served (waited ${warm.waitedMs} ms)`);
    say(
      `freshness: ${cfg.freshRate} req/s for ${cfg.freshWarmup}s of warm-up, then ${cfg.freshSeconds}s measured`,
    );
    loadAverages.push({ phase: 'before freshness', load1: load1() });
    fresh = await freshness({
      url: gwUrl,
      queryUrl,
      key: gwKey,
      body: bodies.small,
      clickhouse: ch,
      projectId,
      rate: cfg.freshRate,
      warmupSeconds: cfg.freshWarmup,
      seconds: cfg.freshSeconds,
      pollMs: Number(args['fresh-poll-ms'] ?? 25),
      settleMs: 30_000,
    });
    const sorted = [...fresh.freshness].sort((a, b) => a - b);
    say(
      `freshness p50 ${fmt(percentile(sorted, 50), 0)} ms, p99 ${fmt(percentile(sorted, 99), 0)} ms; ` +
        `${fresh.ok} answered, ${fresh.rows} rows, ${fresh.uniqueIds} unique, never seen ${fresh.neverSeen}`,
    );
    say(
      'freshness by second of response, warm-up marked w (request p99 / row p50 / row p99 / client lag ms, ' +
        'connections opened): ' +
        fresh.timeline
          .map(
            (s) =>
              `${s.second}${s.warmup ? 'w' : ''}: ${fmt(s.latencyP99Ms, 0)}/${fmt(s.freshP50Ms, 0)}/${fmt(s.freshP99Ms, 0)}` +
              `/${fmt(s.clientLagMaxMs, 0)} ${s.connectsOpened}`,
          )
          .join(', '),
    );
  }

  // -- rounds: every scenario, every target, in a rotated order each round --
  const loadScenarios: {
    name: string;
    run: (t: HttpTarget) => Promise<LoadResult & { sentRate?: number }>;
  }[] = [
    { name: 'sequential', run: (t) => wrk(t, script(t, 'small'), { connections: 1, seconds: cfg.duration }) },
    { name: 'c64', run: (t) => wrk(t, script(t, 'small'), { connections: 64, seconds: cfg.duration }) },
    { name: 'c256', run: (t) => wrk(t, script(t, 'small'), { connections: 256, seconds: cfg.duration }) },
    { name: 'body-1k', run: (t) => wrk(t, script(t, 'kb1'), { connections: 64, seconds: cfg.duration }) },
    ...cfg.rates.map((rate) => ({
      name: `rate-${rate}`,
      run: (t: HttpTarget) => vegeta(vegetaBin, tmpDir, t, bodyFiles.small, { rate, seconds: cfg.duration }),
    })),
  ];
  const longStreamBody = chatBody('Say hello.', { stream: true }, `openai/stream-${cfg.streamShape}`);
  const runOne = async (
    scenario: { name: string; run: (t: HttpTarget) => Promise<LoadResult & { sentRate?: number }> },
    t: HttpTarget,
    round: number,
  ) => {
    const m = await measured(t.pid, () => scenario.run(t));
    const rec: RunRecord = {
      ...m.result,
      scenario: scenario.name,
      target: t.name as TargetName,
      round,
      cpuCores: m.cpuSeconds / m.wallSeconds,
      peakRssMb: m.peakRssMb,
    };
    runs.push(rec);
    const r = rss[rec.target]!;
    r.peakMb = Math.max(r.peakMb, m.peakRssMb);
    say(
      `round ${round} ${scenario.name.padEnd(10)} ${t.name.padEnd(10)} ${fmt(rec.rps, 0).padStart(7)} req/s  ` +
        `p50 ${fmt(rec.p50Ms, 3)} ms  p99 ${fmt(rec.p99Ms, 3)} ms  errors ${rec.errors}  cpu ${fmt(rec.cpuCores)}`,
    );
    await sleep(cfg.pause * 1000);
  };
  for (let round = 1; round <= cfg.rounds; round++) {
    const order = active.map((_, i) => active[(i + round - 1) % active.length]!);
    for (const scenario of loadScenarios) {
      for (const t of order) await runOne(scenario, t, round);
    }
    // Streams: time to first chunk (one at a time), then many concurrent long streams.
    for (const t of order) {
      const seq = await measured(t.pid, () => sequentialStreams(t, bodies.stream, cfg.ttfcSamples));
      streamRuns.push(
        streamRecord('ttfc', t, round, seq.result, seq.peakRssMb, seq.cpuSeconds / seq.wallSeconds),
      );
      await sleep(cfg.pause * 1000);
      const conc = await measured(t.pid, () => concurrentStreams(t, longStreamBody, cfg.streams, cfg.rampMs));
      const rec = streamRecord(
        'concurrent',
        t,
        round,
        conc.result,
        conc.peakRssMb,
        conc.cpuSeconds / conc.wallSeconds,
      );
      streamRuns.push(rec);
      rss[t.name as TargetName]!.peakMb = Math.max(rss[t.name as TargetName]!.peakMb, conc.peakRssMb);
      say(
        `round ${round} streams     ${t.name.padEnd(10)} ttfc p50 ${fmt(streamRuns.at(-2)!.ttfcP50Ms, 3)} ms; ` +
          `${cfg.streams} concurrent: ${rec.ok} ok, ${rec.errors} errors, ttfc p99 ${fmt(rec.ttfcP99Ms, 1)} ms`,
      );
      await sleep(cfg.pause * 1000);
    }
    loadAverages.push({ phase: `after round ${round}`, load1: load1() });
  }
  // 100 KB bodies last: a burst of large events can wedge our event publisher (see the pipeline section), which
  // would then distort every later scenario of ours.
  const large = {
    name: 'body-100k',
    run: (t: HttpTarget) => wrk(t, script(t, 'kb100'), { connections: 64, seconds: cfg.duration }),
  };
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const t of active.map((_, i) => active[(i + round - 1) % active.length]!))
      await runOne(large, t, round);
  }
  loadAverages.push({ phase: 'after the 100 KB runs', load1: load1() });
  await sleep(2000);
  for (const t of active) rss[t.name as TargetName]!.afterMb = usage(t.pid!).rssMb;
  clearInterval(sideTimer);
  for (const n of sides) {
    const now = usage(procs[n]!.pid);
    const r = sideUsage[n] ?? {
      idleMb: sideStart.get(n)!.rssMb,
      peakMb: now.rssMb,
      afterMb: 0,
      cpuSeconds: 0,
    };
    r.afterMb = now.rssMb;
    r.cpuSeconds = now.cpuSeconds - sideStart.get(n)!.cpuSeconds;
    sideUsage[n] = r;
  }

  // -- pipeline: the whole run stored exactly once? --
  if (selected.includes('ours') && !args['skip-pipeline']) {
    say('waiting for the writer to store every completion of the run');
    whole = await projectCompleteness(ch, projectId, served, 30_000);
    gwMetrics = await metricsAt();
    topicEvents = await topicMessages();
    say(
      `whole run: ${whole.served} completions served, ${whole.rows} rows, ${whole.uniqueIds} distinct ids, ` +
        `${topicEvents} events on the topic, ${gwMetrics.spooled} spooled, ${gwMetrics.dropped} dropped`,
    );
    const ready = await fetch(`${gwUrl}/readyz`);
    publisherState = JSON.stringify(
      ((await ready.json()) as { checks?: Record<string, unknown> }).checks?.event_publisher ?? null,
    );
  }

  // Stop the proxies: the remaining benchmarks measure Kafka, the writer and ClickHouse.
  for (const name of [
    'portkey',
    'nginx',
    'node-floor',
    'ours',
    'ours-query',
    'ours-writer',
    'mock',
  ] as const) {
    const p = procs[name];
    if (p) await stopProc(p, name === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
  }

  if (selected.includes('ours') && !args['skip-pipeline'] && !args['skip-rebuild']) {
    say('rebuild: replaying the run topic into fresh tables (writer --rebuild)');
    const r = await runAsync(node, [join(ROOT, 'services/writer/dist/main.js'), '--rebuild', '--drop-old'], {
      cwd: ROOT,
      env: { ...gwEnv, LOG_LEVEL: 'info' },
    });
    const line = r.stdout.split('\n').find((l) => l.includes('"rebuild finished"'));
    if (line) {
      const j = JSON.parse(line) as { events: number; durationMs: number; eventsPerSecond: number };
      rebuild = { events: j.events, durationMs: j.durationMs, eventsPerSecond: j.eventsPerSecond };
      say(`rebuild: ${j.events} events in ${j.durationMs} ms (${j.eventsPerSecond} events/s)`);
    } else {
      notes.push(`rebuild did not report a result (exit ${r.status}): ${r.stderr.slice(-300)}`);
    }
  }

  const tsxDev = ['--conditions=development', '--import', 'tsx'];
  const benchEnv = { ...process.env, KAFKA_BROKERS: brokers, CLICKHOUSE_URL: clickhouseUrl };
  if (!args['skip-pipeline']) {
    say(`writer catch-up: ${cfg.writerEvents} events (services/writer/bench/throughput.ts)`);
    loadAverages.push({ phase: 'before writer bench', load1: load1() });
    const r = await runAsync(
      node,
      [...tsxDev, 'services/writer/bench/throughput.ts', '--events', String(cfg.writerEvents)],
      { cwd: ROOT, env: benchEnv, onLine: (l) => say(`  writer bench: ${l}`) },
    );
    writerBench = parseWriterBench(r.stdout);
    if (!writerBench) notes.push(`writer bench failed (exit ${r.status}): ${r.stderr.slice(-300)}`);
  }
  if (!args['skip-read']) {
    say(`read side: ${cfg.readRows} rows (services/query-api/bench/list-latency.ts)`);
    loadAverages.push({ phase: 'before read bench', load1: load1() });
    const dbArgs = args['read-db'] ? ['--database', args['read-db'], '--keep'] : [];
    const r = await runAsync(
      node,
      [...tsxDev, 'services/query-api/bench/list-latency.ts', '--rows', String(cfg.readRows), ...dbArgs],
      { cwd: ROOT, env: benchEnv, onLine: (l) => say(`  read bench: ${l}`) },
    );
    readBench = parseListBench(r.stdout);
    if (readBench.length === 0) notes.push(`read bench failed (exit ${r.status}): ${r.stderr.slice(-300)}`);
  }
  loadAverages.push({ phase: 'end', load1: load1() });

  // ---- report ---------------------------------------------------------------------------------------
  const result = summarize({
    startedAt,
    machine,
    active: active.map((t) => t.name as TargetName),
    fresh,
    whole,
    gwMetrics,
    topicEvents,
    publisherState,
    writerBench,
    readBench,
    rebuild,
  });
  const outDir = args.out ? resolve(args.out) : join(BENCH, 'results');
  mkdirSync(outDir, { recursive: true });
  const named = (stamp: string) =>
    join(
      outDir,
      [stamp, mode === 'full' ? '' : mode, topology === 'one' ? 'one' : ''].filter(Boolean).join('-'),
    );
  // A second run the same day keeps the first: its files get the start time too (2026-12-03-1047).
  const day = startedAt.toISOString().slice(0, 10);
  const base = existsSync(`${named(day)}.json`)
    ? named(`${day}-${startedAt.toISOString().slice(11, 16).replace(':', '')}`)
    : named(day);
  writeFileSync(`${base}.json`, `${JSON.stringify(result.json, null, 2)}\n`);
  writeFileSync(`${base}.md`, result.markdown);
  const written = [`${base}.json`, `${base}.md`];
  if (mode === 'full' && !args.out) {
    // The latest full run, at a stable address (the dated files keep the history).
    const latest = join(BENCH, 'RESULTS.md');
    writeFileSync(
      latest,
      `<!-- The latest full run of \`npm run bench\`${topology === 'one' ? ' -- --topology one' : ''}; also in results/${basename(base)}.md and .json. -->\n\n${result.markdown}`,
    );
    written.push(latest);
  }
  run('npx', ['prettier', '--write', ...written], { cwd: ROOT, allowFail: true });
  say(`results: ${base}.md and ${base}.json`);
  process.stdout.write(`${readFileSync(`${base}.md`, 'utf8')}\n`);
}

function streamRecord(
  scenario: 'ttfc' | 'concurrent',
  t: HttpTarget,
  round: number,
  samples: StreamSample[],
  peakRssMb: number,
  cpuCores: number,
): StreamRecord {
  const ok = samples.filter((s) => s.ok);
  const ttfc = ok.map((s) => s.ttfcMs).sort((a, b) => a - b);
  const total = ok.map((s) => s.totalMs).sort((a, b) => a - b);
  const errs = new Map<string, number>();
  for (const s of samples) if (!s.ok) errs.set(s.error ?? '?', (errs.get(s.error ?? '?') ?? 0) + 1);
  return {
    scenario,
    target: t.name as TargetName,
    round,
    samples: samples.length,
    ok: ok.length,
    errors: samples.length - ok.length,
    errorDetail: [...errs].map(([e, n]) => `${e}: ${n}`).join(', '),
    ttfcP50Ms: percentile(ttfc, 50),
    ttfcP99Ms: percentile(ttfc, 99),
    totalP50Ms: percentile(total, 50),
    totalP99Ms: percentile(total, 99),
    peakRssMb,
    cpuCores,
  };
}

// ---- summary ------------------------------------------------------------------------------------------

const LABEL: Record<TargetName, string> = {
  direct: 'direct (mock)',
  nginx: 'nginx',
  'node-floor': 'Node floor',
  portkey: 'Portkey',
  ours: '**ours**',
};

function summarize(o: {
  startedAt: Date;
  machine: Record<string, string | number>;
  active: TargetName[];
  fresh: FreshnessResult | null;
  whole: Awaited<ReturnType<typeof projectCompleteness>> | null;
  gwMetrics: { completions: number; produced: number; spooled: number; dropped: number } | null;
  topicEvents: number | null;
  publisherState: string;
  writerBench: ReturnType<typeof parseWriterBench>;
  readBench: ReturnType<typeof parseListBench>;
  rebuild: { events: number; durationMs: number; eventsPerSecond: number } | null;
}): { json: unknown; markdown: string } {
  const med = (scenario: string, target: TargetName, key: keyof RunRecord) =>
    median(runs.filter((r) => r.scenario === scenario && r.target === target).map((r) => Number(r[key])));
  const errorsOf = (scenario: string, target: TargetName) => {
    const rs = runs.filter((r) => r.scenario === scenario && r.target === target);
    const errors = rs.reduce((a, r) => a + r.errors, 0);
    const total = rs.reduce((a, r) => a + r.requests, 0);
    const kinds = new Map<string, number>();
    for (const r of rs)
      for (const [k, n] of Object.entries(r.errorKinds)) kinds.set(k, (kinds.get(k) ?? 0) + n);
    const detail = [...kinds].map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ');
    return { errors, total, detail };
  };
  const smed = (scenario: 'ttfc' | 'concurrent', target: TargetName, key: keyof StreamRecord) =>
    median(
      streamRuns.filter((r) => r.scenario === scenario && r.target === target).map((r) => Number(r[key])),
    );

  const perTarget = <T>(fn: (t: TargetName) => T) =>
    Object.fromEntries(o.active.map((t) => [t, fn(t)])) as Record<TargetName, T>;
  const loadSummary = (scenario: string) =>
    perTarget((t) => ({
      rps: med(scenario, t, 'rps'),
      p50Ms: med(scenario, t, 'p50Ms'),
      p90Ms: med(scenario, t, 'p90Ms'),
      p99Ms: med(scenario, t, 'p99Ms'),
      cpuCores: med(scenario, t, 'cpuCores'),
      peakRssMb: med(scenario, t, 'peakRssMb'),
      sentRate: med(scenario, t, 'sentRate'),
      ...errorsOf(scenario, t),
    }));
  const scenarios = Object.fromEntries(
    ['sequential', 'c64', 'c256', 'body-1k', 'body-100k', ...cfg.rates.map((r) => `rate-${r}`)].map((s) => [
      s,
      loadSummary(s),
    ]),
  );
  const seq = scenarios.sequential!;
  const added = perTarget((t) => ({
    p50Ms: seq[t].p50Ms - seq.direct.p50Ms,
    p99Ms: seq[t].p99Ms - seq.direct.p99Ms,
  }));
  const streams = perTarget((t) => ({
    ttfcP50Ms: smed('ttfc', t, 'ttfcP50Ms'),
    ttfcP99Ms: smed('ttfc', t, 'ttfcP99Ms'),
    addedTtfcP50Ms: smed('ttfc', t, 'ttfcP50Ms') - smed('ttfc', 'direct', 'ttfcP50Ms'),
    addedTtfcP99Ms: smed('ttfc', t, 'ttfcP99Ms') - smed('ttfc', 'direct', 'ttfcP99Ms'),
    ttfcErrors: streamRuns
      .filter((r) => r.scenario === 'ttfc' && r.target === t)
      .reduce((a, r) => a + r.errors, 0),
    concurrent: cfg.streams,
    concurrentOk: smed('concurrent', t, 'ok'),
    concurrentErrors: streamRuns
      .filter((r) => r.scenario === 'concurrent' && r.target === t)
      .reduce((a, r) => a + r.errors, 0),
    concurrentErrorDetail: [
      ...new Set(
        streamRuns.filter((r) => r.scenario === 'concurrent' && r.target === t).map((r) => r.errorDetail),
      ),
    ]
      .filter(Boolean)
      .join('; '),
    concurrentTtfcP50Ms: smed('concurrent', t, 'ttfcP50Ms'),
    concurrentTtfcP99Ms: smed('concurrent', t, 'ttfcP99Ms'),
    concurrentTotalP50Ms: smed('concurrent', t, 'totalP50Ms'),
    concurrentTotalP99Ms: smed('concurrent', t, 'totalP99Ms'),
    concurrentPeakRssMb: smed('concurrent', t, 'peakRssMb'),
  }));
  const has = (t: TargetName) => o.active.includes(t);
  const ours = 'ours' as const;
  const ratios = has(ours)
    ? {
        c64ThroughputOursOverNginx: has('nginx')
          ? ratio(scenarios.c64![ours].rps, scenarios.c64!.nginx.rps)
          : NaN,
        c64ThroughputOursOverNodeFloor: has('node-floor')
          ? ratio(scenarios.c64![ours].rps, scenarios.c64!['node-floor'].rps)
          : NaN,
        c64ThroughputOursOverPortkey: has('portkey')
          ? ratio(scenarios.c64![ours].rps, scenarios.c64!.portkey.rps)
          : NaN,
        c256ThroughputOursOverNodeFloor: has('node-floor')
          ? ratio(scenarios.c256![ours].rps, scenarios.c256!['node-floor'].rps)
          : NaN,
        c256ThroughputOursOverPortkey: has('portkey')
          ? ratio(scenarios.c256![ours].rps, scenarios.c256!.portkey.rps)
          : NaN,
        addedP50OursOverNginx: has('nginx') ? ratio(added[ours].p50Ms, added.nginx.p50Ms) : NaN,
        addedP50OursOverNodeFloor: has('node-floor')
          ? ratio(added[ours].p50Ms, added['node-floor'].p50Ms)
          : NaN,
        addedP50OursOverPortkey: has('portkey') ? ratio(added[ours].p50Ms, added.portkey.p50Ms) : NaN,
      }
    : {};
  const freshSorted = o.fresh ? [...o.fresh.freshness].sort((a, b) => a - b) : [];
  const pipeline = o.fresh
    ? {
        freshness: {
          rate: o.fresh.rate,
          warmupSeconds: o.fresh.warmupSeconds,
          seconds: o.fresh.seconds,
          sent: o.fresh.sent,
          answered: o.fresh.ok,
          errors: o.fresh.errors,
          requestP50Ms: o.fresh.latencyP50Ms,
          requestP99Ms: o.fresh.latencyP99Ms,
          freshnessP50Ms: percentile(freshSorted, 50),
          freshnessP99Ms: percentile(freshSorted, 99),
          freshnessMaxMs: freshSorted.at(-1) ?? NaN,
          pollMs: o.fresh.pollMs,
          neverSeen: o.fresh.neverSeen,
          rows: o.fresh.rows,
          uniqueIds: o.fresh.uniqueIds,
          queryApiChecked: o.fresh.queryApiChecked,
          queryApiFound: o.fresh.queryApiFound,
          timeline: o.fresh.timeline,
        },
        wholeRun: o.whole
          ? {
              ...o.whole,
              produced: o.gwMetrics?.produced,
              spooled: o.gwMetrics?.spooled,
              dropped: o.gwMetrics?.dropped,
              topicEvents: o.topicEvents,
              publisherState: o.publisherState,
            }
          : null,
      }
    : null;
  const json = {
    date: o.startedAt.toISOString(),
    mode,
    config: cfg,
    machine: o.machine,
    loadAverages,
    targets: o.active,
    scenarios,
    addedLatency: added,
    streams,
    rss,
    sideUsage,
    topology,
    ratios,
    pipeline,
    writer: o.writerBench,
    read: o.readBench.length ? { rows: cfg.readRows, results: o.readBench } : null,
    rebuild: o.rebuild,
    notes,
    runs,
    streamRuns,
  };

  // -- markdown --
  const md: string[] = [];
  const ts = o.active;
  md.push(
    `# Benchmark results — ${o.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${mode} mode)`,
  );
  md.push('');
  md.push(
    `Machine: ${o.machine.cores} × ${o.machine.cpu}, ${o.machine.memGb} GB RAM, Linux ${o.machine.kernel}; ` +
      `Node ${o.machine.node}, nginx ${o.machine.nginx}, wrk ${o.machine.wrk}, vegeta ${o.machine.vegeta}, ` +
      `Portkey ${o.machine.portkey}, ClickHouse ${o.machine.clickhouse}, Kafka at ${o.machine.kafka}. ` +
      `Everything — load generators, mock, proxies, Kafka, ClickHouse — on the same machine.`,
  );
  md.push('');
  md.push(
    `Load average (1 min): ${loadAverages.map((l) => `${l.phase} ${l.load1}`).join(', ')}. ` +
      `${cfg.rounds} round(s), ${cfg.duration} s per run, targets interleaved (order rotated each round); ` +
      `figures are medians over rounds. Added latency = target − direct, from the medians.`,
  );
  md.push('');
  md.push(
    'Targets: **direct** = the mock upstream itself (bench/mock-upstream.ts, one Node process, no added delay); ' +
      '**nginx** = `proxy_pass` with upstream keep-alive, `worker_processes auto`; **Node floor** = ' +
      'bench/node-floor.ts (Fastify + undici: parse, forward, parse, add two fields, reply); **Portkey** = ' +
      `@portkey-ai/gateway ${PORTKEY_VERSION} (\`--headless\`, NODE_ENV=production, provider openai via ` +
      '`x-portkey-custom-host`); **ours** = ' +
      (topology === 'one'
        ? '`maniac-gateway start` (ingest-api + writer + query-api in one process'
        : 'ingest-api, writer and query-api as three processes (figures are the ingest-api process; the others ' +
          'are in the memory table)') +
      `, built JS, LOG_LEVEL=${args['log-level']}), API-key auth, rate limits and a budget set high enough ` +
      'never to trigger, one event per completion to Kafka and on into ClickHouse.',
  );
  md.push('');

  md.push('## Sequential (one connection): added latency over direct');
  md.push('');
  md.push(
    table(
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms'],
      ts.map((t) => [
        LABEL[t],
        seq[t].rps,
        fmt(seq[t].p50Ms, 3),
        fmt(seq[t].p99Ms, 3),
        fmt(added[t].p50Ms, 3),
        fmt(added[t].p99Ms, 3),
      ]),
    ),
  );
  md.push('');
  for (const [name, title] of [
    ['c64', 'Concurrency 64 (wrk, 1 thread, small request)'],
    ['c256', 'Concurrency 256'],
    ['body-1k', 'Request body 1 KB, concurrency 64'],
    ['body-100k', 'Request body 100 KB, concurrency 64'],
  ] as const) {
    const s = scenarios[name]!;
    md.push(`## ${title}`);
    md.push('');
    md.push(
      table(
        ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'CPU (cores)', 'peak RSS MB'],
        ts.map((t) => [
          LABEL[t],
          s[t].rps,
          fmt(s[t].p50Ms, 2),
          fmt(s[t].p99Ms, 2),
          s[t].errors
            ? `${s[t].errors} / ${s[t].total} (${s[t].detail})`
            : `0 / ${s[t].total.toLocaleString('en-US')}`,
          fmt(s[t].cpuCores, 2),
          fmt(s[t].peakRssMb, 0),
        ]),
      ),
    );
    md.push('');
  }
  md.push('## Fixed rate (vegeta, open loop)');
  md.push('');
  md.push(
    table(
      ['target', 'rate', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'error rate', 'CPU (cores)'],
      cfg.rates.flatMap((rate) =>
        ts.map((t) => {
          const s = scenarios[`rate-${rate}`]![t];
          return [
            LABEL[t],
            `${rate}/s`,
            s.rps,
            fmt(s.p50Ms, 2),
            fmt(s.p90Ms, 2),
            fmt(s.p99Ms, 2),
            s.total ? `${fmt((100 * s.errors) / s.total, 2)} %${s.detail ? ` (${s.detail})` : ''}` : '—',
            fmt(s.cpuCores, 2),
          ];
        }),
      ),
    ),
  );
  md.push('');
  md.push('## Streaming');
  md.push('');
  md.push(
    `Time to first chunk (TTFC, request sent → first body bytes): ${cfg.ttfcSamples} streams one after the other; ` +
      'the mock sends the role chunk with the headers, then 3 content chunks 5 ms apart. ' +
      `Concurrent: ${cfg.streams} streams opened evenly over ${cfg.rampMs} ms, each ${cfg.streamShape.replace('x', ' chunks × ')} ` +
      'apart; an error is a non-200, a socket error or a stream without `[DONE]`.',
  );
  md.push('');
  md.push(
    table(
      [
        'target',
        'TTFC p50 ms',
        'TTFC p99 ms',
        'added TTFC p50',
        'added TTFC p99',
        `${cfg.streams} streams: ok / errors`,
        'TTFC p50 / p99 ms',
        'stream p99 ms',
        'peak RSS MB',
      ],
      ts.map((t) => {
        const s = streams[t];
        return [
          LABEL[t],
          fmt(s.ttfcP50Ms, 3),
          fmt(s.ttfcP99Ms, 3),
          fmt(s.addedTtfcP50Ms, 3),
          fmt(s.addedTtfcP99Ms, 3),
          `${fmt(s.concurrentOk, 0)} / ${s.concurrentErrors}${s.concurrentErrorDetail ? ` (${s.concurrentErrorDetail})` : ''}`,
          `${fmt(s.concurrentTtfcP50Ms, 1)} / ${fmt(s.concurrentTtfcP99Ms, 1)}`,
          fmt(s.concurrentTotalP99Ms, 0),
          fmt(s.concurrentPeakRssMb, 0),
        ];
      }),
    ),
  );
  md.push('');
  md.push('## Memory (RSS of the process tree)');
  md.push('');
  md.push(
    table(
      ['target', 'idle after start MB', 'peak under load MB', 'idle after load MB'],
      [
        ...ts.map((t) => [LABEL[t], fmt(rss[t]?.idleMb, 0), fmt(rss[t]?.peakMb, 0), fmt(rss[t]?.afterMb, 0)]),
        ...Object.entries(sideUsage).map(([n, u]) => [
          `ours: ${n.slice(5)} process (CPU over the rounds: ${fmt(u.cpuSeconds, 1)} s)`,
          fmt(u.idleMb, 0),
          fmt(u.peakMb, 0),
          fmt(u.afterMb, 0),
        ]),
      ],
    ),
  );
  md.push('');
  if (has(ours)) {
    md.push('## Ratios (same run)');
    md.push('');
    md.push(
      table(
        ['ratio', 'value'],
        Object.entries(ratios).map(([k, v]) => [k, fmt(v, 2)]),
      ),
    );
    md.push('');
  }
  md.push('## Pipeline');
  md.push('');
  if (pipeline) {
    const f = pipeline.freshness;
    const worstWarmup = (key: 'latencyP99Ms' | 'freshP99Ms') => {
      const seen = f.timeline.filter((s) => s.warmup && Number.isFinite(s[key])).map((s) => s[key]);
      return seen.length > 0 ? Math.max(...seen) : NaN;
    };
    md.push(
      `Freshness: ${f.rate} req/s for ${f.warmupSeconds} s of warm-up, then ${f.seconds} s measured (open loop, ` +
        'paced per ms) against the gateway, right after the warm-up (before the load rounds); for every ' +
        `answered id, the time from its response to the row being returned by ClickHouse's \`completions_by_id\` ` +
        `(the table query-api's get reads first), polled every ${f.pollMs} ms for all pending ids at once — an upper ` +
        `bound. Completeness: each answered id counted in \`completions\`; a sample of ${f.queryApiChecked} fetched ` +
        'through query-api `GET /v1/chat/completions/{id}`. Whole run: every completion the gateway served in all ' +
        "scenarios (its own `maniac_completions_total`) against the project's rows, at the end.",
    );
    md.push('');
    md.push(
      table(
        ['figure', 'value'],
        [
          ['requests sent / answered 200 / errors', `${f.sent} / ${f.answered} / ${f.errors}`],
          ['request latency p50 / p99 ms', `${fmt(f.requestP50Ms, 2)} / ${fmt(f.requestP99Ms, 2)}`],
          [
            'freshness p50 / p99 / max ms',
            `${fmt(f.freshnessP50Ms, 0)} / ${fmt(f.freshnessP99Ms, 0)} / ${fmt(f.freshnessMaxMs, 0)}`,
          ],
          [
            `its first ${f.warmupSeconds} s (warm-up, not above): worst second's request p99 / row p99 ms`,
            `${fmt(worstWarmup('latencyP99Ms'), 0)} / ${fmt(worstWarmup('freshP99Ms'), 0)}`,
          ],
          ['ids never visible (30 s settle)', String(f.neverSeen)],
          ['rows stored for the answered ids / distinct', `${f.rows} / ${f.uniqueIds}`],
          ['served by query-api get', `${f.queryApiFound} / ${f.queryApiChecked}`],
          ...(pipeline.wholeRun
            ? [
                [
                  'whole run: completions served (gateway metric) / rows / distinct ids',
                  `${pipeline.wholeRun.served} / ${pipeline.wholeRun.rows} / ${pipeline.wholeRun.uniqueIds}`,
                ],
                [
                  'whole run: events produced / spooled / dropped (gateway metrics)',
                  `${pipeline.wholeRun.produced ?? '—'} / ${pipeline.wholeRun.spooled ?? '—'} / ${pipeline.wholeRun.dropped ?? '—'}`,
                ],
                ['whole run: events on the Kafka topic', String(pipeline.wholeRun.topicEvents ?? '—')],
                ['event publisher check in /readyz at the end', pipeline.wholeRun.publisherState || '—'],
              ]
            : []),
        ],
      ),
    );
    md.push('');
  }
  if (o.writerBench) {
    md.push(
      `Writer catch-up (services/writer/bench/throughput.ts, topic pre-filled with ${o.writerBench.events.toLocaleString('en-US')} ` +
        `events of ~1.2 KB, 6 partitions): **${o.writerBench.eventsPerSecond.toLocaleString('en-US')} events/s** ` +
        `(${o.writerBench.ms} ms).`,
    );
    md.push('');
  }
  if (o.rebuild) {
    md.push(
      `Rebuild (\`writer --rebuild\` of this run's topic into fresh tables, then the swap): ${o.rebuild.events.toLocaleString('en-US')} ` +
        `events in ${o.rebuild.durationMs} ms = **${o.rebuild.eventsPerSecond.toLocaleString('en-US')} events/s**.`,
    );
    md.push('');
  }
  if (o.readBench.length) {
    md.push(
      `## Read side (services/query-api/bench/list-latency.ts, ${cfg.readRows.toLocaleString('en-US')} rows)`,
    );
    md.push('');
    md.push(
      table(
        ['query', 'median ms', 'p90 ms'],
        o.readBench.map((r) => [r.label, fmt(r.medianMs, 1), fmt(r.p90Ms, 1)]),
      ),
    );
    md.push('');
  }
  if (has(ours)) {
    md.push('## Issue 7 targets');
    md.push('');
    const c64 = scenarios.c64!;
    const goal = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'met' : 'missed');
    const list0 = o.readBench.find((r) => r.label.includes('offset 0 desc'));
    const rows: string[][] = [
      ['added latency p50 < 0.35 ms (sequential)', fmt(added[ours].p50Ms, 3), goal(added[ours].p50Ms < 0.35)],
      ['added latency p99 < 2 ms (sequential)', fmt(added[ours].p99Ms, 3), goal(added[ours].p99Ms < 2)],
      [
        'c64 throughput ≥ 0.7 × Node floor',
        has('node-floor') ? `${fmt(ratios.c64ThroughputOursOverNodeFloor, 2)} ×` : '—',
        has('node-floor') ? goal(ratios.c64ThroughputOursOverNodeFloor! >= 0.7) : 'n/a',
      ],
      [
        'c64 throughput ≥ 5 × Portkey',
        has('portkey') ? `${fmt(ratios.c64ThroughputOursOverPortkey, 2)} ×` : '—',
        has('portkey') ? goal(ratios.c64ThroughputOursOverPortkey! >= 5) : 'n/a',
      ],
      [
        'streaming added TTFC p50 < 1 ms',
        fmt(streams[ours].addedTtfcP50Ms, 3),
        goal(streams[ours].addedTtfcP50Ms < 1),
      ],
      [
        `${cfg.streams} concurrent streams, no errors`,
        `${streams[ours].concurrentErrors} errors`,
        goal(streams[ours].concurrentErrors === 0),
      ],
      [
        'writer ≥ 30,000 events/s',
        o.writerBench ? o.writerBench.eventsPerSecond.toLocaleString('en-US') : '—',
        o.writerBench ? goal(o.writerBench.eventsPerSecond >= 30_000) : 'n/a',
      ],
      [
        `freshness p99 < 2 s at ${cfg.freshRate} req/s`,
        pipeline ? `${fmt(pipeline.freshness.freshnessP99Ms, 0)} ms` : '—',
        pipeline ? goal(pipeline.freshness.freshnessP99Ms < 2000) : 'n/a',
      ],
      [
        'zero lost or duplicated events',
        pipeline?.wholeRun
          ? `${pipeline.wholeRun.served} served, ${pipeline.wholeRun.rows} rows, ${pipeline.wholeRun.uniqueIds} distinct`
          : '—',
        pipeline?.wholeRun
          ? goal(
              pipeline.wholeRun.rows === pipeline.wholeRun.served &&
                pipeline.wholeRun.uniqueIds === pipeline.wholeRun.rows &&
                pipeline.freshness.rows === pipeline.freshness.answered &&
                pipeline.freshness.uniqueIds === pipeline.freshness.rows,
            )
          : 'n/a',
      ],
      [
        `list p50 < 50 ms at offset 0 (${cfg.readRows.toLocaleString('en-US')} rows)`,
        list0 ? `${fmt(list0.medianMs, 1)} ms` : '—',
        list0 ? goal(list0.medianMs < 50) : 'n/a',
      ],
      [
        'ingest RSS < 150 MB at concurrency 256',
        `${fmt(scenarios.c256![ours].peakRssMb, 1)} MB`,
        goal(scenarios.c256![ours].peakRssMb < 150),
      ],
    ];
    md.push(table(['target', 'measured', ''], rows));
    md.push('');
    md.push(
      (topology === 'one'
        ? 'Ours is the whole gateway in one process (ingest-api, writer and query-api together), so its RSS and CPU ' +
          'include the writer and the read side; '
        : 'Ours is the ingest-api process (the writer and query-api run in their own processes); ') +
        'c64 throughput for reference: ' +
        `ours ${fmt(c64[ours].rps, 0)} req/s using ${fmt(c64[ours].cpuCores, 2)} cores.`,
    );
    md.push('');
  }
  if (notes.length) {
    md.push('## Notes');
    md.push('');
    for (const n of notes) md.push(`- ${n}`);
    md.push('');
  }
  md.push(
    `Raw per-run figures: the JSON file next to this one. Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.`,
  );
  md.push('');
  return { json, markdown: md.join('\n') };
}

let exiting = false;
async function shutdown(code: number): Promise<never> {
  if (!exiting) {
    exiting = true;
    await stopAll();
    if (cleanup) await cleanup().catch(() => undefined);
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));

main().then(
  () => shutdown(0),
  (err: unknown) => {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    say(`process logs: ${logDir}`);
    void shutdown(1);
  },
);
