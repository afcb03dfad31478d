import { describe, expect, it } from 'vitest';
import { applyHeapGrowingPercent } from './heap-growth.js';
import { childNodeJson, sourceFile } from './testing/child-node.js';

function recorder(nodeOptions: string[] = []) {
  const set: string[] = [];
  return { set, deps: { nodeOptions, setFlags: (f: string) => void set.push(f) } };
}

describe('applyHeapGrowingPercent', () => {
  it('sets V8 option with the configured percent; 0 hands growth back to V8', () => {
    const a = recorder();
    expect(applyHeapGrowingPercent(50, a.deps)).toBe(50);
    expect(applyHeapGrowingPercent(0, a.deps)).toBe(0);
    expect(a.set).toEqual(['--heap-growing-percent=50', '--heap-growing-percent=0']);
  });

  it('leaves a value given on the command line, in either spelling', () => {
    for (const flag of ['--heap-growing-percent=20', '--heap_growing_percent=20']) {
      const a = recorder(['--enable-source-maps', flag]);
      expect(applyHeapGrowingPercent(50, a.deps)).toBeNull();
      expect(a.set).toEqual([]);
    }
  });

  it('changes how often a running process collects its old generation', () => {
    // setFlagsFromString ignores an option V8 does not know, so this checks the option still exists and is read
    // after start-up. In a child process: the same promoting workload (a ring of arrays that outlive their
    // scavenges, beside a ~45 MB live set, after a full collection that sets the next one's limit) with the
    // default 50 % and with V8's own growth; full collections counted (here 4 against 1, the explicit one).
    const majors = (percent: number): number => {
      const { printed, stderr } = childNodeJson(
        `import { applyHeapGrowingPercent } from ${sourceFile('./heap-growth.ts', import.meta.url)};
           import { PerformanceObserver, constants } from 'node:perf_hooks';
           applyHeapGrowingPercent(${percent});
           let majors = 0;
           const obs = new PerformanceObserver((list) => {
             for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
           });
           obs.observe({ entryTypes: ['gc'] });
           const live = [];
           for (let i = 0; i < 40_000; i++) live.push(new Array(128).fill(i));
           globalThis.gc();
           const ring = new Array(4_000);
           for (let i = 0; i < 600_000; i++) ring[i % ring.length] = new Array(256).fill(i);
           setTimeout(() => { obs.disconnect(); console.log(JSON.stringify([majors, live.length])); }, 50);`,
        { nodeOptions: ['--expose-gc'] },
      );
      expect(stderr).toBe('');
      return (printed as number[])[0]!;
    };
    const own = majors(0);
    const configured = majors(50);
    expect(own).toBeGreaterThanOrEqual(1);
    expect(configured).toBeGreaterThanOrEqual(own + 2);
  });
});
