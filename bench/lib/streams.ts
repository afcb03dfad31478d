/** SSE clients: time to first chunk (sequential) and many concurrent streams. */
import { Agent, request } from 'node:http';
import type { HttpTarget } from './load.js';

export interface StreamSample {
  ok: boolean;
  /** Request sent → first body bytes (the first SSE event), ms. */
  ttfcMs: number;
  /** Request sent → end of the stream, ms. */
  totalMs: number;
  error?: string;
}

function streamOnce(target: HttpTarget, body: string, agent: Agent): Promise<StreamSample> {
  return new Promise((resolve) => {
    const started = performance.now();
    let ttfc = 0;
    let tail = '';
    const req = request(
      target.url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...target.headers,
        },
      },
      (res) => {
        res.on('data', (b: Buffer) => {
          if (ttfc === 0) ttfc = performance.now() - started;
          tail = (tail + b.toString('latin1')).slice(-64);
        });
        res.on('end', () => {
          const totalMs = performance.now() - started;
          const done = tail.includes('[DONE]');
          const ok = res.statusCode === 200 && done;
          resolve({
            ok,
            ttfcMs: ttfc,
            totalMs,
            error: ok ? undefined : `status ${res.statusCode}${done ? '' : ', no [DONE]'}`,
          });
        });
        res.on('error', (err) => resolve({ ok: false, ttfcMs: ttfc, totalMs: 0, error: err.message }));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, ttfcMs: ttfc, totalMs: 0, error: err.message }));
    req.end(body);
  });
}

/** One stream at a time over a keep-alive connection. */
export async function sequentialStreams(
  target: HttpTarget,
  body: string,
  count: number,
): Promise<StreamSample[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: StreamSample[] = [];
  try {
    for (let i = 0; i < count; i++) out.push(await streamOnce(target, body, agent));
  } finally {
    agent.destroy();
  }
  return out;
}

/** `count` streams open at once (started over `rampMs`), each on its own connection. */
export async function concurrentStreams(
  target: HttpTarget,
  body: string,
  count: number,
  rampMs: number,
): Promise<StreamSample[]> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  try {
    const all: Promise<StreamSample>[] = [];
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const due = (i * rampMs) / count;
      const wait = due - (performance.now() - started);
      if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      all.push(streamOnce(target, body, agent));
    }
    return await Promise.all(all);
  } finally {
    agent.destroy();
  }
}
