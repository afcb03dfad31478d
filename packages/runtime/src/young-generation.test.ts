import { describe, expect, it } from 'vitest';
import { PRINT_LARGEST_YOUNG_GENERATION, childNodeJson, sourceFile } from './testing/child-node.js';
import {
  DEFAULT_YOUNG_GENERATION_MB,
  capYoungGeneration,
  holdYoungGenerationThroughStartUp,
  type YoungGenerationDeps,
} from './young-generation.js';

const MB = 1024 * 1024;
const MODULE = sourceFile('./young-generation.ts', import.meta.url);

/** Deps whose young generation is `size` and whose collections the test runs by hand. */
function fake(nodeOptions: string[] = []) {
  const state = { size: 2 * MB, set: [] as string[], listeners: new Set<() => void>() };
  const deps: YoungGenerationDeps = {
    nodeOptions,
    setFlags: (f) => void state.set.push(f),
    youngGenerationBytes: () => state.size,
    afterCollections(listener) {
      state.listeners.add(listener);
      return () => void state.listeners.delete(listener);
    },
  };
  const collect = (size: number): void => {
    state.size = size;
    for (const l of state.listeners) l();
  };
  return { state, deps, collect };
}

describe('capYoungGeneration', () => {
  it('lets V8 grow the young generation up to the cap, then holds it there, and lets it regrow if V8 shrinks it', () => {
    const f = fake();
    expect(capYoungGeneration(16, f.deps)).toBe(16);
    expect(f.state.set).toEqual(['--semi-space-growth-factor=2']);
    f.collect(8 * MB);
    expect(f.state.set).toHaveLength(1); // no change while below the cap
    f.collect(16 * MB);
    f.collect(16 * MB);
    expect(f.state.set).toEqual(['--semi-space-growth-factor=2', '--semi-space-growth-factor=1']);
    f.collect(4 * MB);
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=2');
    capYoungGeneration(0, f.deps);
  });

  it('never lets one doubling pass the cap, from sizes V8 shrank it to that are not powers of two', () => {
    const f = fake();
    capYoungGeneration(16, f.deps);
    f.collect(14 * MB); // V8's memory reducer: twice what survived; doubled, 28 MB
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=1');
    f.collect(7 * MB);
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=2'); // 14 MB next: within the cap
    f.collect(8.5 * MB);
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=1');
    capYoungGeneration(0, f.deps);
  });

  it('replaces the cap set before (start-up default, then configuration); 0 hands growth back to V8', () => {
    const f = fake();
    f.state.size = 16 * MB;
    capYoungGeneration(16, f.deps);
    expect(f.state.set).toEqual(['--semi-space-growth-factor=1']);
    capYoungGeneration(32, f.deps);
    expect(f.state.listeners.size).toBe(1);
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=2');
    expect(capYoungGeneration(0, f.deps)).toBe(0);
    expect(f.state.listeners.size).toBe(0);
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=2');
  });

  it('leaves a young generation sized by a node option, in either spelling', () => {
    for (const option of [
      '--max-semi-space-size=8',
      '--max_semi_space_size=8',
      '--semi-space-growth-factor=4',
    ]) {
      const f = fake(['--enable-source-maps', option]);
      expect(capYoungGeneration(16, f.deps)).toBeNull();
      expect(f.state.set).toEqual([]);
      expect(f.state.listeners.size).toBe(0);
    }
  });

  it('holds growth through start-up, then hands over to the default cap unless one was set by then', () => {
    const f = fake();
    let step: (() => void) | null = null;
    holdYoungGenerationThroughStartUp(f.deps, (s) => (step = s));
    expect(f.state.set).toEqual(['--semi-space-growth-factor=1']);
    expect(f.state.listeners.size).toBe(0);
    step!();
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=2'); // the default cap, from 2 MB
    expect(f.state.listeners.size).toBe(1);
    f.collect(DEFAULT_YOUNG_GENERATION_MB * MB);
    expect(f.state.set.at(-1)).toBe('--semi-space-growth-factor=1');

    const g = fake();
    holdYoungGenerationThroughStartUp(g.deps, (s) => (step = s));
    capYoungGeneration(0, g.deps); // the configured value, within start-up
    step!();
    expect(g.state.set).toEqual(['--semi-space-growth-factor=1', '--semi-space-growth-factor=2']);
    expect(g.state.listeners.size).toBe(0);

    const h = fake(['--max-semi-space-size=8']);
    holdYoungGenerationThroughStartUp(h.deps, (s) => (step = s));
    expect(h.state.set).toEqual([]);
    capYoungGeneration(0, f.deps);
  });

  it("holds a running process's young generation at the cap", () => {
    // In a child process: a workload whose objects outlive their scavenges (what makes V8 grow the young
    // generation), with the cap set first and without it; the largest young generation seen is printed. The
    // child exits by itself, so the watch does not keep a process alive.
    const largest = (mb: number): unknown => {
      const { printed, stderr } = childNodeJson(`import { capYoungGeneration } from ${MODULE};
        capYoungGeneration(${mb});
        ${PRINT_LARGEST_YOUNG_GENERATION}`);
      expect(stderr).toBe('');
      return printed;
    };
    expect(largest(0)).toBeGreaterThan(8); // V8 sizes its own limit from the memory it sees: 32 MB here
    expect(largest(8)).toBe(8);
  });

  it('leaves a young generation sized in NODE_OPTIONS (which process.execArgv does not list)', () => {
    const { printed, stderr } = childNodeJson(
      `import { capYoungGeneration } from ${MODULE};
       console.log(JSON.stringify(capYoungGeneration(16)));`,
      { env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=4' } },
    );
    expect(stderr).toBe('');
    expect(printed).toBeNull();
  });
});
