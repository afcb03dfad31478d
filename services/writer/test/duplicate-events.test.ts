import { describe, expect, it } from 'vitest';
import { makeEvent, produce, scalar, waitFor, writerSuite } from './support.js';

/**
 * The same event at several offsets — what a producer leaves on the topic when a send times out (broker stalled)
 * and the batch is spooled and replayed although the first send did land, or when a crash interrupts a spool
 * replay. Found by the fault-injection suite: rows collapsed at merge time (ReplacingMergeTree) but the rollups
 * counted every copy. The writer stores each event once, rows and rollups alike.
 */
describe('writer stores an event re-sent at another offset once', () => {
  const t = writerSuite('dup', { partitions: 1, options: { batchMaxRows: 50, flushIntervalMs: 100 } });

  it('within one batch, across batches, and as the tail of a batch', async () => {
    const a = makeEvent();
    const b = makeEvent();
    const c = makeEvent();
    // One batch holding a twice, then b; later batches re-send a and b; c's copy is the last offset.
    await produce(t.kafka, t.topic, [a, a, b]);
    await waitFor('first batch stored', async () =>
      (await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)) === 2 ? true : undefined,
    );
    await produce(t.kafka, t.topic, [b, c, a]);
    await produce(t.kafka, t.topic, [c]);
    await waitFor('offsets recorded up to the last copy', async () =>
      (await scalar(t.ch, `SELECT max(last_offset) FROM ${t.db}.kafka_offsets`)) === 6 ? true : undefined,
    );
    expect(await t.writer.drained()).toBe(true);
    expect(await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)).toBe(3);
    expect(await scalar(t.ch, `SELECT count() FROM ${t.db}.completions_by_id`)).toBe(3);
    expect(await scalar(t.ch, `SELECT sum(requests) FROM ${t.db}.usage_hourly`)).toBe(3);
    expect(await scalar(t.ch, `SELECT sum(requests) FROM ${t.db}.usage_daily`)).toBe(3);
    expect(await scalar(t.ch, `SELECT sum(prompt_tokens_sum) FROM ${t.db}.usage_daily`)).toBe(30);
  });
});

/**
 * The next batch's fence is queried while the insert before it is in flight; that insert's rows are not in the
 * answer, so a copy of one of them in the next batch must still be caught.
 */
describe('writer fences the next batch ahead, while an insert is in flight', () => {
  let lookAheads = 0;
  let firstInsert = true;
  let lookAhead: Promise<unknown> | null = null;
  const t = writerSuite('dupahead', {
    partitions: 1,
    options: { batchMaxRows: 3, flushIntervalMs: 100 },
    hooks: {
      onFenceAhead: (lookup) => {
        lookAheads++;
        lookAhead = lookup;
      },
      beforeInsert: async () => {
        if (!firstInsert) return;
        firstInsert = false;
        // Hold the first insert until the second batch is buffered and its fence has been answered.
        await waitFor('the next batch fenced ahead', () => (lookAhead ? true : undefined));
        await lookAhead;
      },
    },
  });

  it('a copy of an event in the insert in flight is stored once', async () => {
    // Batches of three: [a b c] [a' d e], where a' is a re-sent copy of a.
    const events = Array.from({ length: 5 }, () => makeEvent());
    await produce(t.kafka, t.topic, [...events.slice(0, 3), events[0]!, ...events.slice(3)]);
    await waitFor('offsets recorded up to the last event', async () =>
      (await scalar(t.ch, `SELECT max(last_offset) FROM ${t.db}.kafka_offsets`)) === 5 ? true : undefined,
    );
    expect(await t.writer.drained()).toBe(true);
    expect(lookAheads).toBeGreaterThanOrEqual(1);
    expect(await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)).toBe(5);
    expect(await scalar(t.ch, `SELECT uniqExact(event_id) FROM ${t.db}.completions`)).toBe(5);
    expect(await scalar(t.ch, `SELECT sum(requests) FROM ${t.db}.usage_daily`)).toBe(5);
  });
});
