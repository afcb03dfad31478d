import { describe, expect, it } from 'vitest';
import { monthBounds } from './budget.js';

describe('monthBounds', () => {
  it('gives the UTC month of an instant, and its bounds, across month boundaries either way', () => {
    const lastMs = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
    expect(monthBounds(lastMs)).toEqual({
      startMs: Date.UTC(2026, 0, 1),
      endMs: Date.UTC(2026, 1, 1),
      month: '2026-01',
    });
    expect(monthBounds(Date.UTC(2026, 0, 1)).month).toBe('2026-01');
    expect(monthBounds(Date.UTC(2026, 1, 1))).toEqual({
      startMs: Date.UTC(2026, 1, 1),
      endMs: Date.UTC(2026, 2, 1),
      month: '2026-02',
    });
    expect(monthBounds(lastMs).month).toBe('2026-01');
    expect(monthBounds(Date.UTC(2026, 11, 15)).endMs).toBe(Date.UTC(2027, 0, 1));
  });
});
