import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { CompressionTypes, gzipChunkSize } from './kafka.js';

// The codec the runtime registers with kafkajs (importing ./kafka.js installs it).
const codec = kafkajs.CompressionCodecs[CompressionTypes.GZIP]!() as {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
};

function prose(bytes: number): Buffer {
  const words = ['lorem', 'ipsum', '{"role":"user","content":', 'dolor', 'sit', 'amet', '0.0042', 'tokens'];
  const out: string[] = [];
  let len = 0;
  for (let i = 0; len < bytes; i++) {
    const w = words[(i * 7919 + (i >> 3)) % words.length]!;
    out.push(w);
    len += w.length + 1;
  }
  return Buffer.from(out.join(' ').slice(0, bytes));
}

describe('gzip codec', () => {
  it('sizes zlib output buffers from the input, between 64 KiB and 8 MiB', () => {
    expect(gzipChunkSize(0, 0.5)).toBe(64 * 1024);
    expect(gzipChunkSize(1_000, 6)).toBe(64 * 1024);
    expect(gzipChunkSize(1_000_000, 0.5)).toBe(500_000);
    expect(gzipChunkSize(1_000_000, 6)).toBe(6_000_000);
    expect(gzipChunkSize(8_000_000, 6)).toBe(8 * 1024 * 1024);
  });

  it.each([
    ['a small batch', prose(2_000)],
    ['an 8 MB batch of text (one output buffer each way)', prose(8_000_000)],
    ['incompressible bytes (output larger than the first buffer)', randomBytes(3_000_000)],
    ['bytes that expand beyond 6x on decompression (several output buffers)', Buffer.alloc(5_000_000, 7)],
  ])('round-trips %s', async (_label, input) => {
    const compressed = await codec.compress({ buffer: input });
    expect(compressed[0]).toBe(0x1f); // gzip magic
    expect(compressed[1]).toBe(0x8b);
    const back = await codec.decompress(compressed);
    expect(back.length).toBe(input.length);
    expect(back.equals(input)).toBe(true);
  });
});
