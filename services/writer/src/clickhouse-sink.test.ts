import { describe, expect, it } from 'vitest';
import { eventIdRuns } from './clickhouse-sink.js';

describe('eventIdRuns (the event-id fence query plan)', () => {
  it('groups close creation times into one run and splits at gaps', () => {
    const t = 1_790_000_000_000;
    const rows = [
      { event_id: 'c', created_ms: t + 2_000 },
      { event_id: 'old', created_ms: t - 86_400_000 },
      { event_id: 'a', created_ms: t },
      { event_id: 'b', created_ms: t + 1_000 },
    ];
    expect(eventIdRuns(rows)).toEqual([
      { from: t - 86_400_000, to: t - 86_400_000, ids: ['old'] },
      { from: t, to: t + 2_000, ids: ['a', 'b', 'c'] },
    ]);
  });

  it('caps the ids per run', () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ event_id: `e${i}`, created_ms: 1_000 + i }));
    expect(eventIdRuns(rows, 60_000, 2).map((r) => r.ids)).toEqual([['e0', 'e1'], ['e2', 'e3'], ['e4']]);
    expect(eventIdRuns([])).toEqual([]);
  });
});
