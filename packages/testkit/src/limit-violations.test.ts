import { describe, expect, it } from 'vitest';
import { limitViolations } from './fixtures.js';

const many = (n: number, status: number, reset: string | null) =>
  Array.from({ length: n }, () => ({ status, reset }));

describe('limitViolations', () => {
  it('exactly the limit in a refusing window passes; more, or fewer than the failed-open admissions allow, does not', () => {
    expect(limitViolations([...many(4, 200, '60'), ...many(6, 429, '60')], 4)).toEqual([]);
    // A burst straddling two windows: the first did not reach the limit and refused nothing.
    expect(
      limitViolations([...many(2, 200, '60'), ...many(4, 200, '120'), ...many(4, 429, '120')], 4),
    ).toEqual([]);
    // One admission failed open (no headers) and was counted by Redis: its window shows one fewer.
    expect(limitViolations([...many(3, 200, '60'), ...many(1, 200, null), ...many(6, 429, '60')], 4)).toEqual(
      [],
    );
    expect(limitViolations([...many(3, 200, '60'), ...many(7, 429, '60')], 4)).toEqual([
      'window 60: 3 admitted while refusing (0 failed open)',
    ]);
    expect(limitViolations([...many(5, 200, '60'), ...many(5, 429, '60')], 4)).toEqual([
      'window 60: 5 admitted, above 4',
    ]);
    expect(limitViolations(many(4, 200, '60'), 4)).toEqual(['no request was refused']);
  });
});
