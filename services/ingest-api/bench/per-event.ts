/**
 * ingest-api's CPU per completion event, from the deferred build to Kafka's acknowledgement: `EventPublisher.defer`
 * of a builder like the one a request leaves (the bench's request and the mock's reply) → build → Avro encode →
 * batched produce (gzip, idempotent, acks=all) to a real broker. Events are offered at a steady rate, so batches
 * are as large as they are behind live traffic (at 1,500/s and the 20-ms linger: ~30 per produce).
 *
 * Prints, per sample, µs per event of the main thread's busy time (event-loop utilisation) and of the whole
 * process's CPU (zlib's and V8's threads included), each less an idle run of the same pacing. Each builder is made
 * as its event is offered, as a request makes it just before it defers it (made all before a sample, 6,000 builders
 * outlived their scavenges and the figures rose by a fifth); making one is ~3 µs of what is counted. The event path
 * is ~a fifth of a sequential request's CPU, spread over three packages (avsc, kafkajs, zlib): a change to it shows
 * here long before it shows end to end on a shared machine.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx --conditions development services/ingest-api/bench/per-event.ts \
 *     [--rate 1500] [--seconds 4] [--samples 5] [--linger 20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createKafka, createLogger, ensureTopics, Metrics } from '@maniac-gateway/runtime';
import type { ChatReq, ChatRes } from '@maniac-gateway/schemas';
import {
  buildCompletionEvent,
  type CompletionOutcome,
  type EventContext,
} from '../src/completion/event-builder.js';
import { createIngestMetrics } from '../src/metrics.js';
import { EventPublisher } from '../src/events/publisher.js';
import { Spool } from '../src/events/spool.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1500' },
    seconds: { type: 'string', default: '4' },
    samples: { type: 'string', default: '5' },
    linger: { type: 'string', default: '20' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const samples = Number(values.samples);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

// What a request of the benchmark's sequential scenario leaves behind (bench/run.ts: the same prompt; the mock's reply).
const request = {
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
} as unknown as ChatReq;
function response(i: number): ChatRes {
  return {
    id: `chatcmpl-bench${i}`,
    object: 'chat.completion',
    created: 1_767_225_600,
    model: 'openai/gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
    system_fingerprint: 'fp_mock',
    provider: 'openai',
    container: null,
  } as unknown as ChatRes;
}

function builder(i: number): () => ReturnType<typeof buildCompletionEvent> {
  const receivedMs = Date.now();
  const ctx: EventContext = {
    completionId: `chatcmpl-${receivedMs.toString(36)}${i.toString(36).padStart(8, '0')}`,
    requestId: `req-${i}`,
    auth: { projectId: 'proj_bench', keyId: 'key_bench' } as EventContext['auth'],
    receivedMs,
    container: null,
    stream: false,
    request,
  };
  const res = response(i);
  const outcome: CompletionOutcome = {
    status: 'success',
    httpStatus: 200,
    response: res,
    responseJson: JSON.stringify(res),
    provider: 'openai',
    model: 'openai/gpt-4o-mini',
    upstreamModel: 'gpt-4o-mini',
    upstreamId: res.id,
    finishReason: 'stop',
    ttftMs: null,
    spendNanos: 7_200,
    attempts: [
      {
        provider: 'openai',
        model: 'openai/gpt-4o-mini',
        status: 200,
        error_code: null,
        message: null,
        latency_ms: 1,
      },
    ],
  };
  const nowMs = Date.now();
  return () => buildCompletionEvent(ctx, outcome, nowMs);
}

/** Offers `count` events (or none: `offer` false, the pacing alone) at `rate` per second from a 1-ms timer. */
async function paced(publisher: EventPublisher, count: number, offer: boolean): Promise<void> {
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000));
      for (; sent < due; sent++) if (offer) publisher.defer(builder(sent));
      if (sent >= count) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  if (offer) await publisher.drain();
}

interface Cost {
  mainUs: number;
  processUs: number;
}

async function measure(publisher: EventPublisher, count: number, offer: boolean): Promise<Cost> {
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  await paced(publisher, count, offer);
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  return { mainUs: elu.active * 1000, processUs: cpu.user + cpu.system };
}

const logger = createLogger({ name: 'bench-per-event', level: 'warn' });
const kafka = createKafka({ brokers, clientId: 'bench-per-event', logger });
const topic = `bench.per-event.${process.pid}`;
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
const spoolDir = mkdtempSync(join(tmpdir(), 'per-event-'));
const metrics = createIngestMetrics(new Metrics());
const publisher = new EventPublisher({
  topic,
  lingerMs: Number(values.linger),
  batchMax: 5_000,
  spool: new Spool(spoolDir, 1024 * 1024 * 1024),
  kafka,
  logger,
  metrics,
});
await publisher.start();

const count = Math.round(rate * seconds);
await measure(publisher, Math.min(count, 3_000), true); // warm-up
console.log(
  `${count} events per sample at ${rate}/s, linger ${values.linger} ms; µs per event, less the pacing's own cost`,
);
for (let s = 0; s < samples; s++) {
  const idle = await measure(publisher, count, false);
  const busy = await measure(publisher, count, true);
  const main = (busy.mainUs - idle.mainUs) / count;
  const proc = (busy.processUs - idle.processUs) / count;
  console.log(`sample ${s + 1}: main thread ${main.toFixed(1)} µs, process ${proc.toFixed(1)} µs`);
}
if ((await metrics.eventsSpooled.get()).values.some((v) => v.value > 0)) {
  console.log('note: events were spooled (Kafka refused or timed out): the figures include spooling');
}
await publisher.stop();
await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
await admin.disconnect();
rmSync(spoolDir, { recursive: true, force: true });
