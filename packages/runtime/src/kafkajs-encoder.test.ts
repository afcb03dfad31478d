import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CompressionTypes } from './kafka.js';

/**
 * `patches/kafkajs+2.2.4.patch`: kafkajs's protocol encoder allocated every buffer zero-filled (`Buffer.alloc`),
 * starting at 512 bytes for every record and header of a produce request and growing by copying, and every varint
 * through an array and a Buffer of its own. Patched: `Buffer.allocUnsafe` (small ones from Node's pool), varints
 * written in place, and a record's encoder sized for the record (`services/ingest-api/bench/per-event.ts`: ~15 %
 * less main-thread CPU per event at 1,500 events/s). Uninitialised memory is only safe if every byte up to the
 * encoder's offset is written: these tests decode what the patched encoder writes with kafkajs's own decoder,
 * compare its varints with an independent encoding, and check that two encodings of one batch are identical
 * whatever the pool held before.
 */

interface KafkaEncoder {
  buffer: Buffer;
  writeVarInt(n: number): KafkaEncoder;
  writeUVarInt(n: number): KafkaEncoder;
  writeVarLong(n: number): KafkaEncoder;
}
interface KafkaDecoder {
  readVarInt(): number;
  readUVarInt(): number;
  readVarLong(): { toString(): string };
}
interface DecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
  offset: string;
}
interface OutMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string | Buffer | (string | Buffer)[]>;
}

const require = createRequire(import.meta.url);
const encoderPath = require.resolve('kafkajs/src/protocol/encoder.js');
const recordPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Encoder = require(encoderPath) as new () => KafkaEncoder;
const Decoder = require(require.resolve('kafkajs/src/protocol/decoder.js')) as new (
  buffer: Buffer,
) => KafkaDecoder;
const Record = require(recordPath) as (r: {
  offsetDelta: number;
  timestampDelta: number;
  key: string;
  value: Buffer;
  headers: OutMessage['headers'];
}) => KafkaEncoder;
const { RecordBatch } = require(require.resolve('kafkajs/src/protocol/recordBatch/v0/index.js')) as {
  RecordBatch: (b: {
    compression: number;
    records: KafkaEncoder[];
    firstTimestamp: number;
    maxTimestamp: number;
    lastOffsetDelta: number;
  }) => Promise<KafkaEncoder>;
};
const decodeBatch = require(require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder.js')) as (
  d: KafkaDecoder,
) => Promise<{ records: DecodedRecord[] }>;

function code(path: string): string {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .join('\n');
}

/** Zigzag + LEB128, written independently of kafkajs (BigInt: exact for any safe integer). */
function referenceVarLong(n: number): Buffer {
  let z = n >= 0 ? BigInt(n) * 2n : -BigInt(n) * 2n - 1n;
  const out: number[] = [];
  do {
    const low = Number(z & 0x7fn);
    z >>= 7n;
    out.push(z > 0n ? low | 0x80 : low);
  } while (z > 0n);
  return Buffer.from(out);
}

async function encodeBatch(messages: OutMessage[], compression: number): Promise<Buffer> {
  const now = 1_767_225_600_000;
  const records = messages.map((m, i) => Record({ ...m, offsetDelta: i, timestampDelta: i }));
  const batch = await RecordBatch({
    compression,
    records,
    firstTimestamp: now,
    maxTimestamp: now + messages.length,
    lastOffsetDelta: messages.length - 1,
  });
  return batch.buffer;
}

const SIZES = [0, 1, 127, 128, 511, 512, 4_095, 4_096, 8_192, 70_000];
const messages: OutMessage[] = SIZES.map((size, i) => ({
  key: `chatcmpl-${i}-${'k'.repeat(i * 20)}`,
  value: randomBytes(size),
  headers: {
    'maniac-schema': 'ai.maniac.gateway.events.CompletionEvent@0123456789abcdef',
    bin: randomBytes(i * 50),
    many: ['a', Buffer.from('b'), 'c'.repeat(300)],
  },
}));

describe('kafkajs protocol encoder (patched)', () => {
  it('is the patched encoder (no zero-filled allocations, varints in place, records sized)', () => {
    const encoder = code(encoderPath);
    expect(encoder).not.toContain('Buffer.alloc(');
    expect(encoder).toContain('Buffer.allocUnsafe(');
    expect(encoder).not.toContain('Buffer.from(byteArray)');
    expect(code(recordPath)).toContain('new Encoder(sizeOfBody + 5)');
  });

  it('writes varints and varlongs as an independent encoder does, and reads them back', () => {
    const ints = [0, 1, -1, 63, 64, -64, -65, 8_191, 8_192, 2 ** 20, -(2 ** 20), 2 ** 31 - 1, -(2 ** 31)];
    const longs = [...ints, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const uints = [0, 1, 127, 128, 16_383, 16_384, 2 ** 28, 2 ** 31 - 1];
    const e = new Encoder();
    for (const n of ints) e.writeVarInt(n);
    for (const n of longs) e.writeVarLong(n);
    for (const n of uints) e.writeUVarInt(n);
    const reference = Buffer.concat([
      ...ints.map(referenceVarLong),
      ...longs.map(referenceVarLong),
      // unsigned: plain LEB128
      ...uints.map((n) => {
        const out: number[] = [];
        let v = n;
        while (v >= 0x80) {
          out.push((v & 0x7f) | 0x80);
          v = Math.floor(v / 128);
        }
        out.push(v);
        return Buffer.from(out);
      }),
    ]);
    expect(e.buffer.equals(reference)).toBe(true);
    const d = new Decoder(e.buffer);
    expect(ints.map(() => d.readVarInt())).toEqual(ints);
    expect(longs.map(() => d.readVarLong().toString())).toEqual(longs.map(String));
    expect(uints.map(() => d.readUVarInt())).toEqual(uints);
  });

  for (const [name, compression] of [
    ['uncompressed', CompressionTypes.None],
    ['gzip', CompressionTypes.GZIP],
  ] as const) {
    it(`round-trips a ${name} record batch of keys, values and headers of many sizes`, async () => {
      const encoded = await encodeBatch(messages, compression);
      const { records } = await decodeBatch(new Decoder(encoded));
      expect(records).toHaveLength(messages.length);
      records.forEach((r, i) => {
        const m = messages[i] as OutMessage;
        expect(r.key?.toString()).toBe(m.key);
        expect(r.value?.equals(m.value)).toBe(true);
        expect(r.headers['maniac-schema']?.toString()).toBe(m.headers['maniac-schema']);
        expect((r.headers.bin as Buffer).equals(m.headers.bin as Buffer)).toBe(true);
        expect((r.headers.many as Buffer[]).map(String)).toEqual(['a', 'b', 'c'.repeat(300)]);
      });
    });
  }

  it('writes the same bytes for the same batch whatever the buffer pool held', async () => {
    const first = await encodeBatch(messages, CompressionTypes.None);
    // Fill the pool and fresh allocations with a pattern: a byte the encoder skipped would now differ.
    for (let i = 0; i < 64; i++) Buffer.allocUnsafe(1 + ((i * 997) % 4_000)).fill(0xee);
    for (let i = 0; i < 8; i++) Buffer.allocUnsafe(200_000).fill(0xee);
    const second = await encodeBatch(messages, CompressionTypes.None);
    expect(second.equals(first)).toBe(true);
  });
});
