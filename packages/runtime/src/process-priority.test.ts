import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseNice } from './process-priority.js';
import { childNodeJson, sourceFile } from './testing/child-node.js';

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
    const { printed } = childNodeJson(
      `import { lowerCpuPriority } from ${sourceFile('./process-priority.ts', import.meta.url)};
       import { getPriority } from 'node:os';
       const first = lowerCpuPriority(7);
       const second = lowerCpuPriority(3);
       console.log(JSON.stringify([first, second, getPriority()]));`,
    );
    const start = getPriority();
    const expected = Math.max(start, 7);
    expect(printed).toEqual([expected, expected, expected]);
    // This process is untouched.
    expect(getPriority()).toBe(start);
  });
});
