import { describe, expect, it } from 'vitest';
import { createIdleGc, exposedGc, startIdleGc, type IdleGcDeps, type MemorySample } from './idle-gc.js';

const MB = 1024 * 1024;

/** Allocates `mb` MiB of ArrayBuffers nothing keeps; returns the ArrayBuffer total while they were held. */
function allocateGarbage(mb: number): number {
  const held = Array.from({ length: mb }, () => Buffer.alloc(MB, 1));
  const total = process.memoryUsage().arrayBuffers;
  return held.length === mb ? total : 0; // (`held` used after the measurement: alive until it is taken)
}

/** Deps whose utilisation, memory and clock the test sets; `collections` counts gc() calls. */
function fakeDeps(start: MemorySample) {
  const state = { utilization: 0, memory: { ...start }, now: 1_000_000, collections: 0 };
  const deps: IdleGcDeps = {
    utilization: () => state.utilization,
    memory: () => state.memory,
    now: () => state.now,
    gc: () => {
      state.collections++;
    },
  };
  return { state, deps };
}

const quiet: MemorySample = { external: 4 * MB, heapTotal: 60 * MB, heapUsed: 40 * MB };

describe('idle garbage collection', () => {
  it('collects once idle after the reclaimable memory grew by the threshold', () => {
    const { state, deps } = fakeDeps(quiet);
    const collected: number[] = [];
    const idle = createIdleGc(
      { garbageBytes: 64 * MB, onCollect: (i) => collected.push(i.reclaimableBytes) },
      deps,
    );
    // A burst: 150 MB of external memory, the heap grown — but the loop is busy.
    state.memory = { external: 150 * MB, heapTotal: 127 * MB, heapUsed: 56 * MB };
    state.utilization = 0.9;
    expect(idle.check()).toBe(false);
    // The burst is over.
    state.utilization = 0.001;
    expect(idle.check()).toBe(true);
    expect(state.collections).toBe(1);
    expect(collected).toEqual([(150 + 127 - 56) * MB]);
  });

  it('leaves a process alone while the growth is below the threshold', () => {
    const { state, deps } = fakeDeps(quiet);
    const idle = createIdleGc({ garbageBytes: 64 * MB }, deps);
    state.memory = { external: 50 * MB, heapTotal: 70 * MB, heapUsed: 40 * MB }; // +56 MB
    expect(idle.check()).toBe(false);
    expect(state.collections).toBe(0);
  });

  it('takes the level after a collection as the new baseline and waits out the cooldown', () => {
    const { state, deps } = fakeDeps(quiet);
    const idle = createIdleGc({ garbageBytes: 64 * MB, cooldownMs: 30_000 }, deps);
    state.memory = { external: 150 * MB, heapTotal: 127 * MB, heapUsed: 56 * MB };
    expect(idle.check()).toBe(true);
    // Live data stayed high after the collection: that level is the new baseline, not a reason to collect again.
    state.memory = { external: 100 * MB, heapTotal: 90 * MB, heapUsed: 60 * MB };
    state.now += 2_000;
    expect(idle.check()).toBe(false);
    state.now += 2_000;
    expect(idle.check()).toBe(false);
    // Another burst's garbage on top of it, within the cooldown: not yet.
    state.memory = { external: 200 * MB, heapTotal: 120 * MB, heapUsed: 60 * MB };
    state.now += 2_000;
    expect(idle.check()).toBe(false);
    state.now += 30_000;
    expect(idle.check()).toBe(true);
    expect(state.collections).toBe(2);
  });

  it('is off when the threshold is 0', () => {
    expect(startIdleGc({ garbageBytes: 0 })).toBeNull();
  });

  it("gets V8's gc at run time, and it frees dead ArrayBuffers", async () => {
    const gc = exposedGc();
    expect(gc).not.toBeNull();
    const withGarbage = allocateGarbage(48);
    gc!();
    // ArrayBuffers are released by a background sweeper: poll with a deadline.
    const deadline = Date.now() + 5_000;
    while (process.memoryUsage().arrayBuffers > withGarbage - 32 * MB) {
      if (Date.now() > deadline) throw new Error('the dead ArrayBuffers were not freed');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(process.memoryUsage().arrayBuffers).toBeLessThanOrEqual(withGarbage - 32 * MB);
  });
});
