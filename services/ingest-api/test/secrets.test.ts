import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MockUpstream,
  openAiResponse,
  openAiStream,
  startTestHost,
  testConfig,
  type TestHost,
} from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

const PROVIDER_KEY = 'sk-PROVIDERSECRET-1234567890';
const PROMPT_MARKER = 'PROMPT-MARKER-7f3a9c';
const ANSWER_MARKER = 'ANSWER-MARKER-19be22';

let mock: MockUpstream;
let gw: TestHost;
const logs: string[] = [];

beforeAll(async () => {
  mock = new MockUpstream();
  await mock.start();
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
  const config = testConfig({
    providers: { openai: { base_url: mock.url, api_key: PROVIDER_KEY } },
    extra: { log_level: 'trace' },
  });
  gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)], { logDestination: sink });
});

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
});

describe('secrets hygiene', () => {
  it('never writes provider keys, API keys, prompts or completions to logs or metrics', async () => {
    const post = (body: unknown, key = gw.apiKey) =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.text());
    const messages = [{ role: 'user', content: PROMPT_MARKER }];
    mock.script('gpt-4o', { kind: 'json', body: openAiResponse({ content: ANSWER_MARKER }) });
    expect(await post({ model: 'openai/gpt-4o', messages })).toContain(ANSWER_MARKER);
    mock.script('gpt-4o-mini', { kind: 'sse', events: openAiStream({ pieces: [ANSWER_MARKER] }) });
    expect(await post({ model: 'openai/gpt-4o-mini', messages, stream: true })).toContain(ANSWER_MARKER);
    mock.script('broken', { kind: 'error', status: 500, body: { error: { message: 'upstream failed' } } });
    await post({ model: 'openai/broken', messages });
    await post({ model: 'openai/gpt-4o', messages }, `${gw.apiKey}x`);
    await post({ model: 'openai/gpt-4o', messages: [{ role: 'robot', content: PROMPT_MARKER }] });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();

    const everything = logs.join('') + metrics;
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [PROVIDER_KEY, gw.apiKey, PROMPT_MARKER, ANSWER_MARKER]) {
      expect(everything.includes(secret), `found ${secret.slice(0, 12)}… in logs/metrics`).toBe(false);
    }
    // The access log is there, with request ids.
    expect(logs.join('')).toMatch(/"request_id":"req_[0-9a-f]{32}"/);
  });
});
