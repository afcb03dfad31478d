import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { processNodeOptions } from './node-options.js';

/**
 * The young generation (`server.young_generation_mb`, both semi-spaces) a process that serves chat lets V8 grow
 * to. V8's own limit is 32 MB; at 256 connections ingest-api used all of it (README, Operations).
 */
export const DEFAULT_YOUNG_GENERATION_MB = 16;

const GROWTH_FLAG = '--semi-space-growth-factor';
/** V8's own factor: the young generation doubles when enough of it survived since it last grew. */
const V8_GROWTH_FACTOR = 2;
/** Node options that size the young generation themselves: a process started with one keeps it. */
const SIZING_OPTIONS = [
  '--max-semi-space-size',
  '--max_semi_space_size',
  GROWTH_FLAG,
  '--semi_space_growth_factor',
];

export interface YoungGenerationDeps {
  /** The process's node options (its command line and NODE_OPTIONS). */
  nodeOptions: readonly string[];
  setFlags(flags: string): void;
  /** Bytes the young generation holds now (both semi-spaces). */
  youngGenerationBytes(): number;
  /** Calls `listener` after garbage collections; returns a function that stops it. */
  afterCollections(listener: () => void): () => void;
}

const processDeps: YoungGenerationDeps = {
  nodeOptions: processNodeOptions(),
  setFlags: setFlagsFromString,
  youngGenerationBytes: () =>
    getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0,
  afterCollections(listener) {
    const observer = new PerformanceObserver(listener);
    observer.observe({ entryTypes: ['gc'] });
    return () => observer.disconnect();
  },
};

/** The cap in force in this process (one per process, as V8's heap is), and how many were set. */
let stopCurrent: (() => void) | null = null;
let capsSet = 0;

const sizedByNodeOption = (deps: YoungGenerationDeps): boolean =>
  deps.nodeOptions.some((o) => SIZING_OPTIONS.some((name) => o.startsWith(name)));

/**
 * Caps how far V8 grows this process's young generation (0: V8's own, up to 32 MB). V8 sizes the young generation
 * when the process starts (`--max-semi-space-size`) and never lets configuration change that limit; what it reads
 * at every collection is the factor it grows by. So the cap watches collections and lets V8 double the young
 * generation only while the double stays within the cap, and sets the factor to 1 otherwise. From V8's 2-MB start
 * that stops growth at the cap. But once the process is idle, V8's memory reducer shrinks the young generation to
 * about twice what survived — any size: in ingest-api 16 → 9.5 MB, which doubled to 19 under the next load (28 in
 * another run) while the cap only stopped growth at or above itself. Growth now stops between half the cap and
 * the cap. V8 grows it only after more than its whole size has survived since it last grew, which a request's
 * turn of the event loop does not come near, so the watch (run a turn after each collection) does not miss the
 * moment.
 *
 * V8 does not shrink the young generation when asked (only its memory reducer does, when it sees the process
 * idle), so a cap only holds if it is set before the process grows past it: see holdYoungGenerationThroughStartUp
 * for the entry points; `startHost` sets the configured value.
 *
 * Returns the cap set, or null when the process was started with a node option that sizes the young generation.
 */
export function capYoungGeneration(mb: number, deps: YoungGenerationDeps = processDeps): number | null {
  if (sizedByNodeOption(deps)) return null;
  capsSet++;
  stopCurrent?.();
  stopCurrent = null;
  if (mb === 0) {
    deps.setFlags(`${GROWTH_FLAG}=${V8_GROWTH_FACTOR}`);
    return 0;
  }
  const capBytes = mb * 1024 * 1024;
  let factor: number | null = null;
  const check = (): void => {
    // One growth step multiplies the size by the factor: V8's own doubling only while that stays within the cap.
    const next = deps.youngGenerationBytes() * V8_GROWTH_FACTOR <= capBytes ? V8_GROWTH_FACTOR : 1;
    if (next === factor) return;
    factor = next;
    deps.setFlags(`${GROWTH_FLAG}=${next}`);
  };
  check();
  stopCurrent = deps.afterCollections(check);
  return mb;
}

/**
 * For the entry points of the processes that serve chat, before they load anything else
 * (`cap-young-generation.ts`). Start-up evaluates every module in one synchronous stretch, in which the watch
 * cannot run and V8 grew the young generation from 2 to 32 MB. So growth stops until the first turn of the event
 * loop after it; the default cap then takes over, unless a cap was set by then (`startHost`, with the configured
 * value, runs within that stretch). `later` defers that step (tests).
 */
export function holdYoungGenerationThroughStartUp(
  deps: YoungGenerationDeps = processDeps,
  later: (step: () => void) => void = (step) => void setImmediate(step).unref(),
): void {
  if (sizedByNodeOption(deps)) return;
  deps.setFlags(`${GROWTH_FLAG}=1`);
  const before = capsSet;
  later(() => {
    if (capsSet === before) capYoungGeneration(DEFAULT_YOUNG_GENERATION_MB, deps);
  });
}
