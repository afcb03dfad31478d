import { describe, expect, it } from 'vitest';
import { positiveIntEnv } from './env-number.js';

describe('positiveIntEnv', () => {
  it('unset or empty is the fallback; positive integers are taken; anything else names the variable', () => {
    expect(positiveIntEnv(undefined, 'WRITER_FLUSH_INTERVAL_MS', 500)).toBe(500);
    expect(positiveIntEnv('  ', 'WRITER_FLUSH_INTERVAL_MS', 500)).toBe(500);
    expect(positiveIntEnv('250', 'WRITER_FLUSH_INTERVAL_MS', 500)).toBe(250);
    expect(positiveIntEnv(' 1 ', 'WRITER_FLUSH_INTERVAL_MS', 500)).toBe(1);
    for (const bad of ['0', '-5', '2.5', 'fast', '1e400']) {
      expect(() => positiveIntEnv(bad, 'WRITER_FLUSH_INTERVAL_MS', 500)).toThrow(
        /WRITER_FLUSH_INTERVAL_MS must be a positive integer/,
      );
    }
  });
});
