import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import {
  createIdleGc,
  exposedGc,
  processMemory,
  startIdleGc,
  type IdleGcDeps,
  type MemorySample,
} from './idle-gc.js';
import { childNodeJson, sourceFile } from './testing/child-node.js';

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

const MODULE = sourceFile('./idle-gc.ts', import.meta.url);
const quiet: MemorySample = { external: 4 * MB, oldHeap: 40 * MB };

describe('idle garbage collection', () => {
  it('collects once idle after the reclaimable memory grew by the threshold', () => {
    const { state, deps } = fakeDeps(quiet);
    const collected: number[] = [];
    const idle = createIdleGc(
      { garbageBytes: 64 * MB, onCollect: (i) => collected.push(i.grownBytes) },
      deps,
    );
    // A burst: 150 MB of external memory, the old heap grown — but the loop is busy.
    state.memory = { external: 150 * MB, oldHeap: 110 * MB };
    state.utilization = 0.9;
    expect(idle.check()).toBe(false);
    // The burst is over.
    state.utilization = 0.001;
    expect(idle.check()).toBe(true);
    expect(state.collections).toBe(1);
    expect(collected).toEqual([(150 + 110 - 4 - 40) * MB]);
  });

  it('leaves a process alone while the growth is below the threshold', () => {
    const { state, deps } = fakeDeps(quiet);
    const idle = createIdleGc({ garbageBytes: 64 * MB }, deps);
    state.memory = { external: 50 * MB, oldHeap: 50 * MB }; // +56 MB
    expect(idle.check()).toBe(false);
    expect(state.collections).toBe(0);
  });

  it('takes the level after a collection as the new baseline and waits out the cooldown', () => {
    const { state, deps } = fakeDeps(quiet);
    const idle = createIdleGc({ garbageBytes: 64 * MB, cooldownMs: 30_000 }, deps);
    state.memory = { external: 150 * MB, oldHeap: 110 * MB };
    expect(idle.check()).toBe(true);
    // Live data stayed high after the collection: that level is the new baseline, not a reason to collect again.
    state.memory = { external: 100 * MB, oldHeap: 70 * MB };
    state.now += 2_000;
    expect(idle.check()).toBe(false);
    state.now += 2_000;
    expect(idle.check()).toBe(false);
    // Another burst's garbage on top of it, within the cooldown: not yet.
    state.memory = { external: 200 * MB, oldHeap: 70 * MB };
    state.now += 2_000;
    expect(idle.check()).toBe(false);
    state.now += 30_000;
    expect(idle.check()).toBe(true);
    expect(state.collections).toBe(2);
  });

  it('is not idle over a check in which a request began, however quiet the event loop', () => {
    const { state, deps } = fakeDeps(quiet);
    let requests = 0;
    const idle = createIdleGc({ garbageBytes: 16 * MB, activity: () => requests }, deps);
    state.memory = { external: 40 * MB, oldHeap: 80 * MB };
    requests = 3; // light traffic: the loop stays under the utilisation threshold
    expect(idle.check()).toBe(false);
    requests = 4;
    expect(idle.check()).toBe(false);
    expect(state.collections).toBe(0);
    expect(idle.check()).toBe(true); // no request since the last check
    expect(state.collections).toBe(1);
  });

  it('measures from the lowest level since the last collection when memory went back by itself', () => {
    const { state, deps } = fakeDeps({ external: 30 * MB, oldHeap: 60 * MB });
    const idle = createIdleGc({ garbageBytes: 16 * MB }, deps);
    state.memory = { external: 2 * MB, oldHeap: 40 * MB }; // 48 MB below the start
    expect(idle.check()).toBe(false);
    state.memory = { external: 4 * MB, oldHeap: 56 * MB }; // +18 MB above that, still 30 below the start
    expect(idle.check()).toBe(true);
    expect(state.collections).toBe(1);
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

  it('gives back the old space a burst of promoted objects made V8 commit (a process of its own)', () => {
    // Objects that outlive their scavenges (as requests in flight do) are promoted, then dropped: the old space
    // keeps the pages they took until a full collection compacts it — the idle collection's reason to exist.
    const { printed, stderr } = childNodeJson(`import { exposedGc, processMemory } from ${MODULE};
      const gc = exposedGc();
      const before = processMemory().oldHeap;
      let live = [];
      for (let turn = 0; turn < 300; turn++) {
        for (let i = 0; i < 2_000; i++) live.push({ a: new Array(20).fill(i), s: 'x' + i });
        if (live.length > 200_000) live = live.filter((_, i) => i % 2 === 0);
        await new Promise((resolve) => setImmediate(resolve));
      }
      live = null;
      const afterBurst = processMemory().oldHeap;
      gc();
      console.log(JSON.stringify({ before, afterBurst, afterGc: processMemory().oldHeap }));`);
    expect(stderr).toBe('');
    const { before, afterBurst, afterGc } = printed as {
      before: number;
      afterBurst: number;
      afterGc: number;
    };
    expect(afterBurst - before).toBeGreaterThan(32 * MB);
    expect(afterGc).toBeLessThan(before + 16 * MB);
  });

  it('samples the heap outside the young generation', () => {
    const sample = processMemory();
    const spaces = getHeapSpaceStatistics();
    const young = spaces
      .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
      .reduce((sum, s) => sum + s.space_size, 0);
    expect(young).toBeGreaterThan(0);
    expect(sample.oldHeap).toBeGreaterThan(0);
    expect(sample.oldHeap).toBeLessThanOrEqual(getHeapStatistics().total_heap_size - young);
  });
});
