import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('RedisCounterStore', () => {
  it('loads ioredis only when a Redis store is made', () => {
    // In a child process, so this worker's module cache does not matter. Redis at port 1: nothing listens, the
    // command fails fast (no offline queue), which the limiter would take as "fail open".
    const app = JSON.stringify(fileURLToPath(new URL('../app.ts', import.meta.url)));
    const store = JSON.stringify(fileURLToPath(new URL('./redis-store.ts', import.meta.url)));
    const out = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module';
         await import(${app});
         const { RedisCounterStore } = await import(${store});
         const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('/ioredis/'));
         const before = loaded();
         const s = new RedisCounterStore('redis://127.0.0.1:1');
         const check = { scope: 'key', id: 'k', name: 'rpm', limit: 1, cost: 1 };
         const failed = await s.admit([check], 0).then(() => false, () => true);
         await s.close();
         console.log(JSON.stringify({ before, after: loaded(), failed }));`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(JSON.parse(out.stdout)).toEqual({ before: false, after: true, failed: true });
  });
});
