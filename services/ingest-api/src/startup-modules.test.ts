import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DEFAULT_YOUNG_GENERATION_MB } from '@maniac-gateway/runtime';
import { PRINT_LARGEST_YOUNG_GENERATION, childNodeJson, sourceFile } from '@maniac-gateway/runtime/testing';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';

/**
 * Runs `code` in a child process after importing ingest-api's app (this worker's module cache already holds what
 * other tests loaded, undici's index among them), as an entry point does (static imports: every module evaluated
 * in one stretch), with the imports `before` ahead of it; `cached(part)` tells whether a loaded CommonJS module's
 * path contains `part`. Returns what the code printed, parsed.
 */
function afterImportingApp(code: string, before = ''): unknown {
  return childNodeJson(`import { createRequire } from 'node:module';
    ${before}
    import ${sourceFile('./app.ts', import.meta.url)};
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
    // Start-up alone grew the built server's young generation to V8's 32 MB (how far loading the app grows it
    // here, transpiled, varies: 16 or 32 MB), and V8 does not shrink it: server.ts and the CLI import the cap
    // first. After loading the app, objects that outlive their scavenges (in-flight requests, in the server) make
    // V8 grow it, turn after turn; the largest size seen is printed.
    const young = PRINT_LARGEST_YOUNG_GENERATION;
    expect(afterImportingApp(young)).toBeGreaterThan(DEFAULT_YOUNG_GENERATION_MB);
    expect(afterImportingApp(young, "import '@maniac-gateway/runtime/cap-young-generation';")).toBe(
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
