#!/usr/bin/env node
// Runs the compiled CLI when built; in a checkout without a build, runs the TypeScript sources through tsx with
// the workspace's `development` export condition.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const built = join(here, '..', 'dist', 'main.js');
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const result = spawnSync(
    process.execPath,
    [
      '--conditions=development',
      '--import',
      pathToFileURL(tsx).href,
      join(here, '..', 'src', 'main.ts'),
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}
