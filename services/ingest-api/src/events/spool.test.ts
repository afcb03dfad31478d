import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SegmentReader, Spool, batchEnd, type SpooledMessage } from './spool.js';

function msg(i: number): SpooledMessage {
  return {
    key: `k${i}`,
    value: Buffer.from(`value-${i}-\u00e9\u{1F600}`),
    headers: { 'maniac-schema': 'x@1' },
  };
}

describe('Spool', () => {
  it('replays everything in order and leaves nothing behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const spool = new Spool(dir, 1 << 30);
    await spool.open();
    for (let b = 0; b < 5; b++) await spool.append([msg(b * 2), msg(b * 2 + 1)]);
    expect(spool.isEmpty()).toBe(false);
    const seen: SpooledMessage[] = [];
    const sent = await spool.replay(async (batch) => void seen.push(...batch), 3);
    expect(sent).toBe(10);
    expect(seen.map((m) => m.key)).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
    expect(seen[3]?.value.toString()).toBe(msg(3).value.toString());
    expect(spool.isEmpty()).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    await spool.close();
  });

  // Replay reads a segment in chunks (1 MiB by default); a few bytes put every line across chunk boundaries.
  it.each([undefined, 7])(
    'resumes after a failed send without re-sending acknowledged batches, across a restart (read chunk %s)',
    async (readChunk) => {
      const dir = mkdtempSync(join(tmpdir(), 'spool-'));
      const first = new Spool(dir, 1 << 30, undefined, readChunk);
      await first.open();
      await first.append(Array.from({ length: 10 }, (_, i) => msg(i)));
      const seen: string[] = [];
      let calls = 0;
      await expect(
        first.replay(async (batch) => {
          calls++;
          if (calls === 3) throw new Error('kafka down');
          seen.push(...batch.map((m) => m.key));
        }, 3),
      ).rejects.toThrow('kafka down');
      await first.close();
      expect(seen).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);

      const second = new Spool(dir, 1 << 30, undefined, readChunk);
      await second.open();
      expect(second.isEmpty()).toBe(false);
      const batches: number[] = [];
      await second.replay(async (batch) => {
        batches.push(batch.length);
        seen.push(...batch.map((m) => m.key));
      }, 3);
      expect(batches).toEqual([3, 1]);
      expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
      expect(second.bytes()).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
      await second.close();
    },
  );

  it('skips a torn last line and keeps appending after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const spool = new Spool(dir, 1 << 30);
    await spool.open();
    await spool.append([msg(1)]);
    await spool.close();
    const [segment] = readdirSync(dir);
    appendFileSync(join(dir, segment as string), '{"k":"torn","v":"AAA');
    const reopened = new Spool(dir, 1 << 30);
    await reopened.open();
    await reopened.append([msg(2)]);
    const seen: string[] = [];
    await reopened.replay(async (batch) => void seen.push(...batch.map((m) => m.key)));
    expect(seen).toEqual(['k1', 'k2']);
    await reopened.close();
  });

  it('skips a segment removed by hand instead of failing the replay for good', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    // Segments of ~one message: k1, k2, k3 each in its own.
    const spool = new Spool(dir, 1 << 30, 64);
    await spool.open();
    for (const i of [1, 2, 3]) await spool.append([msg(i)]);
    await spool.close();
    const [first] = readdirSync(dir).sort();
    rmSync(join(dir, first as string));
    const seen: string[] = [];
    await spool.replay(async (batch) => void seen.push(...batch.map((m) => m.key)));
    expect(seen).toEqual(['k2', 'k3']);
    expect(spool.isEmpty()).toBe(true);
  });

  it('refuses appends beyond max_bytes', async () => {
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'spool-')), 200);
    await spool.open();
    expect(await spool.append([msg(1)])).toBe(true);
    expect(await spool.append([msg(2), msg(3), msg(4)])).toBe(false);
    expect(spool.bytes()).toBeLessThanOrEqual(200);
    await spool.close();
  });
});

describe('SegmentReader (replay reads a segment as a stream)', () => {
  async function segmentOf(messages: SpooledMessage[]): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const spool = new Spool(dir, 1 << 30);
    await spool.open();
    await spool.append(messages);
    await spool.close();
    const [segment] = readdirSync(dir);
    return join(dir, segment as string);
  }

  it('has read one chunk, not the whole segment, when it returns the first message', async () => {
    const messages = Array.from({ length: 200 }, (_, i) => ({
      key: `k${i}`,
      value: Buffer.alloc(10_000, i),
      headers: {},
    }));
    const path = await segmentOf(messages);
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(2_000_000);
    const reader = new SegmentReader(path, 64 * 1024);
    const first = await reader.next();
    expect(first?.key).toBe('k0');
    expect(reader.bytesRead).toBe(64 * 1024);
    let n = 1;
    let m: SpooledMessage | undefined;
    while ((m = await reader.next()) !== undefined) {
      expect(m.key).toBe(`k${n}`);
      expect(m.value.equals(Buffer.alloc(10_000, n))).toBe(true);
      n++;
    }
    expect(n).toBe(200);
    expect(reader.bytesRead).toBe(size);
  });

  it('reassembles lines longer than its chunk, and skips a torn tail that spans chunks', async () => {
    const messages = Array.from({ length: 5 }, (_, i) => ({
      key: `k${i}`,
      value: Buffer.from(`${i}`.repeat(30_000 + i)),
      headers: { h: `${i}` },
    }));
    const path = await segmentOf(messages);
    appendFileSync(path, `{"k":"torn","v":"${'A'.repeat(10_000)}`);
    const reader = new SegmentReader(path, 4096);
    const seen: SpooledMessage[] = [];
    let m: SpooledMessage | undefined;
    while ((m = await reader.next()) !== undefined) seen.push(m);
    expect(seen.map((x) => x.key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    expect(seen.map((x) => x.value.toString())).toEqual(messages.map((x) => x.value.toString()));
    expect(seen[3]?.headers).toEqual({ h: '3' });
  });
});

describe('batchEnd', () => {
  it('bounds batches by count and by bytes, and always takes at least one message', () => {
    const big = (n: number): SpooledMessage => ({
      key: `k${n}`,
      value: Buffer.alloc(400 * 1024),
      headers: {},
    });
    const msgs = Array.from({ length: 5 }, (_, i) => big(i));
    expect(batchEnd(msgs, 0, 500, 900 * 1024)).toBe(2);
    expect(batchEnd(msgs, 4, 500, 900 * 1024)).toBe(5);
    expect(batchEnd(msgs, 0, 500, 100)).toBe(1);
    expect(batchEnd(msgs, 0, 3, Number.MAX_SAFE_INTEGER)).toBe(3);
  });

  it('replays large messages in byte-bounded batches', async () => {
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'spool-')), 1 << 30);
    await spool.open();
    await spool.append(
      Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(300 * 1024), headers: {} })),
    );
    const sizes: number[] = [];
    await spool.replay(async (batch) => void sizes.push(batch.length), 500, 900 * 1024);
    expect(sizes).toEqual([2, 2, 2]);
    await spool.close();
  });
});
