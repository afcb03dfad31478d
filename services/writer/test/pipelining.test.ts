import { describe, expect, it } from 'vitest';
import type { RowKey } from '../src/index.js';
import { makeEvent, produce, scalar, waitFor, writerSuite } from './support.js';

/**
 * The writer decodes the next chunk of a fetch while the previous one is being inserted, yet inserts stay one at a
 * time and in offset order, and an insert that fails part-way through the pipeline loses and repeats nothing.
 */
describe('writer pipelines inserts behind decoding', () => {
  const inserted: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let decodedDuringInsert = false;
  let failures = 0;
  const t = writerSuite('pipe', {
    partitions: 1,
    options: { batchMaxRows: 10, flushIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 200 },
    hooks: {
      beforeInsert: (rows: readonly RowKey[]) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // The rest of the fetch was decoded into the buffer while this chunk went through the fences.
        if (t.writer.status().buffered > 0) decodedDuringInsert = true;
        if (rows[0]?.kafka_offset === '20' && failures === 0) {
          failures++;
          inFlight--;
          throw new Error('simulated connection reset during the third insert');
        }
      },
      afterInsert: ({ rows }) => {
        inFlight--;
        inserted.push(rows.map((r) => r.kafka_offset));
      },
    },
  });

  it('overlaps decoding with inserts, one insert at a time, in order, through a failed insert', async () => {
    const events = Array.from({ length: 60 }, () => makeEvent());
    await produce(t.kafka, t.topic, events, 0);
    await waitFor('all 60 events stored', async () =>
      (await scalar(t.ch, `SELECT max(last_offset) + 1 FROM ${t.db}.kafka_offsets`)) === 60
        ? true
        : undefined,
    );
    expect(await t.writer.drained()).toBe(true);

    expect(failures).toBe(1);
    expect(decodedDuringInsert).toBe(true);
    expect(maxInFlight).toBe(1);
    // Every offset inserted exactly once, in offset order across inserts.
    expect(inserted.flat()).toEqual(Array.from({ length: 60 }, (_, i) => String(i)));
    expect(await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)).toBe(60);
    expect(await scalar(t.ch, `SELECT uniqExact(event_id) FROM ${t.db}.completions`)).toBe(60);
    expect(await scalar(t.ch, `SELECT sum(requests) FROM ${t.db}.usage_hourly`)).toBe(60);
    expect(await scalar(t.ch, `SELECT count() FROM ${t.db}.event_ids`)).toBe(60);
  });
});
