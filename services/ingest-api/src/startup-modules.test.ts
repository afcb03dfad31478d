import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DEFAULT_YOUNG_GENERATION_MB } from '@maniac-gateway/runtime';
import { childNodeJson, sourceFile } from '@maniac-gateway/runtime/testing';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';

/**
 * Runs `code` in a child process after importing ingest-api's app (this worker's module cache already holds what
 * other tests loaded, undici's index among them), and `before` before it; `cached(part)` tells whether a loaded
 * CommonJS module's path contains `part`. Returns what the code printed, parsed.
 */
function afterImportingApp(code: string, before = ''): unknown {
  return childNodeJson(`import { createRequire } from 'node:module';
    ${before}
    await import(${sourceFile('./app.ts', import.meta.url)});
    const cached = (part) => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes(part));
    ${code}`).printed;
}

describe('what ingest-api loads at start-up', () => {
  it("undici's Pool and request modules, not the package's index; not ioredis", () => {
    expect(
      afterImportingApp(`console.log(JSON.stringify({
        pool: cached('/undici/lib/dispatcher/pool.js'),
        index: cached('/undici/index.js'),
        ioredis: cached('/ioredis/'),
      }));`),
    ).toEqual({ pool: true, index: false, ioredis: false });
  });

  it('ioredis once a Redis counter store is made', () => {
    // Redis at port 1: nothing listens, the command fails fast (no offline queue): the limiter fails open.
    const store = sourceFile('./limits/redis-store.ts', import.meta.url);
    expect(
      afterImportingApp(`const { RedisCounterStore } = await import(${store});
        const s = new RedisCounterStore('redis://127.0.0.1:1');
        const check = { scope: 'key', id: 'k', name: 'rpm', limit: 1, cost: 1 };
        const failed = await s.admit([check], 0).then(() => false, () => true);
        await s.close();
        console.log(JSON.stringify({ ioredis: cached('/ioredis/'), failed }));`),
    ).toEqual({ ioredis: true, failed: true });
  });

  it('a young generation held at the default cap when the entry point imports the cap first', () => {
    // Loading the app (transpiled here, as the tests run) grows V8's young generation to its 32 MB without the
    // cap; server.ts and the CLI import it first.
    const young = `const { getHeapSpaceStatistics } = await import('node:v8');
      console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20);`;
    expect(afterImportingApp(young)).toBeGreaterThan(DEFAULT_YOUNG_GENERATION_MB);
    expect(afterImportingApp(young, "await import('@maniac-gateway/runtime/cap-young-generation');")).toBe(
      DEFAULT_YOUNG_GENERATION_MB,
    );
    const firstImport = (entry: string): string | undefined =>
      readFileSync(fileURLToPath(new URL(entry, import.meta.url)), 'utf8').match(/^import .*$/m)?.[0];
    expect(firstImport('./server.ts')).toBe("import '@maniac-gateway/runtime/cap-young-generation';");
    expect(firstImport('../../../packages/cli/src/main.ts')).toBe(
      "import '@maniac-gateway/runtime/cap-young-generation';",
    );
  });

  it("undici's modules loaded alone are the class and the call the package exports", () => {
    const load = createRequire(import.meta.url);
    expect(load('undici/lib/dispatcher/pool.js')).toBe(Pool);
    // The package's index makes it every dispatcher's request method.
    expect(load('undici/lib/api/api-request.js')).toBe(Pool.prototype.request);
  });
});
