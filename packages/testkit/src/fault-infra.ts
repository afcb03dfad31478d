import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tryPort } from './ports.js';

/**
 * Dedicated Kafka and ClickHouse for fault injection. Fault tests stop, pause and kill these — never the shared
 * instances other suites (and other developers' runs) use. They live in `.data/faults` (FAULTS_DATA_DIR) and are
 * started by `useFaultInfra()` (idempotent: ~1 s when running). They are left running for fast re-runs, like the
 * shared ones.
 *
 * Ports: 19092 (Kafka), 19093 (controller), 18123 (ClickHouse HTTP) and 19000 (ClickHouse TCP) by default. When
 * one of them is taken by something else (another checkout's fault instances, say) and ours is not running, four
 * free ports are picked instead; the choice is kept in `<data dir>/ports.json` so later runs and the fault
 * helpers find the same instances. FAULTS_KAFKA_PORT, FAULTS_KAFKA_CONTROLLER_PORT, FAULTS_CLICKHOUSE_HTTP_PORT
 * and FAULTS_CLICKHOUSE_TCP_PORT fix them explicitly.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const INFRA = join(REPO_ROOT, 'infra/local');

export interface FaultInfra {
  brokers: string;
  clickhouseUrl: string;
  /** The environment that makes infra/local/*.sh act on the dedicated instances. */
  env: Record<string, string>;
}

export interface FaultPorts {
  kafka: number;
  controller: number;
  http: number;
  tcp: number;
}

const DEFAULT_PORTS: FaultPorts = { kafka: 19092, controller: 19093, http: 18123, tcp: 19000 };
const PORT_ENV: Record<keyof FaultPorts, string> = {
  kafka: 'FAULTS_KAFKA_PORT',
  controller: 'FAULTS_KAFKA_CONTROLLER_PORT',
  http: 'FAULTS_CLICKHOUSE_HTTP_PORT',
  tcp: 'FAULTS_CLICKHOUSE_TCP_PORT',
};

function faultDataDir(): string {
  return process.env.FAULTS_DATA_DIR || join(REPO_ROOT, '.data/faults');
}

function portsFile(): string {
  return join(faultDataDir(), 'ports.json');
}

function portsFixedByEnv(): boolean {
  return Object.values(PORT_ENV).some((name) => process.env[name] !== undefined);
}

function recordedPorts(): FaultPorts | null {
  try {
    const parsed: unknown = JSON.parse(readFileSync(portsFile(), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return null;
    const record = parsed as Record<string, unknown>;
    const ports = { ...DEFAULT_PORTS };
    for (const key of Object.keys(DEFAULT_PORTS) as (keyof FaultPorts)[]) {
      const value = record[key];
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 65_535) return null;
      ports[key] = value;
    }
    return ports;
  } catch {
    return null;
  }
}

function currentPorts(): FaultPorts {
  const ports = { ...(recordedPorts() ?? DEFAULT_PORTS) };
  for (const key of Object.keys(PORT_ENV) as (keyof FaultPorts)[]) {
    const value = process.env[PORT_ENV[key]];
    if (value !== undefined) ports[key] = Number(value);
  }
  return ports;
}

export function faultInfraEnv(): Record<string, string> {
  const ports = currentPorts();
  return {
    MANIAC_DATA_DIR: faultDataDir(),
    KAFKA_PORT: String(ports.kafka),
    KAFKA_CONTROLLER_PORT: String(ports.controller),
    CLICKHOUSE_HTTP_PORT: String(ports.http),
    CLICKHOUSE_TCP_PORT: String(ports.tcp),
    KAFKA_HEAP_OPTS: process.env.FAULTS_KAFKA_HEAP_OPTS ?? '-Xmx512m -Xms128m',
  };
}

/** Whether the process in this pid file is alive and its command line matches (as infra/local/lib.sh checks). */
function pidFileAlive(pidFile: string, pattern: string): boolean {
  try {
    const pid = readFileSync(pidFile, 'utf8').trim();
    if (!/^\d+$/.test(pid)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(pattern);
  } catch {
    return false;
  }
}

function ownInstancesRunning(): boolean {
  const dir = faultDataDir();
  return (
    pidFileAlive(join(dir, 'kafka/kafka.pid'), 'kafka.Kafka') ||
    pidFileAlive(join(dir, 'clickhouse/clickhouse.pid'), 'clickhouse')
  );
}

/**
 * Keeps the recorded (or default) ports unless one is taken while our instances are down; then picks four free
 * ports and records them. Explicit FAULTS_*_PORT variables are never overridden.
 */
export async function settleFaultPorts(defaults: FaultPorts = DEFAULT_PORTS): Promise<void> {
  if (portsFixedByEnv() || ownInstancesRunning()) return;
  const ports = recordedPorts() ?? defaults;
  const free = await Promise.all(Object.values(ports).map((p) => tryPort(p)));
  if (free.every((p) => p !== null) && recordedPorts() !== null) return;
  let chosen = ports;
  if (!free.every((p) => p !== null)) {
    const picked = new Set<number>();
    // Below Linux's ephemeral range (32768+), so a client connection never takes one while a broker restarts.
    for (let tries = 0; picked.size < 4 && tries < 1_000; tries++) {
      const candidate = 20_000 + Math.floor(Math.random() * 12_000);
      if (!picked.has(candidate) && (await tryPort(candidate)) !== null) picked.add(candidate);
    }
    while (picked.size < 4) {
      const port = await tryPort(0);
      if (port !== null) picked.add(port);
    }
    const [kafka, controller, http, tcp] = [...picked] as [number, number, number, number];
    chosen = { kafka, controller, http, tcp };
    console.warn(
      `fault infra: a default port is taken by another process; using ${JSON.stringify(chosen)} (${portsFile()})`,
    );
  }
  mkdirSync(faultDataDir(), { recursive: true });
  writeFileSync(portsFile(), `${JSON.stringify(chosen)}\n`);
}

function run(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 180_000,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [join(INFRA, script), ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${script} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolvePromise(stdout);
      },
    );
  });
}

