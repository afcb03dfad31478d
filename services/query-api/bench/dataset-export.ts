/**
 * Dataset export at volume: loads ROWS synthetic completions of one container (30 days of traffic, 2% errors, a
 * tenth registered) into a fresh database with the real migrations and views, then streams the whole dataset
 * through the exporter into a consumer that drains at most --mbps MB/s (0: as fast as it can), sampling the
 * process's resident memory. Constant memory means the peak RSS does not grow with ROWS.
 *
 *   npx tsx --conditions development services/query-api/bench/dataset-export.ts [--rows 1000000] [--mbps 0]
 *     [--database NAME --keep]   (reuse a loaded database: skips loading when it already has the rows)
 *
 * Uses CLICKHOUSE_URL.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { createLogger } from '@maniac-gateway/runtime';
import { migrate } from '@maniac-gateway/writer';
import { DatasetExporter, DatasetQuery, datasetFilter } from '../src/index.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    database: { type: 'string', default: `bench_ds_${Date.now().toString(36)}` },
    keep: { type: 'boolean', default: false },
    mbps: { type: 'string', default: '0' },
  },
});
const rows = Number(values.rows);
const database = values.database;
const mbps = Number(values.mbps);
const ch = createClient({
  url: process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
  request_timeout: 600_000,
});
const logger = createLogger({ name: 'bench', level: 'warn' });
const PROJECT = 'proj_ds';
const base = Date.UTC(2026, 0, 1);
const step = Math.max(1, Math.floor((30 * 86_400_000) / rows));

async function count(): Promise<number> {
  const rs = await ch.query({
    query: `SELECT count() AS n FROM ${database}.completions`,
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
}

async function load(): Promise<void> {
  await migrate(ch, { database, logger });
  const have = await count();
  if (have >= rows) {
    console.log(`reusing ${database}: ${have} rows`);
    return;
  }
  const chunk = 500_000;
  const started = Date.now();
  for (let from = have; from < rows; from += chunk) {
    const n = Math.min(chunk, rows - from);
    await ch.command({
      query: `INSERT INTO ${database}.completions
        SELECT
          toString(generateUUIDv4()) AS event_id, if(number % 10 = 0, 'register', 'completion') AS source,
          concat('chatcmpl-', toString(number)) AS completion_id, '${PROJECT}' AS project_id,
          'key_1' AS key_id, concat('req_', toString(number)) AS request_id, 'support-bot' AS container,
          'openai/gpt-4o-mini' AS model, 'openai' AS provider,
          NULL AS upstream_model, NULL AS upstream_id, 0 AS stream,
          if(number % 50 = 1, 'error', 'success') AS status, if(number % 50 = 1, 502, 200) AS http_status,
          NULL AS error_code, NULL AS error_message, 'stop' AS finish_reason,
          1 AS has_usage, 100 AS prompt_tokens, 20 AS completion_tokens, 120 AS total_tokens,
          NULL AS cached_tokens, NULL AS cache_creation_tokens, NULL AS reasoning_tokens,
          toNullable(toInt64(9000)) AS spend_nanos, 300 AS latency_ms, NULL AS ttft_ms, 1 AS attempt_count,
          '[]' AS attempts_json, [if(number % 3 = 0, 'gold', 'silver')] AS tags, NULL AS metadata_json,
          NULL AS trace_json, NULL AS trace_id,
          concat('{"model":"maniac:support-bot","messages":[{"role":"user","content":"Question number ', toString(number), ': what is the capital of the country with the id ', toString(number % 197), '?"}]}') AS request_json,
          if(number % 50 = 1, NULL, concat('{"id":"chatcmpl-', toString(number), '","object":"chat.completion","created":1,"model":"openai/gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"The answer to question ', toString(number), ' is a city; here are a few sentences of explanation to make the row realistic."},"finish_reason":"stop"}]}')) AS response_json,
          toDateTime(intDiv(${base} + number * ${step}, 1000)) AS created_at,
          ${base} + number * ${step} AS created_ms,
          'bench' AS kafka_topic, toUInt32(number % 6) AS kafka_partition, number AS kafka_offset, now() AS inserted_at
        FROM numbers(${from}, ${n})`,
    });
    const done = from + n;
    console.log(`loaded ${done} rows (${Math.round(done / ((Date.now() - started) / 1000))} rows/s)`);
  }
}

try {
  await load();
  const exporter = new DatasetExporter(ch, database);
  const filter = datasetFilter(PROJECT, 'support-bot', DatasetQuery.parse({}));
  const rssStart = process.memoryUsage().rss;
  let peak = rssStart;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  let bytes = 0;
  let lines = 0;
  const started = Date.now();
  const windows = await exporter.plan(filter);
  async function* body(): AsyncGenerator<string> {
    for await (const chunk of exporter.chunks(filter, { windows })) {
      lines += chunk.rows;
      yield chunk.text;
    }
  }
  // The consumer: discards, at most --mbps MB/s (a slow client), with back-pressure through the pipeline.
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (mbps <= 0) return done();
      setTimeout(done, (chunk.length / (mbps * 1e6)) * 1000);
    },
  });
  await pipeline(Readable.from(body(), { objectMode: false }), sink);
  clearInterval(sampler);
  const s = (Date.now() - started) / 1000;
  const mb = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
  console.log(
    `\n${database}: ${await count()} rows, ${windows.length} windows; exported ${lines} lines, ${mb(bytes)} ` +
      `in ${s.toFixed(1)} s (${Math.round(lines / s)} lines/s)\n` +
      `RSS: ${mb(rssStart)} before, peak ${mb(peak)} (+${mb(peak - rssStart)})`,
  );
} finally {
  if (!values.keep) await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await ch.close();
}
