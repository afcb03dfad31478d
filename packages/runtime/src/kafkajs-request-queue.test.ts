import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * `patches/kafkajs+2.2.4.patch` (applied by `npm install`'s postinstall): kafkajs 2.2.4's request queue re-armed
 * a 1-ms timer after every check even with nothing pending, so every broker connection of every client ran a
 * timer loop for its whole life (kafkajs issue #1556; measured on an idle writer: ~850 → ~185 wakeups/s, CPU
 * ~6 % → ~3.7 % of a core). These tests pin the patched behaviour and that queued requests are still sent.
 */

interface Entry {
  correlationId: number;
  apiKey: number;
  apiName: string;
  apiVersion: number;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}
interface RequestQueue {
  pending: unknown[];
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  push(request: { entry: Entry; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer | null; size: number }): void;
  maybeThrottle(ms: number | null): void;
  destroy(): void;
}
type RequestQueueCtor = new (options: {
  maxInFlightRequests: number | null;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  clientId: string;
  broker: string;
  logger: Record<'debug' | 'info' | 'warn' | 'error', () => void>;
}) => RequestQueue;

const require = createRequire(import.meta.url);
const RequestQueueClass = require('kafkajs/src/network/requestQueue/index.js') as RequestQueueCtor;

const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const queues: RequestQueue[] = [];

function queue(maxInFlightRequests: number | null): RequestQueue {
  const q = new RequestQueueClass({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: '127.0.0.1:9092',
    logger: silent,
  });
  queues.push(q);
  return q;
}

/** Pushes a request that records when it is sent; `done` resolves with the response once fulfilled. */
function push(q: RequestQueue, correlationId: number) {
  const state = { sent: false, done: null as Promise<unknown> | null };
  state.done = new Promise((resolve, reject) => {
    q.push({
      entry: { correlationId, apiKey: 0, apiName: 'Produce', apiVersion: 3, resolve, reject },
      expectResponse: true,
      sendRequest: () => {
        state.sent = true;
      },
    });
  });
  return state;
}

async function until(condition: () => boolean, what: string, deadlineMs = 2_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

afterEach(() => {
  for (const q of queues.splice(0)) q.destroy();
});

describe('kafkajs request queue (patched)', () => {
  it('arms no timer once a request is answered and nothing is pending', async () => {
    const q = queue(null);
    const request = push(q, 1);
    expect(request.sent).toBe(true);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    await expect(request.done).resolves.toMatchObject({ correlationId: 1 });
    // Unpatched, this was a Timeout re-armed every millisecond.
    expect(q.pending).toHaveLength(0);
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it('still sends a request queued behind the in-flight limit when the one before it is answered', async () => {
    const q = queue(1);
    const first = push(q, 1);
    const second = push(q, 2);
    expect(first.sent).toBe(true);
    expect(second.sent).toBe(false);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(second.sent).toBe(true);
    q.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    await expect(second.done).resolves.toMatchObject({ correlationId: 2 });
    // The check armed while the second request waited fires once more, finds nothing and is not re-armed.
    await until(() => q.throttleCheckTimeoutId === null, 'the pending-request check to stop');
  });

  it('sends a request queued while throttled once the throttle ends, then stops checking', async () => {
    const q = queue(null);
    q.maybeThrottle(30);
    const request = push(q, 1);
    expect(request.sent).toBe(false);
    expect(q.throttleCheckTimeoutId).not.toBeNull();
    await until(() => request.sent, 'the throttled request to be sent');
    expect(q.pending).toHaveLength(0);
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    await expect(request.done).resolves.toMatchObject({ correlationId: 1 });
  });
});
