import { getPriority, setPriority } from 'node:os';
import { integerEnv } from './env-number.js';

/**
 * CPU priority of background processes. On a machine the writer shares with ingest-api (a small deployment, the
 * benchmark), both want the CPU at once: the request path should win, and the projection catch up in the gaps —
 * Kafka holds the events meanwhile. A Unix nice value does exactly that and changes nothing on a machine of its own
 * (it only decides who runs when both want to). It is opt-in: it also delays the writer's many small wake-ups,
 * so rows become visible later (measured in the README, "Running at scale").
 */

/** The writer's default nice value: 0, the priority it was started with (opt in with `WRITER_NICE`, e.g. 10). */
export const DEFAULT_WRITER_NICE = 0;

/** A nice value from the environment: unset or empty → `fallback`; otherwise an integer 0–19, or an error naming the variable. */
export function parseNice(raw: string | undefined, name: string, fallback: number): number {
  return integerEnv(raw, name, fallback, {
    min: 0,
    max: 19,
    meaning: 'an integer from 0 to 19 (a Unix nice value)',
  });
}

/**
 * Lowers this process's CPU priority to `nice` when it runs at a higher priority now; never raises it (an
 * unprivileged process cannot, and an operator who started it nicer meant it). Returns the nice value in effect.
 */
export function lowerCpuPriority(nice: number): number {
  if (nice > getPriority()) setPriority(nice);
  return getPriority();
}
