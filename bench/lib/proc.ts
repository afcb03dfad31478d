/** Child processes of the harness: start, wait until ready, measure (RSS, CPU) and stop — by pid only. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  log: string;
  /** Resolves with the first stdout line matching `readyLine`, if one was given. */
  ready: Promise<RegExpExecArray | null>;
}

const running = new Set<Proc>();

export function startProc(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logDir: string; readyLine?: RegExp; timeoutMs?: number },
): Proc {
  const log = join(options.logDir, `${name}.log`);
  const out = createWriteStream(log, { flags: 'a' });
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const readyLine = options.readyLine;
  const ready = new Promise<RegExpExecArray | null>((resolve, reject) => {
    if (!readyLine) {
      resolve(null);
      return;
    }
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready in ${options.timeoutMs ?? 60_000} ms (see ${log})`)),
      options.timeoutMs ?? 60_000,
    );
    const onData = (b: Buffer) => {
      buffer += b.toString();
      const m = readyLine.exec(buffer);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(m);
      } else if (buffer.length > 65_536) {
        buffer = buffer.slice(-4096);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready (see ${log})`));
    });
  });
  ready.catch(() => undefined);
  const proc: Proc = { name, child, pid: child.pid, log, ready };
  running.add(proc);
  child.once('exit', () => running.delete(proc));
  return proc;
}

export async function stopProc(
  proc: Proc,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every process this harness started (on exit or failure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => stopProc(p)));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function httpOk(url: string, init?: RequestInit): Promise<boolean> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

/** Runs a command to completion; throws with its output on failure. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; allowFail?: boolean } = {},
): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    input: options.input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const status = r.status ?? -1;
  if (status !== 0 && !options.allowFail) {
    throw new Error(`${command} ${args.join(' ')} failed (${status}):\n${r.stderr || r.stdout || r.error}`);
  }
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status };
}

/** Runs a command asynchronously (the event loop stays free), collecting its output. */
export function runAsync(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; onLine?: (line: string) => void } = {},
): Promise<{ stdout: string; stderr: string; status: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (b: Buffer) => {
      const s = b.toString();
      stdout += s;
      if (options.onLine) {
        partial += s;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.onLine(line);
      }
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ stdout, stderr, status: code ?? -1 }));
  });
}

export function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

// ---- /proc accounting ---------------------------------------------------------------------------------

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function readStat(pid: number): { ppid: number; cpuTicks: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); ppid is field 4, utime 14, stime 15.
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The pid and all its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface Usage {
  rssMb: number;
  cpuSeconds: number;
}

/** RSS and CPU time summed over a process tree (nginx: master and workers). */
export function usage(root: number): Usage {
  let rss = 0;
  let ticks = 0;
  for (const pid of processTree(root)) {
    rss += rssKb(pid);
    ticks += readStat(pid)?.cpuTicks ?? 0;
  }
  return { rssMb: rss / 1024, cpuSeconds: ticks / CLK_TCK };
}

/** Samples a process tree's RSS while `fn` runs; returns fn's result, the peak RSS and the CPU used. */
export async function measured<T>(
  root: number | undefined,
  fn: () => Promise<T>,
): Promise<{ result: T; peakRssMb: number; cpuSeconds: number; wallSeconds: number }> {
  if (root === undefined) {
    const started = performance.now();
    const result = await fn();
    return { result, peakRssMb: 0, cpuSeconds: 0, wallSeconds: (performance.now() - started) / 1000 };
  }
  const before = usage(root);
  let peak = before.rssMb;
  const timer = setInterval(() => {
    peak = Math.max(peak, usage(root).rssMb);
  }, 250);
  const started = performance.now();
  try {
    const result = await fn();
    const after = usage(root);
    peak = Math.max(peak, after.rssMb);
    return {
      result,
      peakRssMb: peak,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      wallSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearInterval(timer);
  }
}
