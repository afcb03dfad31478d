import { describe, expect, it } from 'vitest';
import { makeEvent, produce, scalar, waitFor, writerSuite } from './support.js';

/**
 * kafkajs gives up on a consumer after an error it deems non-retriable (found by the fault suite: "Failed to find
 * group coordinator" while Kafka restarts left the writer down until the process was restarted). The writer
 * replaces such a consumer itself, with backoff, and goes on storing every event exactly once.
 */
describe('writer consumer restart', () => {
  let crashes = 1;
  const t = writerSuite('restart', {
    partitions: 1,
    options: { batchMaxRows: 50, flushIntervalMs: 100 },
    hooks: {
      onBatch: () => {
        if (crashes > 0) {
          crashes--;
          throw Object.assign(new Error('simulated non-retriable consumer failure'), { retriable: false });
        }
      },
    },
  });

  it('replaces a consumer kafkajs gave up on and stores every event once', async () => {
    const events = Array.from({ length: 20 }, () => makeEvent());
    await produce(t.kafka, t.topic, events);
    await waitFor(
      'every event stored',
      async () =>
        (await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)) === events.length ? true : undefined,
      60_000,
    );
    expect(crashes).toBe(0);
    expect(await scalar(t.ch, `SELECT uniqExact(completion_id) FROM ${t.db}.completions`)).toBe(
      events.length,
    );
    const check = t.writer.checks().find((c) => c.name === 'writer_consumer');
    await waitFor('writer ready again', async () => ((await check?.check()) === null ? true : undefined));
  });
});
