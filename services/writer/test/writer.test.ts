import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeEvent, produce, queryRows, scalar, waitFor, writerSuite } from './support.js';

/** Projection of produced events into completions, the id lookup, the offsets table and the rollups. */
describe('writer projects completion events into ClickHouse', () => {
  const t = writerSuite('proj', { options: { flushIntervalMs: 200 } });

  it('stores every field of every event exactly once, with lookups, offsets and rollups', async () => {
    const base = Date.UTC(2026, 0, 15, 10, 30, 0);
    const events = Array.from({ length: 60 }, (_, i) =>
      makeEvent({
        project_id: i % 3 === 0 ? 'proj_b' : 'proj_a',
        container: i % 4 === 0 ? 'support-bot' : null,
        model: i % 2 === 0 ? 'openai/gpt-4o' : 'groq/llama-3.1-8b-instant',
        provider: i % 2 === 0 ? 'openai' : 'groq',
        status: i % 10 === 0 ? 'error' : 'success',
        http_status: i % 10 === 0 ? 502 : 200,
        spend_nanos: i % 5 === 0 ? null : 1_000 + i,
        usage: {
          prompt_tokens: 100 + i,
          completion_tokens: 10 + i,
          total_tokens: 110 + 2 * i,
          cached_tokens: i % 2 === 0 ? 50 : null,
          cache_creation_tokens: null,
          reasoning_tokens: i % 3 === 0 ? 7 : null,
        },
        created_ms: base + i * 60_000 + (i % 1000),
        tags: [`t${i % 2}`, 'all'],
      }),
    );
    await produce(t.kafka, t.topic, events);

    await waitFor('all rows stored', async () =>
      (await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)) === events.length &&
      (await t.writer.drained())
        ? true
        : undefined,
    );

    // Exactly once: no duplicates even without FINAL.
    expect(await scalar(t.ch, `SELECT uniqExact(event_id) FROM ${t.db}.completions`)).toBe(events.length);
    expect(await scalar(t.ch, `SELECT count() FROM ${t.db}.completions_by_id`)).toBe(events.length);

    // Every field projected.
    const sample = events[2]!;
    const [row] = await queryRows<Record<string, unknown>>(
      t.ch,
      `SELECT * FROM ${t.db}.completions WHERE event_id = '${sample.event_id}'`,
    );
    expect(row).toMatchObject({
      event_id: sample.event_id,
      source: 'completion',
      completion_id: sample.completion_id,
      project_id: 'proj_a',
      key_id: 'key_test',
      request_id: sample.request_id,
      container: '',
      model: 'openai/gpt-4o',
      provider: 'openai',
      upstream_model: 'gpt-4o-mini-2024-07-18',
      upstream_id: sample.upstream_id,
      stream: 0,
      status: 'success',
      http_status: 200,
      error_code: null,
      finish_reason: 'stop',
      has_usage: 1,
      prompt_tokens: '102',
      completion_tokens: '12',
      total_tokens: '114',
      cached_tokens: '50',
      cache_creation_tokens: null,
      reasoning_tokens: null,
      spend_nanos: '1002',
      latency_ms: '120',
      ttft_ms: '40',
      attempt_count: 1,
      tags: ['t0', 'all'],
      metadata_json: sample.metadata_json,
      trace_json: sample.trace_json,
      trace_id: JSON.parse(sample.trace_json!).id,
      request_json: sample.request_json,
      response_json: sample.response_json,
      created_at: new Date(sample.created_ms).toISOString().slice(0, 19).replace('T', ' '),
      created_ms: String(sample.created_ms),
      kafka_topic: t.topic,
    });
    expect(JSON.parse(row!.attempts_json as string)).toEqual([
      {
        provider: 'openai',
        model: 'gpt-4o-mini',
        status: 200,
        error_code: null,
        message: null,
        latency_ms: 118,
      },
    ]);

    // kafka_offsets holds the highest stored offset of every partition.
    const offsets = await queryRows<{ p: number; last: string; maxRow: string }>(
      t.ch,
      `SELECT o.p AS p, o.last AS last, r.maxRow AS maxRow FROM
        (SELECT kafka_partition AS p, toString(max(last_offset)) AS last FROM ${t.db}.kafka_offsets GROUP BY p) AS o
        ANY INNER JOIN
        (SELECT kafka_partition AS p, toString(max(kafka_offset)) AS maxRow FROM ${t.db}.completions GROUP BY p) AS r
        USING p`,
    );
    expect(offsets.length).toBeGreaterThan(0);
    for (const o of offsets) expect(o.last).toBe(o.maxRow);

    // Rollups agree with the rows, hourly and daily.
    const expected = {
      requests: events.length,
      errors: events.filter((e) => e.status === 'error').length,
      prompt: events.reduce((n, e) => n + e.usage!.prompt_tokens, 0),
      completion: events.reduce((n, e) => n + e.usage!.completion_tokens, 0),
      cached: events.reduce((n, e) => n + (e.usage!.cached_tokens ?? 0), 0),
      reasoning: events.reduce((n, e) => n + (e.usage!.reasoning_tokens ?? 0), 0),
      spend: events.reduce((n, e) => n + (e.spend_nanos ?? 0), 0),
      unknown: events.filter((e) => e.spend_nanos === null).length,
    };
    for (const table of ['usage_hourly', 'usage_daily']) {
      const [sums] = await queryRows<Record<string, string>>(
        t.ch,
        `SELECT sum(requests) AS requests, sum(errors) AS errors, sum(prompt_tokens_sum) AS prompt,
           sum(completion_tokens_sum) AS completion, sum(cached_tokens_sum) AS cached,
           sum(reasoning_tokens_sum) AS reasoning, sum(spend_nanos_sum) AS spend, sum(spend_unknown) AS unknown
         FROM ${t.db}.${table}`,
      );
      expect(Object.fromEntries(Object.entries(sums!).map(([k, v]) => [k, Number(v)]))).toEqual(expected);
    }
    // Per-dimension: project × container × model.
    const perKey = await queryRows<{
      project_id: string;
      container: string;
      model: string;
      requests: string;
    }>(
      t.ch,
      `SELECT project_id, container, model, sum(requests) AS requests FROM ${t.db}.usage_daily
       GROUP BY project_id, container, model ORDER BY project_id, container, model`,
    );
    const counted = new Map<string, number>();
    for (const e of events) {
      const key = `${e.project_id}|${e.container ?? ''}|${e.model ?? ''}`;
      counted.set(key, (counted.get(key) ?? 0) + 1);
    }
    expect(
      new Map(perKey.map((r) => [`${r.project_id}|${r.container}|${r.model}`, Number(r.requests)])),
    ).toEqual(counted);
    // Hourly buckets: one event a minute over an hour → two hours.
    expect(await scalar(t.ch, `SELECT uniqExact(hour) FROM ${t.db}.usage_hourly`)).toBe(2);
  });

  it('stores text outside ASCII and JSON-escaped characters byte for byte', async () => {
    const text = 'héllo — 你好 😀 tab\there\nnew line, back\\slash, "quoted", nul\u0000, ∑';
    const event = makeEvent({
      request_json: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: text }] }),
      error_message: text,
      tags: ['ünïcode', '😀'],
    });
    await produce(t.kafka, t.topic, [event]);
    await waitFor('the row stored', async () =>
      (await scalar(t.ch, `SELECT count() FROM ${t.db}.completions WHERE event_id = '${event.event_id}'`)) ===
      1
        ? true
        : undefined,
    );
    const [row] = await queryRows<{ request_json: string; error_message: string; tags: string[] }>(
      t.ch,
      `SELECT request_json, error_message, tags FROM ${t.db}.completions WHERE event_id = '${event.event_id}'`,
    );
    expect(row?.request_json).toBe(event.request_json);
    expect(row?.error_message).toBe(text);
    expect(row?.tags).toEqual(['ünïcode', '😀']);
  });
});

