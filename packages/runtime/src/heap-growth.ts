import { setFlagsFromString } from 'node:v8';
import { processNodeOptions } from './node-options.js';

/** V8's option for how far the old generation may grow past what a full collection left (1 + percent / 100). */
const HEAP_GROWING_FLAG = '--heap-growing-percent';

export interface HeapGrowthDeps {
  /** The process's node options (its command line and NODE_OPTIONS): a flag given there wins. */
  nodeOptions: readonly string[];
  setFlags(flags: string): void;
}

const processDeps: HeapGrowthDeps = { nodeOptions: processNodeOptions(), setFlags: setFlagsFromString };

/**
 * Sets V8's old-generation growth for this process (`server.heap_growing_percent`; 0: V8's own). Left to itself,
 * V8 lets the old generation grow up to 4× what the last full collection left when its collections are cheap:
 * ingest-api at 256 connections kept ~36 MB after each one and grew to ~145 MB before the next, because the
 * requests in flight outlive two scavenges and are promoted. With 50 % the peak RSS there fell from 238–261 to
 * 158–166 MB, with no change in throughput at 64 or 256 connections; 100-KB prompts cost ~13 % of their rate
 * (README, Operations). Read at every collection, so setting it after start-up takes effect.
 *
 * Returns the percent set, or null when the process was started with the flag (that one stays).
 */
export function applyHeapGrowingPercent(percent: number, deps: HeapGrowthDeps = processDeps): number | null {
  // V8 takes both spellings of its options.
  if (
    deps.nodeOptions.some((a) => a.startsWith(HEAP_GROWING_FLAG) || a.startsWith('--heap_growing_percent'))
  ) {
    return null;
  }
  deps.setFlags(`${HEAP_GROWING_FLAG}=${percent}`);
  return percent;
}
