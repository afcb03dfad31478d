/**
 * Where rate-limit counters live: in memory (one instance) or in Redis (several instances, limits global).
 * A store admits a set of checks atomically: either every counter is incremented, or none is and the first
 * check that would exceed its limit is reported.
 */

export type LimitName = 'rpm' | 'tpm' | 'concurrency';
export type LimitScope = 'key' | 'project';

export interface LimitCheck {
  scope: LimitScope;
  id: string;
  name: LimitName;
  limit: number;
  /** 1 for rpm and concurrency; the estimated tokens for tpm. */
  cost: number;
}

export type AdmitResult =
  | { ok: true; /** Counter values after the increment, in check order. */ used: number[] }
  | { ok: false; failed: LimitCheck; used: number };

export interface CounterStore {
  /** `window` is the index of the current fixed one-minute window (for rpm and tpm). */
  admit(checks: LimitCheck[], window: number): Promise<AdmitResult>;
  /** Adds `delta` (may be negative) to a tpm counter of a past or current window. */
  adjust(check: LimitCheck, window: number, delta: number): Promise<void>;
  /** Gives back concurrency slots. */
  release(checks: LimitCheck[]): Promise<void>;
  close(): Promise<void>;
}

export function counterKey(check: Pick<LimitCheck, 'scope' | 'id' | 'name'>, window: number): string {
  return check.name === 'concurrency'
    ? `mgw:rl:${check.scope}:${check.id}:conc`
    : `mgw:rl:${check.scope}:${check.id}:${check.name}:${window}`;
}

/** Counters in this process: exact for one instance, nothing but arithmetic on the hot path. */
export class MemoryCounterStore implements CounterStore {
  private readonly counters = new Map<string, { value: number; expires: number }>();
  private sweepAt = 0;

  private get(key: string, now: number): number {
    const c = this.counters.get(key);
    if (!c) return 0;
    if (c.expires <= now) {
      this.counters.delete(key);
      return 0;
    }
    return c.value;
  }

  private add(key: string, delta: number, ttlMs: number, now: number): number {
    const c = this.counters.get(key);
    if (c && c.expires > now) {
      // Updated in place: no allocation per counter per request.
      c.value += delta;
      c.expires = now + ttlMs;
      return c.value;
    }
    this.counters.set(key, { value: delta, expires: now + ttlMs });
    return delta;
  }

  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    for (const [key, c] of this.counters) if (c.expires <= now) this.counters.delete(key);
  }

  async admit(checks: LimitCheck[], window: number): Promise<AdmitResult> {
    const now = Date.now();
    this.sweep(now);
    const keys = checks.map((c) => counterKey(c, window));
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as LimitCheck;
      const current = this.get(keys[i] as string, now);
      if (current + check.cost > check.limit) return { ok: false, failed: check, used: current };
    }
    return {
      ok: true,
      used: checks.map((c, i) =>
        this.add(keys[i] as string, c.cost, c.name === 'concurrency' ? 600_000 : 120_000, now),
      ),
    };
  }

  async adjust(check: LimitCheck, window: number, delta: number): Promise<void> {
    const key = counterKey(check, window);
    const now = Date.now();
    if (this.get(key, now) === 0 && delta <= 0) return;
    this.add(key, delta, 120_000, now);
  }

  async release(checks: LimitCheck[]): Promise<void> {
    const now = Date.now();
    for (const c of checks) {
      const key = counterKey(c, 0);
      const counter = this.counters.get(key);
      if (counter && counter.expires > now) {
        counter.value = Math.max(0, counter.value - c.cost);
        counter.expires = now + 600_000;
      } else {
        this.counters.set(key, { value: 0, expires: now + 600_000 });
      }
    }
  }

  async close(): Promise<void> {
    this.counters.clear();
  }
}
