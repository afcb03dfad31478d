import { finished, type Writable } from 'node:stream';
import type { Json, StreamTranslator } from '../providers/adapter.js';
import { SseParser } from '../providers/sse.js';
import {
  UpstreamFailure,
  classify,
  readBodyText,
  tooLarge,
  type Cancellation,
  type UpstreamResponse,
} from '../providers/upstream.js';

/**
 * A chunk consumer: returns false when its destination is full (what `Writable.write` returned; the reader then
 * pauses the body until the destination's `drain`), true otherwise. May throw to end the stream (the reader
 * settles with that error).
 */
export type ChunkSink = (chunk: Json) => boolean;

/**
 * An upstream stream as OpenAI chunks, pushed. The body's `data` events are bounded, parsed (SSE), translated by
 * the adapter and handed to a sink in the same tick — no async iterator, generator or promise per event, which
 * is what three layers of `for await` cost (~15 µs of CPU per forwarded event, about twice the parse, rewrite
 * and re-serialisation themselves). Chunks that arrive before a sink is attached (while the first one is
 * peeked and the status committed) are queued.
 *
 * Outcomes: `first()` and `forward()` resolve true when the upstream signalled the end (`[DONE]` or its
 * equivalent), false when the body simply ended; they reject with StreamProtocolError (an in-stream error or an
 * event that is not JSON), UpstreamFailure `too_large` (exactly the first `maxBytes` are parsed), or the body's
 * own failure classified (reset, idle timeout, cancelled). The reader never destroys the body except past the
 * bound: the caller ends it with `finishBody`, which drains one that completed so its connection goes back to the
 * pool (destroying a body that has not ended closes the socket: a new TCP — in production TLS — handshake for
 * the next request).
 */
export class UpstreamChunks {
  private readonly queue: Json[] = [];
  private sink: ChunkSink | null = null;
  private settled: { sawDone: boolean } | { error: unknown } | null = null;
  private wake: (() => void) | null = null;
  private size = 0;
  private readonly parser = new SseParser();
  private readonly onData = (bytes: Buffer): void => this.data(bytes);
  private readonly onDrain = (): void => {
    if (this.settled === null) this.res.body.resume();
  };
  private stopWatching: (() => void) | null = null;

  constructor(
    private readonly res: UpstreamResponse,
    private readonly translator: StreamTranslator,
    private readonly signal: Cancellation,
    json: ((body: unknown) => Json[]) | null,
  ) {
    if (json) {
      // Some upstreams ignore `stream: true` and answer JSON: replayed as chunks so the client still streams.
      readBodyText(res, signal).then(
        (text) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            this.settle({ error: new UpstreamFailure('reset', 'upstream returned a body that is not JSON') });
            return;
          }
          try {
            for (const chunk of json(parsed)) this.deliver(chunk);
            this.settle({ sawDone: true });
          } catch (err) {
            this.settle({ error: err });
          }
        },
        (err: unknown) => this.settle({ error: err }),
      );
      return;
    }
    const body = res.body;
    body.on('data', this.onData);
    const cleanup = finished(body, (err) => {
      cleanup();
      this.stopWatching = null;
      if (this.settled !== null) return;
      if (err) {
        this.settle({ error: classify(err, signal) });
        return;
      }
      this.translate(this.parser.end());
      if (this.settled === null) this.settle({ sawDone: false });
    });
    this.stopWatching = cleanup;
  }

  /** The first chunk, or null when the stream ended (or signalled its end) before any. */
  async first(): Promise<Json | null> {
    while (this.queue.length === 0 && this.settled === null) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    const chunk = this.queue.shift();
    if (chunk !== undefined) return chunk;
    if (this.settled !== null && 'error' in this.settled) throw this.settled.error;
    return null;
  }

  /**
   * Hands every chunk — the queued ones first — to `sink` as it arrives, pausing the body while `out` (the
   * sink's destination) is full. Resolves or rejects as the stream ends (see the class).
   */
  forward(sink: ChunkSink, out: Writable): Promise<boolean> {
    out.on('drain', this.onDrain);
    try {
      while (this.queue.length > 0) {
        if (!sink(this.queue.shift() as Json)) this.res.body.pause();
      }
    } catch (err) {
      this.settle({ error: err });
    }
    this.sink = sink;
    return new Promise<boolean>((resolve, reject) => {
      const done = (): void => {
        out.off('drain', this.onDrain);
        const s = this.settled as { sawDone: boolean } | { error: unknown };
        if ('error' in s) reject(s.error);
        else resolve(s.sawDone);
      };
      if (this.settled !== null) done();
      else this.wake = done;
    });
  }

  private data(bytes: Buffer): void {
    if (this.settled !== null) return;
    this.size += bytes.length;
    if (this.size > this.res.maxBytes) {
      // Exactly the first maxBytes are parsed, however the network happened to cut the chunks.
      const within = bytes.length - (this.size - this.res.maxBytes);
      if (within > 0) this.translate(this.parser.push(bytes.subarray(0, within)));
      if (this.settled !== null) return;
      this.res.body.destroy();
      this.settle({ error: tooLarge(this.res) });
      return;
    }
    this.translate(this.parser.push(bytes));
  }

  /** Translates and delivers events; settles on the end signal or on a thrown error (protocol or sink). */
  private translate(events: ReturnType<SseParser['push']>): void {
    try {
      for (const ev of events) {
        if (this.settled !== null) return;
        const { chunks, done } = this.translator.push(ev);
        for (const chunk of chunks) this.deliver(chunk);
        if (done) {
          this.settle({ sawDone: true });
          return;
        }
      }
    } catch (err) {
      this.settle({ error: err });
    }
  }

  private deliver(chunk: Json): void {
    if (this.sink === null) {
      this.queue.push(chunk);
      this.notify();
      return;
    }
    if (!this.sink(chunk)) this.res.body.pause();
  }

  private settle(outcome: { sawDone: boolean } | { error: unknown }): void {
    if (this.settled !== null) return;
    this.settled = outcome;
    this.res.body.off('data', this.onData);
    this.stopWatching?.();
    this.stopWatching = null;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