/**
 * Fetches are small (256 KiB per partition by default): record batches larger than a fetch's limits must still be
 * consumed whole and in order (the broker returns the first batch of a partition whatever its size).
 */
describe('writer with fetch limits below the record batches', () => {
  const t = writerSuite('fetch', {
    options: { flushIntervalMs: 200, fetchMaxBytesPerPartition: 8 * 1024, fetchMaxBytes: 16 * 1024 },
  });

  it('stores every event of batches larger than a fetch, once and in offset order', async () => {
    const noise = (n: number) => randomBytes(n).toString('base64');
    const sends = [
      Array.from({ length: 20 }, () => makeEvent({ metadata_json: JSON.stringify({ pad: noise(1_500) }) })),
      Array.from({ length: 2 }, () => makeEvent({ metadata_json: JSON.stringify({ pad: noise(40_000) }) })),
      Array.from({ length: 5 }, () => makeEvent()),
    ];
    // One send per record batch, all on partition 0: three batches of ~54 KB, ~108 KB and ~4 KB (Avro values).
    for (const events of sends) await produce(t.kafka, t.topic, events, 0);
    const all = sends.flat();
    await waitFor('every event stored', async () =>
      (await scalar(t.ch, `SELECT count() FROM ${t.db}.completions`)) >= all.length ? true : undefined,
    );
    const rows = await queryRows<{ event_id: string; kafka_offset: string }>(
      t.ch,
      `SELECT event_id, kafka_offset FROM ${t.db}.completions ORDER BY kafka_offset`,
    );
    expect(rows.map((r) => r.event_id)).toEqual(all.map((e) => e.event_id));
    expect(rows.map((r) => Number(r.kafka_offset))).toEqual(all.map((_, i) => i));
  });
});
