import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SseParser, type SseEvent } from './sse.js';

function parseAll(chunks: (string | Uint8Array)[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

describe('SseParser', () => {
  it('parses data events, comments, multi-line data and CRLF', () => {
    const events = parseAll([
      ': keepalive\n\ndata: {"a":1}\n\nevent: x\r\ndata: l1\r\ndata: l2\r\n\r\ndata: [DONE]\n\n',
    ]);
    expect(events).toEqual([
      { event: null, data: '{"a":1}', id: null },
      { event: 'x', data: 'l1\nl2', id: null },
      { event: null, data: '[DONE]', id: null },
    ]);
  });

  it('dispatches a trailing event without its blank line at end of input', () => {
    expect(parseAll(['data: tail']).map((e) => e.data)).toEqual(['tail']);
  });

  it('gives the same events however the bytes are split (property)', () => {
    const payloads = fc.array(
      fc.string({ unit: 'grapheme' }).filter((s) => !/[\r\n]/.test(s)),
      { minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(
        payloads,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        (datas, cuts, eol) => {
          const wire = Buffer.from(datas.map((d) => `data: ${d}${eol}${eol}`).join(''), 'utf8');
          const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
          const chunks: Uint8Array[] = [];
          let prev = 0;
          for (const p of points) {
            chunks.push(wire.subarray(prev, p));
            prev = p;
          }
          chunks.push(wire.subarray(prev));
          expect(parseAll(chunks).map((e) => e.data)).toEqual(datas);
        },
      ),
      { numRuns: 300 },
    );
  });
});
