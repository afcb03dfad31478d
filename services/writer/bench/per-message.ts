/**
 * The writer's per-message CPU, without Kafka or ClickHouse: decode (avsc record) → project → the row's JSON line,
 * for 2,000 distinct ~1.2-KB events, repeated. Prints ms of CPU per 1,000 events, 5 samples. On a shared machine
 * this varies far less than an end-to-end catch-up (`throughput.ts`), so a change to the path shows here first.
 *
 *   npx tsx --conditions development services/writer/bench/per-message.ts
 */
import { randomUUID } from 'node:crypto';
import {
  decodeCompletionEventRecord,
  encodeCompletionEvent,
  type CompletionEvent,
} from '@maniac-gateway/schemas';
import { sampleCompletionEvent } from '@maniac-gateway/testkit';
import { projectCompletion } from '../src/projection.js';
import { completionRowJson } from '../src/row-json.js';

const base: CompletionEvent = sampleCompletionEvent(0, {
  key_id: 'key_1',
  request_id: 'req_1',
  container: 'support-bot',
  usage: {
    prompt_tokens: 100,
    completion_tokens: 20,
    total_tokens: 120,
    cached_tokens: 0,
    cache_creation_tokens: null,
    reasoning_tokens: null,
  },
  spend_nanos: 123_456,
  latency_ms: 812,
  attempts: [
    { provider: 'openai', model: 'gpt-4o', status: 200, error_code: null, message: null, latency_ms: 800 },
  ],
  tags: ['bench'],
  metadata_json: '{"k":"v"}',
  request_json: JSON.stringify({
    model: 'openai/gpt-4o',
    messages: [
      {
        role: 'system',
        content: 'You are a helpful assistant that answers briefly and precisely, citing sources.',
      },
      { role: 'user', content: 'Question number 0: what is the capital of the country with the id 0?' },
    ],
  }),
  response_json: JSON.stringify({
    id: 'chatcmpl-0',
    object: 'chat.completion',
    created: 1_767_225_600,
    model: 'openai/gpt-4o',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'The answer to question 0 is a city; a few sentences of explanation.',
        },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  }),
});
const messages = Array.from({ length: 2000 }, (_, i) =>
  encodeCompletionEvent({ ...base, event_id: randomUUID(), completion_id: `chatcmpl-${i}`, latency_ms: i }),
);
const position = { topic: 'bench', partition: 0, offset: '0' };
let bytes = 0;
const pass = (): void => {
  for (const m of messages) {
    const row = projectCompletion(decodeCompletionEventRecord(m.value, m.headers), position);
    bytes += completionRowJson(row).length;
  }
};
for (let i = 0; i < 20; i++) pass(); // warm-up
const samples: string[] = [];
for (let s = 0; s < 5; s++) {
  const start = process.cpuUsage();
  for (let i = 0; i < 25; i++) pass();
  const used = process.cpuUsage(start);
  samples.push(((used.user + used.system) / 1000 / ((25 * messages.length) / 1000)).toFixed(2));
}
console.log(`writer per-message path: ${samples.join(' ')} ms CPU per 1,000 events (${bytes} chars written)`);