/**
 * Starts (or reuses) the dedicated instances, resumes a paused broker, and points this process at them:
 * KAFKA_BROKERS and CLICKHOUSE_URL are set, so testConfig() and EventCollector use them.
 */
export async function useFaultInfra(): Promise<FaultInfra> {
  await settleFaultPorts();
  const env = faultInfraEnv();
  const out = await run('up.sh', [], env);
  const settings = Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const brokers = settings.KAFKA_BROKERS ?? `127.0.0.1:${env.KAFKA_PORT}`;
  const clickhouseUrl = settings.CLICKHOUSE_URL ?? `http://127.0.0.1:${env.CLICKHOUSE_HTTP_PORT}`;
  process.env.KAFKA_BROKERS = brokers;
  process.env.CLICKHOUSE_URL = clickhouseUrl;
  return { brokers, clickhouseUrl, env };
}

export type KafkaAction = 'start' | 'stop' | 'kill' | 'pause' | 'resume';
export type ClickHouseAction = 'start' | 'stop' | 'kill';

/** Acts on the dedicated broker only (the env names its data dir and ports). */
export async function faultKafka(action: KafkaAction): Promise<void> {
  await run('kafka.sh', [action], faultInfraEnv());
}

/** Acts on the dedicated ClickHouse only. */
export async function faultClickHouse(action: ClickHouseAction): Promise<void> {
  await run('clickhouse.sh', [action], faultInfraEnv());
}

/** A service started as its own Node process (so a test can SIGKILL it), with its output in a log file. */
export class ServiceProcess {
  private child: ChildProcess | null = null;
  private exits: { code: number | null; signal: NodeJS.Signals | null }[] = [];
  /** Unexpected exits (not caused by kill()/stop()). */
  readonly crashes: { code: number | null; signal: NodeJS.Signals | null }[] = [];
  private expectingExit = false;

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    readonly logFile: string,
  ) {}

  /** Spawns `node --import tsx --conditions=development <entry> …` (TypeScript sources, no build needed). */
  start(): void {
    if (this.child) throw new Error(`${this.name} already running`);
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      // Never hand the developer's provider keys to a test service.
      if (v !== undefined && !/_API_KEY$/.test(k)) childEnv[k] = v;
    }
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=development', this.entry, ...this.args],
      { cwd: REPO_ROOT, env: { ...childEnv, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.expectingExit = false;
    child.once('exit', (code, signal) => {
      this.exits.push({ code, signal });
      if (!this.expectingExit) this.crashes.push({ code, signal });
      if (this.child === child) this.child = null;
    });
    this.child = child;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resident memory in bytes (from /proc), or null when not running. */
  rssBytes(): number | null {
    const pid = this.child?.pid;
    if (!pid || !this.alive()) return null;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
      return kb ? Number(kb) * 1024 : null;
    } catch {
      return null;
    }
  }

  private async signal(sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.alive()) return;
    this.expectingExit = true;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      exited,
      new Promise<void>((r) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await exited;
    this.child = null;
  }

  /** SIGKILL: a crash. */
  kill(): Promise<void> {
    return this.signal('SIGKILL', 5_000);
  }

  /** SIGTERM (graceful), SIGKILL after the deadline. */
  stop(timeoutMs = 20_000): Promise<void> {
    return this.signal('SIGTERM', timeoutMs);
  }

  /** The log written so far. */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
