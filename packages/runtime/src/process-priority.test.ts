import { execFileSync } from 'node:child_process';
import { getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNice } from './process-priority.js';

describe('parseNice', () => {
  it('unset or empty is the fallback; 0–19 are taken; anything else names the variable', () => {
    expect(parseNice(undefined, 'WRITER_NICE', 10)).toBe(10);
    expect(parseNice(' ', 'WRITER_NICE', 10)).toBe(10);
    expect(parseNice('0', 'WRITER_NICE', 10)).toBe(0);
    expect(parseNice('19', 'WRITER_NICE', 10)).toBe(19);
    for (const bad of ['-1', '20', '2.5', 'low']) {
      expect(() => parseNice(bad, 'WRITER_NICE', 10)).toThrow(/WRITER_NICE must be an integer from 0 to 19/);
    }
  });
});

describe('lowerCpuPriority', () => {
  it('lowers the priority of the process it runs in, and never raises it', () => {
    // In a child process: lowering this test worker's own priority would slow every test after it.
    const module = fileURLToPath(new URL('./process-priority.ts', import.meta.url));
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { lowerCpuPriority } from ${JSON.stringify(module)};
         import { getPriority } from 'node:os';
         const first = lowerCpuPriority(7);
         const second = lowerCpuPriority(3);
         console.log(JSON.stringify([first, second, getPriority()]));`,
      ],
      { encoding: 'utf8' },
    );
    const start = getPriority();
    const expected = Math.max(start, 7);
    expect(JSON.parse(out)).toEqual([expected, expected, expected]);
    // This process is untouched.
    expect(getPriority()).toBe(start);
  });
});
