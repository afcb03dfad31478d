import { writeFileSync } from 'node:fs';
import { MockUpstream, pollUntil, startTestHost, testConfig } from '@maniac-gateway/testkit';
import { composeComponents } from '../../src/compose.js';

/**
 * The gateway as `npm start` composes it (ingest-api, writer, query-api on one port) in front of a mock upstream,
 * for scripts/fuzz.sh: real Kafka and ClickHouse (KAFKA_BROKERS / CLICKHOUSE_URL), unique topics and database.
 * Writes {"url","key","database"} to the file named by argv[2] once ready; stops on SIGTERM/SIGINT.
 */
const out = process.argv[2];
if (!out) throw new Error('usage: fuzz-server.ts <ready-file>');

const mock = new MockUpstream();
await mock.start();
const config = testConfig({
  providers: {
    openai: { base_url: mock.url, api_key: 'sk-fuzz', models: ['gpt-4o-mini'] },
    // Every provider slug a fuzzer may produce resolves to the mock (anything else is 404 model_not_found).
    // Parameters Anthropic cannot honour are dropped rather than refused with a (documented) 501.
    anthropic: { base_url: mock.url, api_key: 'sk-fuzz', kind: 'anthropic', drop_unsupported_params: true },
  },
  containers: [{ label: 'fuzz', model: 'openai/gpt-4o-mini' }],
});
config.server.port = Number(process.env.FUZZ_PORT ?? 0);
const gw = await startTestHost(config, composeComponents);

// A few stored completions, so that get-by-id can be fuzzed against ids that exist (hooks.py, FUZZ_IDS).
const ids: string[] = [];
for (let i = 0; i < 5; i++) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `seed ${i}` }] }),
  });
  ids.push(((await res.json()) as { id: string }).id);
}
for (const id of ids) {
  await pollUntil(
    async () =>
      (
        await fetch(`${gw.url}/v1/chat/completions/${id}`, {
          headers: { authorization: `Bearer ${gw.apiKey}` },
        })
      ).status === 200
        ? true
        : undefined,
    { timeoutMs: 60_000, message: `seed completion ${id} not stored` },
  );
}
writeFileSync(
  out,
  JSON.stringify({ url: gw.url, key: gw.apiKey, database: config.clickhouse.database, ids }),
);
console.error(`[fuzz-server] ${gw.url} (database ${config.clickhouse.database})`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await gw.stop();
    await mock.stop();
    process.exit(0);
  })();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
