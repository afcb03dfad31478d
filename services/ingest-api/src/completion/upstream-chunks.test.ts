import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StreamProtocolError, type Json } from '../providers/adapter.js';
import { openAiAdapter } from '../providers/openai.js';
import { Cancellation, UpstreamFailure, type UpstreamResponse } from '../providers/upstream.js';
import { UpstreamChunks } from './upstream-chunks.js';

const frame = (i: number): string =>
  `data: {"id":"u","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"c${i}"}}]}\n\n`;

/** An upstream body the test pushes into by hand. */
function upstream(maxBytes = 1 << 20): { res: UpstreamResponse; body: Readable } {
  const body = new Readable({ read() {} });
  body.on('error', () => undefined);
  return { res: { status: 200, headers: { 'content-type': 'text/event-stream' }, body, maxBytes }, body };
}

function reader(res: UpstreamResponse, signal = new Cancellation(), json = false): UpstreamChunks {
  const translator = openAiAdapter.stream({} as never);
  return new UpstreamChunks(res, translator, signal, json ? (b) => [b as Json] : null);
}

const contentOf = (c: Json): unknown => (c.choices as { delta: { content: string } }[])[0]?.delta.content;

/** A sink collecting contents into `seen`, writing nothing. */
function collect(seen: unknown[]): (c: Json) => boolean {
  return (c) => {
    seen.push(contentOf(c));
    return true;
  };
}

describe('UpstreamChunks', () => {
  it('parses events cut at any byte, queues what arrives before forward, and reports [DONE]', async () => {
    const { res, body } = upstream();
    const r = reader(res);
    const text = frame(0) + frame(1) + frame(2) + 'data: [DONE]\n\n';
    // Three-byte pieces: every event is split across reads.
    for (let i = 0; i < text.length; i += 3) body.push(Buffer.from(text.slice(i, i + 3)));
    const first = await r.first();
    expect(first && contentOf(first)).toBe('c0');
    const seen: unknown[] = [];
    await expect(r.forward(collect(seen), new PassThrough())).resolves.toBe(true);
    expect(seen).toEqual(['c1', 'c2']);
  });

  it('forwards chunks that arrive after forward in order; a body that just ends resolves false', async () => {
    const { res, body } = upstream();
    const r = reader(res);
    body.push(frame(0));
    await r.first();
    const seen: unknown[] = [];
    const done = r.forward(collect(seen), new PassThrough());
    body.push(frame(1));
    body.push(frame(2) + 'data: {"id":"u","choices":[{"index":0,"delta":{"content":"c3"}}]}');
    body.push(null);
    await expect(done).resolves.toBe(false);
    // The last event had no blank line: the end of input still dispatches it.
    expect(seen).toEqual(['c1', 'c2', 'c3']);
  });

  it('first() is null when the stream signals its end before any chunk', async () => {
    const { res, body } = upstream();
    const r = reader(res);
    body.push('data: [DONE]\n\n');
    await expect(r.first()).resolves.toBeNull();
  });

  it('pauses the body while the client is full and resumes on drain, losing nothing', async () => {
    const { res, body } = upstream();
    const r = reader(res);
    body.push(frame(0));
    await r.first();
    const got: string[] = [];
    let release: (() => void) | null = null;
    // A client that takes one write, then holds the next until released.
    const client = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        got.push(chunk.toString());
        if (got.length === 2) release = cb;
        else cb();
      },
    });
    const done = r.forward((c) => client.write(`${String(contentOf(c))},`), client);
    for (let i = 1; i <= 4; i++) body.push(frame(i));
    body.push('data: [DONE]\n\n');
    const deadline = Date.now() + 5_000;
    while (release === null && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(body.isPaused()).toBe(true);
    (release as unknown as () => void)();
    await expect(done).resolves.toBe(true);
    expect(got.join('')).toBe('c1,c2,c3,c4,');
  });

  it('passes exactly maxBytes to the parser, then fails too_large and destroys the body', async () => {
    const text = frame(0) + frame(1);
    const { res, body } = upstream(frame(0).length + 10);
    const r = reader(res);
    body.push(text);
    const first = await r.first();
    expect(first && contentOf(first)).toBe('c0');
    const err = await r.forward(collect([]), new PassThrough()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamFailure);
    expect((err as UpstreamFailure).kind).toBe('too_large');
    expect(body.destroyed).toBe(true);
  });

  it('delivers what came before an event that is not JSON, then fails with a protocol error', async () => {
    const { res, body } = upstream();
    const r = reader(res);
    body.push(frame(0) + frame(1) + 'data: {not json\n\n' + frame(2));
    await r.first();
    const seen: unknown[] = [];
    const err = await r.forward(collect(seen), new PassThrough()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamProtocolError);
    expect(seen).toEqual(['c1']);
  });

  it("a body's failure is classified: reset, or cancelled once the client left", async () => {
    const a = upstream();
    const ra = reader(a.res);
    a.body.push(frame(0));
    await ra.first();
    const pending = ra.forward(collect([]), new PassThrough());
    a.body.destroy(new Error('socket hang up'));
    const err = await pending.catch((e: unknown) => e);
    expect((err as UpstreamFailure).kind).toBe('reset');

    const b = upstream();
    const signal = new Cancellation();
    const rb = reader(b.res, signal);
    b.body.push(frame(0));
    await rb.first();
    const pendingB = rb.forward(collect([]), new PassThrough());
    signal.abort();
    b.body.destroy(new Error('aborted'));
    expect(((await pendingB.catch((e: unknown) => e)) as UpstreamFailure).kind).toBe('cancelled');
  });

  it("a sink's throw ends the stream with that error", async () => {
    const { res, body } = upstream();
    const r = reader(res);
    body.push(frame(0));
    await r.first();
    const gone = new UpstreamFailure('cancelled', 'client disconnected');
    const done = r.forward(() => {
      throw gone;
    }, new PassThrough());
    body.push(frame(1));
    await expect(done).rejects.toBe(gone);
  });

  it('replays a JSON answer as chunks (an upstream that ignored stream: true)', async () => {
    const { res, body } = upstream();
    res.headers['content-type'] = 'application/json';
    const r = reader(res, new Cancellation(), true);
    body.push('{"id":"x","choices":[{"index":0,"delta":{"content":"all"}}]}');
    body.push(null);
    const first = await r.first();
    expect(first && contentOf(first)).toBe('all');
    await expect(r.forward(collect([]), new PassThrough())).resolves.toBe(true);
  });
});
