import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Dedicated Kafka and ClickHouse for fault injection. Fault tests stop, pause and kill these — never the shared
 * instances other suites (and other developers' runs) use. They live in `.data/faults` on their own ports
 * (override with FAULTS_KAFKA_PORT, FAULTS_KAFKA_CONTROLLER_PORT, FAULTS_CLICKHOUSE_HTTP_PORT,
 * FAULTS_CLICKHOUSE_TCP_PORT, FAULTS_DATA_DIR) and are started by `useFaultInfra()` (idempotent: ~1 s when running).
 * They are left running for fast re-runs, like the shared ones.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const INFRA = join(REPO_ROOT, 'infra/local');

export interface FaultInfra {
  brokers: string;
  clickhouseUrl: string;
  /** The environment that makes infra/local/*.sh act on the dedicated instances. */
  env: Record<string, string>;
}

export function faultInfraEnv(): Record<string, string> {
  const e = process.env;
  return {
    MANIAC_DATA_DIR: e.FAULTS_DATA_DIR ?? join(REPO_ROOT, '.data/faults'),
    KAFKA_PORT: e.FAULTS_KAFKA_PORT ?? '19092',
    KAFKA_CONTROLLER_PORT: e.FAULTS_KAFKA_CONTROLLER_PORT ?? '19093',
    CLICKHOUSE_HTTP_PORT: e.FAULTS_CLICKHOUSE_HTTP_PORT ?? '18123',
    CLICKHOUSE_TCP_PORT: e.FAULTS_CLICKHOUSE_TCP_PORT ?? '19000',
    KAFKA_HEAP_OPTS: e.FAULTS_KAFKA_HEAP_OPTS ?? '-Xmx512m -Xms128m',
  };
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
