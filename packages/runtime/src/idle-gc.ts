import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection when the process has gone idle after a burst. V8 collects the old generation when
 * allocation pushes it to, so the garbage a burst leaves — above all ArrayBuffers (socket reads, request bodies,
 * encoded events) whose owners outlived a scavenge, which only a full collection frees — stays until traffic
 * comes back: after 8 s of 100-KB requests ingest-api sat idle at ~370 MB RSS with ~150 MB of dead external
 * memory through the 40 s it was watched idle. With one collection in the first quiet seconds (37 ms): external memory
 * 289 → 3 MB, RSS 506 → 426 MB (glibc keeps much of the freed memory for reuse). The old generation keeps what a
 * burst made it commit too: after 1,000 concurrent streams ingest-api sat idle at ~163 MB RSS with 65–68 MB of old
 * space committed and ~30 MB of heap live; one collection (38–49 ms, once 241) brought the old space to 29–50 MB
 * and RSS to 125–145 MB (8 trials) — and the next burst starts from there.
 *
 * It runs only when the process was idle over the last interval (event-loop utilisation below `idleUtilization`,
 * and no request begun, where `activity` counts them: a gateway under light traffic is not idle), external memory
 * plus the heap outside the young generation grew by `garbageBytes` above the level measured after the last
 * collection (or the lowest since), and `cooldownMs` passed since it: a pause of tens of milliseconds, at a time
 * nothing is waiting.
 */

export interface MemorySample {
  /** Memory outside the heap that V8 accounts for (ArrayBuffers and the like). */
  external: number;
  /**
   * The heap's committed bytes outside the young generation — what the old generation holds, live or dead. (Not
   * just its unused part: a burst's garbage counts as used until a full collection finds it.) The young
   * generation is left out: a full collection does not give it back (V8's memory reducer does, on its own
   * schedule), and its use swings by its whole size between scavenges.
   */
  oldHeap: number;
}

export interface IdleGcDeps {
  /** Event-loop utilisation (0–1) since the previous call. */
  utilization(): number;
  memory(): MemorySample;
  now(): number;
  gc(): void;
}

export interface IdleGcOptions {
  garbageBytes: number;
  /**
   * A count that moves whenever the process is asked for work (the HTTP requests it began): a check after which
   * it moved is not idle, however little the work kept the event loop busy.
   */
  activity?: () => number;
  intervalMs?: number;
  idleUtilization?: number;
  cooldownMs?: number;
  /** Called after each collection with the growth above the baseline that triggered it and how long it took. */
  onCollect?: (info: { grownBytes: number; durationMs: number }) => void;
}

export interface IdleGcDecision {
  /** One check (the interval calls it; tests call it directly). True when it collected. */
  check(): boolean;
}

export interface IdleGc extends IdleGcDecision {
  stop(): void;
}

/** Memory that a full collection may give back, above what it could not: external memory and the old heap. */
function memoryLevel(m: MemorySample): number {
  return m.external + m.oldHeap;
}

const YOUNG_GENERATION = new Set(['new_space', 'new_large_object_space']);

/** This process's sample, from V8's statistics (no resident-set read, unlike `process.memoryUsage()`). */
export function processMemory(): MemorySample {
  let oldHeap = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (!YOUNG_GENERATION.has(space.space_name)) oldHeap += space.space_size;
  }
  return { external: getHeapStatistics().external_memory, oldHeap };
}

/** `gc` from V8 (`--expose-gc`, set at run time when the process was not started with it), or null. */
export function exposedGc(): (() => void) | null {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return () => void existing();
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? () => void fn() : null;
  } catch {
    return null;
  }
}

function processDeps(gc: () => void): IdleGcDeps {
  let last = performance.eventLoopUtilization();
  return {
    utilization: () => {
      const now = performance.eventLoopUtilization();
      const delta = performance.eventLoopUtilization(now, last);
      last = now;
      return delta.utilization;
    },
    memory: processMemory,
    now: () => Date.now(),
    gc,
  };
}

/** Starts the checks (an unref'd interval), or returns null when `gc` cannot be had or the threshold is 0. */
export function startIdleGc(options: IdleGcOptions, deps?: IdleGcDeps): IdleGc | null {
  if (options.garbageBytes <= 0) return null;
  let d = deps;
  if (!d) {
    const gc = exposedGc();
    if (!gc) return null;
    d = processDeps(gc);
  }
  const idle = createIdleGc(options, d);
  const timer = setInterval(() => idle.check(), options.intervalMs ?? 2_000);
  timer.unref();
  return {
    check: idle.check,
    stop: () => clearInterval(timer),
  };
}

/** The decision alone, without a timer. */
export function createIdleGc(options: IdleGcOptions, deps: IdleGcDeps): IdleGcDecision {
  const idleUtilization = options.idleUtilization ?? 0.02;
  const cooldownMs = options.cooldownMs ?? 10_000;
  const activity = options.activity ?? (() => 0);
  let lastActivity = activity();
  // The level that counts as "nothing to give back": measured at start and again at the first check after each
  // collection (ArrayBuffers are freed by a background sweeper, so not at once), and lowered whenever the process
  // gives memory back by itself.
  let baseline = memoryLevel(deps.memory());
  let remeasure = false;
  let lastCollect = Number.NEGATIVE_INFINITY;
  return {
    check: () => {
      const utilization = deps.utilization();
      const asked = activity();
      const quiet = asked === lastActivity;
      lastActivity = asked;
      const level = memoryLevel(deps.memory());
      if (remeasure) {
        baseline = level;
        remeasure = false;
        return false;
      }
      baseline = Math.min(baseline, level);
      if (utilization >= idleUtilization || !quiet) return false;
      if (level - baseline < options.garbageBytes) return false;
      const now = deps.now();
      if (now - lastCollect < cooldownMs) return false;
      const started = performance.now();
      deps.gc();
      lastCollect = now;
      remeasure = true;
      options.onCollect?.({ grownBytes: level - baseline, durationMs: performance.now() - started });
      return true;
    },
  };
}
