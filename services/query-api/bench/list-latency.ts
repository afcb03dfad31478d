/**
 * Read latency at volume: loads ROWS synthetic completions (most of them in one project, 30 days of traffic)
 * into a fresh database with the real migrations and views, then times list at offsets 0, 1,000 and 100,000
 * (both orders, with and without a model filter), the total, and get-by-id.
 *
 *   npx tsx --conditions development services/query-api/bench/list-latency.ts [--rows 10000000]
 *     [--database NAME --keep]   (reuse a loaded database: skips loading when it already has the rows)
 *
 * Uses CLICKHOUSE_URL.
 */
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { createLogger } from '@maniac-gateway/runtime';
import { migrate } from '@maniac-gateway/writer';
import { CompletionStore } from '../src/index.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    database: { type: 'string', default: `bench_q_${Date.now().toString(36)}` },
    keep: { type: 'boolean', default: false },
    runs: { type: 'string', default: '15' },
  },
});
const rows = Number(values.rows);
const database = values.database;
const runs = Number(values.runs);
const ch = createClient({
  url: process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
  request_timeout: 600_000,
});
const logger = createLogger({ name: 'bench', level: 'warn' });
const BIG = 'proj_big';
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
  const chunk = 1_000_000;
  const started = Date.now();
  for (let from = have; from < rows; from += chunk) {
    const n = Math.min(chunk, rows - from);
    // 80% of the traffic in one project, the rest spread over 50; 4 models; a container on a third of them.
    await ch.command({
      query: `INSERT INTO ${database}.completions
        SELECT
          toString(generateUUIDv4()) AS event_id, 'completion' AS source,
          concat('chatcmpl-', toString(number)) AS completion_id,
          if(number % 5 = 0, concat('proj_', toString(number % 50)), '${BIG}') AS project_id,
          'key_1' AS key_id, concat('req_', toString(number)) AS request_id,
          if(number % 3 = 0, 'support-bot', '') AS container,
          ['openai/gpt-4o', 'openai/gpt-4o-mini', 'groq/llama-3.1-8b-instant', 'anthropic/claude-sonnet-4'][number % 4 + 1] AS model,
          ['openai', 'openai', 'groq', 'anthropic'][number % 4 + 1] AS provider,
          NULL AS upstream_model, NULL AS upstream_id, 0 AS stream,
          if(number % 50 = 0, 'error', 'success') AS status, if(number % 50 = 0, 502, 200) AS http_status,
          NULL AS error_code, NULL AS error_message, 'stop' AS finish_reason,
          1 AS has_usage, 100 + number % 900 AS prompt_tokens, 10 + number % 300 AS completion_tokens,
          110 + number % 900 + number % 300 AS total_tokens, toNullable(toUInt64(number % 64)) AS cached_tokens,
          NULL AS cache_creation_tokens, NULL AS reasoning_tokens, toNullable(toInt64(number % 100000)) AS spend_nanos,
          200 + number % 1000 AS latency_ms, NULL AS ttft_ms, 1 AS attempt_count, '[]' AS attempts_json,
          ['bench'] AS tags, '{"k":"v"}' AS metadata_json, NULL AS trace_json, NULL AS trace_id,
          concat('{"model":"openai/gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly and precisely, citing sources when asked."},{"role":"user","content":"Question number ', toString(number), ': what is the capital of the country with the id ', toString(number % 197), '?"}]}') AS request_json,
          concat('{"id":"chatcmpl-', toString(number), '","object":"chat.completion","created":', toString(intDiv(${base} + number * ${step}, 1000)), ',"model":"openai/gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"The answer to question ', toString(number), ' is a city; here are a few sentences of explanation to make the row realistic."},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120}}') AS response_json,
          toDateTime(intDiv(${base} + number * ${step}, 1000)) AS created_at,
          ${base} + number * ${step} AS created_ms,
          'bench' AS kafka_topic, toUInt32(number % 6) AS kafka_partition, number AS kafka_offset, now() AS inserted_at
        FROM numbers(${from}, ${n})`,
    });
    const done = from + n;
    const s = (Date.now() - started) / 1000;
    console.log(`loaded ${done} rows (${Math.round(done / s)} rows/s)`);
  }
  await ch.command({ query: `OPTIMIZE TABLE ${database}.completions` }).catch(() => undefined);
}

async function time(label: string, fn: () => Promise<unknown>): Promise<void> {
  await fn(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(1);
  console.log(`${label.padEnd(52)} median ${p(0.5).padStart(7)} ms   p90 ${p(0.9).padStart(7)} ms`);
}

try {
  await load();
  const store = new CompletionStore(ch, database);
  const rs = await ch.query({
    query: `SELECT count() AS n FROM ${database}.completions WHERE project_id = '${BIG}'`,
    format: 'JSONEachRow',
  });
  const bigRows = Number((await rs.json<{ n: string }>())[0]?.n);
  console.log(`\n${database}: ${await count()} rows; project ${BIG} has ${bigRows}\n`);
  for (const offset of [0, 1_000, 100_000]) {
    for (const order of ['desc', 'asc'] as const) {
      await time(`list ${BIG} limit 20 offset ${offset} ${order}`, () =>
        store.list(BIG, { limit: 20, offset, order }),
      );
    }
    await time(`list ${BIG} limit 20 offset ${offset} model=openai:gpt-4o`, () =>
      store.list(BIG, { limit: 20, offset, order: 'desc', models: ['openai:gpt-4o', 'openai/gpt-4o'] }),
    );
  }
  await time(`list small project (proj_7) limit 100`, () =>
    store.list('proj_7', { limit: 100, offset: 0, order: 'desc' }),
  );
  let i = 1;
  await time('get by id (proj_big, random ids)', () => {
    i = (i * 7919 + 13) % rows;
    const id = i % 5 === 0 ? i + 1 : i;
    return store.get(BIG, `chatcmpl-${id}`);
  });
  await time('get by id, unknown id', () => store.get(BIG, 'chatcmpl-none'));
} finally {
  if (!values.keep) await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await ch.close();
}
