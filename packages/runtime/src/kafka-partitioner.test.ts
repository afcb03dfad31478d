import { describe, expect, it } from 'vitest';
import type { PartitionerArgs } from 'kafkajs';
import { partitionPerSend } from './kafka.js';

const meta = (leaders: number[]) =>
  leaders.map((leader, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader,
    replicas: [],
    isr: [],
  }));

function args(leaders: number[], key: string): PartitionerArgs {
  return { topic: 't', partitionMetadata: meta(leaders), message: { key, value: 'v' } };
}

describe('partitionPerSend', () => {
  it('gives every message of a send one partition and moves to the next on advance', () => {
    const p = partitionPerSend();
    const choose = p.createPartitioner();
    const keys = ['a', 'b', 'chatcmpl-1', 'chatcmpl-2'];
    const seen: number[] = [];
    for (let send = 0; send < 6; send++) {
      p.advance();
      const chosen = new Set(keys.map((k) => choose(args([1, 1, 1], k))));
      expect(chosen.size).toBe(1);
      seen.push([...chosen][0] as number);
    }
    expect(seen).toEqual([1, 2, 0, 1, 2, 0]);
  });

  it('passes over partitions without a leader', () => {
    const p = partitionPerSend();
    const choose = p.createPartitioner();
    p.advance();
    expect(choose(args([1, -1, 1], 'k'))).toBe(2);
    p.advance();
    expect(choose(args([1, -1, 1], 'k'))).toBe(2);
    p.advance();
    expect(choose(args([1, -1, 1], 'k'))).toBe(0);
  });
});
