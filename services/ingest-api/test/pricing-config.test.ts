import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventCollector,
  MockUpstream,
  openAiResponse,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

let mock: MockUpstream;
let gw: TestHost;
let events: EventCollector;

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const dir = mkdtempSync(join(tmpdir(), 'prices-'));
  const litellm = join(dir, 'model_prices.json');
  // LiteLLM's format: USD per token.
  writeFileSync(
    litellm,
    JSON.stringify({
      'house-model': {
        litellm_provider: 'openai',
        mode: 'chat',
        input_cost_per_token: 0.000002,
        output_cost_per_token: 0.000004,
      },
    }),
  );
  const config = testConfig({
    providers: { openai: { base_url: mock.url } },
    extra: { pricing: { files: [litellm], models: { 'openai/own-model': { input: 1, output: 3 } } } },
  });
  gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)]);
  events = new EventCollector(config.kafka.topics.completions);
  await events.start();
});

afterAll(async () => {
  await events?.stop();
  await gw?.stop();
  await mock?.stop();
});

async function spendOf(model: string): Promise<number | null> {
  mock.script(model, {
    kind: 'json',
    body: openAiResponse({ usage: { prompt_tokens: 1000, completion_tokens: 1000 } }),
  });
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: `openai/${model}`, messages: [{ role: 'user', content: 'x' }] }),
  });
  const { id } = (await res.json()) as { id: string };
  return (await events.waitFor((e) => e.completion_id === id)).spend_nanos;
}

describe('prices from config', () => {
  it('config entries and LiteLLM price files extend the built-in table; unknown models have no spend', async () => {
    // 1000 × $1/M + 1000 × $3/M = $0.004
    expect(await spendOf('own-model')).toBe(4_000_000);
    // 1000 × $2/M + 1000 × $4/M = $0.006
    expect(await spendOf('house-model')).toBe(6_000_000);
    expect(await spendOf('nobody-knows')).toBeNull();
  });
});
