import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';

describe("undici's Pool and request, loaded alone (upstream.ts)", () => {
  it('are the class and the call the package exports', () => {
    const load = createRequire(import.meta.url);
    expect(load('undici/lib/dispatcher/pool.js')).toBe(Pool);
    // The package's index makes it every dispatcher's request method.
    expect(load('undici/lib/api/api-request.js')).toBe(Pool.prototype.request);
  });

  it("ingest-api loads it without the package's index", () => {
    // In a child process: this file imported the index above.
    const app = JSON.stringify(fileURLToPath(new URL('../app.ts', import.meta.url)));
    const out = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module';
         await import(${app});
         const paths = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/undici/'));
         console.log(JSON.stringify({
           pool: paths.some((p) => p.endsWith('/undici/lib/dispatcher/pool.js')),
           index: paths.some((p) => p.endsWith('/undici/index.js')),
         }));`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(JSON.parse(out.stdout)).toEqual({ pool: true, index: false });
  });
});
