import { describe, expect, it } from 'vitest';
import { bodyOf, LineArena, type LineRange } from './line-arena.js';

const text = (parts: Buffer[]) => Buffer.concat(parts).toString('utf8');

describe('LineArena', () => {
  it('writes lines back to back and hands out their ranges', () => {
    const arena = new LineArena(64);
    const a = arena.appendLine('{"a":1}');
    const b = arena.appendLine('{"b":"é😀"}');
    expect(b.chunk).toBe(a.chunk);
    expect(b.start).toBe(a.end);
    expect(a.chunk.subarray(a.start, a.end).toString('utf8')).toBe('{"a":1}\n');
    expect(b.chunk.subarray(b.start, b.end).toString('utf8')).toBe('{"b":"é😀"}\n');
    expect(b.end - b.start).toBe(Buffer.byteLength('{"b":"é😀"}\n'));
  });

  it('starts a new chunk when a line does not fit, never rewriting one handed out', () => {
    const arena = new LineArena(16);
    const a = arena.appendLine('0123456789');
    const b = arena.appendLine('abcdefghij');
    expect(b.chunk).not.toBe(a.chunk);
    // A line longer than a chunk gets a chunk of its own size.
    const long = 'x'.repeat(100);
    const c = arena.appendLine(long);
    expect(c.chunk.subarray(c.start, c.end).toString()).toBe(`${long}\n`);
    expect(a.chunk.subarray(a.start, a.end).toString()).toBe('0123456789\n');
    expect(b.chunk.subarray(b.start, b.end).toString()).toBe('abcdefghij\n');
  });

  it('measures a line that might not fit, and fills a chunk to its last byte', () => {
    const arena = new LineArena(8);
    const a = arena.appendLine('ab'); // 3 bytes: 5 left
    const b = arena.appendLine('éé'); // might need 7, needs 5: fits
    const c = arena.appendLine('x'); // nothing left
    expect(b.chunk).toBe(a.chunk);
    expect(b.end).toBe(8);
    expect(c.chunk).not.toBe(a.chunk);
    expect([a, b, c].map((r) => r.chunk.subarray(r.start, r.end).toString('utf8'))).toEqual([
      'ab\n',
      'éé\n',
      'x\n',
    ]);
  });
});

describe('bodyOf', () => {
  it('joins lines back to back into one view and keeps order across chunks and gaps', () => {
    const arena = new LineArena(32);
    const lines: LineRange[] = ['l1', 'l2', 'l3', 'l4-is-longer-than-the-rest', 'l5', 'l6'].map((l) =>
      arena.appendLine(l),
    );
    expect(bodyOf(lines.slice(0, 3))).toHaveLength(1);
    expect(text(bodyOf(lines))).toBe('l1\nl2\nl3\nl4-is-longer-than-the-rest\nl5\nl6\n');
    // Rows dropped by the fences leave gaps: the body skips them.
    const kept = [lines[0], lines[2], lines[3], lines[5]] as LineRange[];
    expect(text(bodyOf(kept))).toBe('l1\nl3\nl4-is-longer-than-the-rest\nl6\n');
    expect(bodyOf([])).toEqual([]);
  });
});
