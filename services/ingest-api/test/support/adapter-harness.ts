import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChatReq, type ChatReqInput } from '@maniac-gateway/schemas';
import type { ProviderConfig } from '@maniac-gateway/runtime';
import type { Json, StreamTranslator, UpstreamRequestContext } from '../../src/providers/adapter.js';
import { StreamAssembler } from '../../src/providers/openai.js';
import { SseParser } from '../../src/providers/sse.js';

/** Test helpers for the adapter unit tests (not used by the service). */

/**
 * The recorded wire formats, kept beside the repository (`../shared/data/wire-formats`), or wherever
 * `MANIAC_WIRE_FORMATS_DIR` points when it is set.
 */
const wireFormatsOverride = process.env.MANIAC_WIRE_FORMATS_DIR;
export const WIRE_FORMATS = wireFormatsOverride
  ? resolve(wireFormatsOverride)
  : fileURLToPath(new URL('../../../../../shared/data/wire-formats/', import.meta.url));

/**
 * Whether the recordings are there: a clean checkout (CI) may not have the folder beside the repository, and the
 * tests that need them skip instead of failing (`describe.skipIf(!RECORDINGS_AVAILABLE)`).
 */
export const RECORDINGS_AVAILABLE = existsSync(WIRE_FORMATS);

export function wireFormat(name: string): string {
  const path = join(WIRE_FORMATS, name);
  if (!existsSync(path)) throw new Error(`recorded wire format ${path} is missing`);
  return readFileSync(path, 'utf8');
}

export function chatReq(input: Partial<ChatReqInput>): ChatReq {
  return ChatReq.parse({ messages: [{ role: 'user', content: 'hi' }], ...input });
}

export function context(
  kind: ProviderConfig['kind'],
  overrides: Partial<UpstreamRequestContext> = {},
  provider: Partial<ProviderConfig> = {},
): UpstreamRequestContext {
  return {
    upstreamModel: 'model-x',
    container: null,
    providerName: kind,
    stream: false,
    defaultMaxTokens: null,
    ...overrides,
    provider: {
      kind,
      base_url: 'http://127.0.0.1:1/v1',
      api_key: 'key-123',
      headers: {},
      forward_metadata: false,
      timeouts: { connect_ms: 1, first_byte_ms: 1, idle_ms: 1, total_ms: 1 },
      max_connections: 1,
      models: [],
      drop_unsupported_params: false,
      ...provider,
    },
  };
}

export interface StreamRun {
  chunks: Json[];
  done: boolean;
  assembler: StreamAssembler;
}

/** Feeds raw SSE text through the parser and a translator, assembling the chunks like the service does. */
export function runStream(translator: StreamTranslator, text: string): StreamRun {
  const parser = new SseParser();
  const chunks: Json[] = [];
  const assembler = new StreamAssembler();
  let done = false;
  for (const ev of [...parser.push(text), ...parser.end()]) {
    if (done) throw new Error('event after the translator signalled the end');
    const out = translator.push(ev);
    for (const c of out.chunks) {
      chunks.push(c);
      assembler.add(c);
    }
    done = out.done;
  }
  return { chunks, done, assembler };
}

export const IDENTITY = { id: 'chatcmpl-test', created: 1, model: 'p/m', provider: 'p', container: null };

/** The usage chunks of a stream (choices empty, usage set). */
export function usageChunks(chunks: Json[]): Json[] {
  return chunks.filter((c) => Array.isArray(c.choices) && c.choices.length === 0 && c.usage);
}

/** One recorded HTTP exchange of gemini_examples.txt. */
export interface RecordedExchange {
  url: string;
  request: Json;
  status: number;
  /** The JSON body of a non-streamed response. */
  response: Json | null;
  /** The raw SSE text of a streamed response. */
  sse: string | null;
}

/** The httprr traces of gemini_examples.txt, by section number (`######## 3) …` → 3). */
export function geminiTraces(): Map<number, RecordedExchange[]> {
  const text = wireFormat('gemini_examples.txt');
  const sections = new Map<number, RecordedExchange[]>();
  for (const section of text.split(/^######## /m).slice(1)) {
    const n = Number(/^(\d+)\)/.exec(section)?.[1]);
    const exchanges = section.split(/^\d+ \d+$/m).slice(1);
    sections.set(
      n,
      exchanges.map((ex) => {
        const url = /^POST (\S+)/m.exec(ex)?.[1] ?? '';
        const reqLine = /^(\{"contents".*?)HTTP\/2\.0 (\d+)/m.exec(ex);
        const request = JSON.parse(reqLine?.[1] ?? '{}') as Json;
        const status = Number(reqLine?.[2]);
        const after = ex.slice((reqLine?.index ?? 0) + (reqLine?.[0].length ?? 0));
        const sseLines = after.split('\n').filter((l) => l.startsWith('data: '));
        const block = /^\{\n[\s\S]*?\n\}$/m.exec(after);
        return {
          url,
          request,
          status,
          response: block ? (JSON.parse(block[0]) as Json) : null,
          sse: sseLines.length > 0 ? sseLines.map((l) => `${l}\r\n\r\n`).join('') : null,
        };
      }),
    );
  }
  return sections;
}
