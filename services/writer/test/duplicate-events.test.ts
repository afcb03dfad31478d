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
