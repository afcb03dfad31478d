import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * `patches/kafkajs+2.2.4.patch` (applied by `npm install`'s postinstall): kafkajs 2.2.4 grouped a produce
 * request's messages by partition by copying the partition's array for every message (`[...current, message]`):
 * quadratic in the batch (~3 KB of garbage per event in ingest-api at 256 connections, by heap sampling). These
 * tests pin that the patch is installed and the grouping the producer relies on.
 */

interface Message {
  key: string;
}
type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: Message }) => number;
type Group = (args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Message[];
  partitioner: Partitioner;
}) => Record<number, Message[]>;

const require = createRequire(import.meta.url);
const groupPath = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const group = require(groupPath) as Group;
const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }];
const messages = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `m${i}` }));

describe('kafkajs groupMessagesPerPartition (patched)', () => {
  it('is the patched grouping (no copy of the partition array per message)', () => {
    const source = readFileSync(groupPath, 'utf8')
      .split('\n')
      .filter((line) => !line.trim().startsWith('//'))
      .join('\n');
    expect(source).not.toContain('[...current, message]');
    expect(source).toContain('current.push(message)');
  });

  it("keeps each partition's messages in their order", () => {
    const all = messages(10);
    const byKey: Partitioner = ({ message }) => Number(message.key.slice(1)) % 3;
    const grouped = group({ topic: 't', partitionMetadata, messages: all, partitioner: byKey });
    expect(Object.keys(grouped)).toEqual(['0', '1', '2']);
    expect(grouped[0]?.map((m) => m.key)).toEqual(['m0', 'm3', 'm6', 'm9']);
    expect(grouped[1]?.map((m) => m.key)).toEqual(['m1', 'm4', 'm7']);
    expect(grouped[2]?.map((m) => m.key)).toEqual(['m2', 'm5', 'm8']);
    expect(grouped[0]?.[0]).toBe(all[0]);
  });

  it('groups a whole large batch into one partition (the gateway sends each batch to one)', () => {
    const all = messages(300_000);
    const grouped = group({ topic: 't', partitionMetadata, messages: all, partitioner: () => 1 });
    expect(Object.keys(grouped)).toEqual(['1']);
    expect(grouped[1]).toHaveLength(300_000);
    expect(grouped[1]?.[299_999]).toBe(all[299_999]);
  });

  it('returns nothing without partition metadata', () => {
    expect(group({ topic: 't', partitionMetadata: [], messages: messages(3), partitioner: () => 0 })).toEqual(
      {},
    );
  });
});
