import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ChildNodeOptions {
  /** Node options ahead of the code (e.g. `--expose-gc`). */
  nodeOptions?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs `code` as an ES module in a fresh node process, for what a test must see in a process of its own: V8's
 * options and heap, the modules loaded at start-up, a process's priority or the output it leaves as it ends.
 * TypeScript is imported through tsx and the workspace's packages resolve to their sources, as in the tests (a
 * clean checkout has no dist/ when they run).
 */
export function runInChildNode(code: string, options: ChildNodeOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(
    process.execPath,
    [
      ...(options.nodeOptions ?? []),
      '--conditions=development',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      code,
    ],
    { encoding: 'utf8', timeout: 60_000, env: options.env ?? process.env },
  );
}

/** runInChildNode, then the JSON the child printed; a child that fails throws with its stderr. */
export function childNodeJson(
  code: string,
  options: ChildNodeOptions = {},
): { printed: unknown; stderr: string } {
  const out = runInChildNode(code, options);
  if (out.status !== 0) throw new Error(`the child process failed (${String(out.status)}): ${out.stderr}`);
  return { printed: JSON.parse(out.stdout) as unknown, stderr: out.stderr };
}

/** A source file beside a test (`base`: its import.meta.url), as a string literal to import in the child's code. */
export function sourceFile(relative: string, base: string): string {
  return JSON.stringify(fileURLToPath(new URL(relative, base)));
}

/**
 * Code for runInChildNode: a workload whose objects outlive their scavenges (what makes V8 grow its young
 * generation, as requests in flight do), turn after turn of the event loop; prints the largest young generation
 * seen, in MB.
 */
export const PRINT_LARGEST_YOUNG_GENERATION = `{
  const { getHeapSpaceStatistics } = await import('node:v8');
  const size = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
  let largest = size();
  let live = [];
  for (let turn = 0; turn < 400; turn++) {
    for (let i = 0; i < 2_000; i++) live.push({ a: new Array(20).fill(i), s: 'x' + i });
    if (live.length > 200_000) live = live.slice(100_000);
    largest = Math.max(largest, size());
    await new Promise((resolve) => setImmediate(resolve));
  }
  console.log(largest);
}`;
