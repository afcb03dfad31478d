import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anthropicResponse, anthropicStream, geminiResponse, geminiStream } from './native-wire.js';

/**
 * The builders must produce the shapes recorded from the live APIs (shared/data/wire-formats, beside the
 * repository, or wherever `MANIAC_WIRE_FORMATS_DIR` points). A clean checkout (CI) may not have them: the tests
 * then skip.
 */
const dirOverride = process.env.MANIAC_WIRE_FORMATS_DIR;
const dir = dirOverride
  ? resolve(dirOverride)
  : fileURLToPath(new URL('../../../../shared/data/wire-formats/', import.meta.url));
const RECORDINGS_AVAILABLE = existsSync(dir);
const read = (name: string) => readFileSync(join(dir, name), 'utf8');

type Obj = Record<string, unknown>;

/** Key paths of a JSON value (arrays by their first element), for shape comparison. */
function shape(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.length > 0 ? shape(value[0], `${prefix}[]`) : [`${prefix}[]`];
  if (typeof value !== 'object' || value === null) return [prefix];
  return Object.entries(value as Obj).flatMap(([k, v]) => shape(v, prefix ? `${prefix}.${k}` : k));
}

describe.skipIf(!RECORDINGS_AVAILABLE)('native wire builders', () => {
  it('anthropicResponse has the recorded Message shape', () => {
    const md = read('anthropic_messages.md');
    const recorded = (JSON.parse(/```json\n([\s\S]*?)\n```/.exec(md)?.[1] ?? '{}') as { response_body: Obj })
      .response_body;
    expect(shape(anthropicResponse()).sort()).toEqual(shape(recorded).sort());
  });

  it('anthropicStream has the recorded event sequence (text + tool_use)', () => {
    const text = read('anthropic_stream_example.txt').split(/^# ---- \d+\).*$/m)[2] ?? '';
    const recorded = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    const built = anthropicStream({
      content: 'I will check.',
      pieces: ['I', ' will check.'],
      toolCalls: [{ name: 'get_weather', arguments: '{"location": "Paris"}' }],
    }).map((e) => e.type);
    // Runs of content_block_delta are one step: their count depends on the text.
    const collapse = (types: (string | undefined | unknown)[]) =>
      types.filter((t, i) => t !== 'content_block_delta' || types[i - 1] !== 'content_block_delta');
    expect(collapse(built)).toEqual(collapse(recorded));
  });

  it('geminiResponse and geminiStream events have the recorded GenerateContentResponse shape', () => {
    const traces = read('gemini_examples.txt');
    const block = /^\{\n[\s\S]*?\n\}$/m.exec(traces)?.[0] ?? '{}';
    const recorded = JSON.parse(block) as Obj;
    const built = geminiResponse({
      usage: { promptTokenCount: 11, candidatesTokenCount: 1, thoughtsTokenCount: 34 },
    });
    expect(shape(built).sort()).toEqual(shape(recorded).sort());
    const last = geminiStream({
      usage: { promptTokenCount: 11, candidatesTokenCount: 1, thoughtsTokenCount: 33 },
    }).at(-1);
    const sse =
      /^data: (\{"candidates": \[\{"content": \{"parts": \[\{"text": "Paris"\}.*)$/m.exec(traces)?.[1] ??
      '{}';
    expect(shape(last).sort()).toEqual(shape(JSON.parse(sse)).sort());
  });
});
