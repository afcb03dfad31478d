import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that must never reach a log line: credentials, and (unless debug bodies are on) prompts and completions.
 * pino's redaction is applied at serialisation time, so a handler that accidentally logs a request still
 * cannot leak a key.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'headers.authorization',
  'authorization',
  'apiKey',
  'api_key',
  '*.apiKey',
  '*.api_key',
  'key',
  'body.messages',
  '*.messages',
];

export interface LoggerConfig {
  level?: string;
  /** Pretty/human output is not bundled; JSON lines always. */
  name: string;
  destination?: NodeJS.WritableStream;
  /**
   * Without a destination: write stdout through a 4 KiB buffer, flushed at least this often, instead of one
   * synchronous write per line (logging at info, one access line per request, cost ~10 % of ingest-api's CPU per
   * request; the write is part of that, the serialisation the rest). One such stream per process. Each chunk is
   * one synchronous write (as pino's own stdout destination does per line), so nothing is in flight when the
   * process ends: flushed on exit, including after a fatal error; a SIGKILL can lose the last interval's lines.
   */
  bufferMs?: number;
}

let stampedMs = -1;
let stamp = '';

/** pino's `isoTime`, formatted once per millisecond (several lines share one at load: ~1 % of ingest-api's CPU). */
function isoTimestamp(): string {
  const now = Date.now();
  if (now !== stampedMs) {
    stampedMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: config.name },
    timestamp: isoTimestamp,
  };
  if (config.destination) return pino(options, config.destination);
  if (config.bufferMs === undefined) return pino(options);
  // Synchronous: an asynchronous write still in the thread pool when the process exits is lost (sonic-boom's
  // flushSync does not re-send it), which lost a whole chunk after an uncaught exception while stdout's reader
  // was slow (logger.test.ts, 3 runs in 12 under CPU load).
  const lines = new ChunkedLines(pino.destination({ dest: 1, sync: true }), 4096);
  setInterval(() => lines.flush(), config.bufferMs).unref();
  // After pino's own exit hook has flushed what the file stream still holds (registered when it was created).
  process.once('exit', () => lines.flushSync());
  return pino(options, lines);
}

/**
 * Log lines gathered into ~`chunkChars` chunks, each handed to sonic-boom in one write. (sonic-boom's own
 * `minLength` buffering appends every line to one string and measures its byte length first, which flattens the
 * whole buffer at each line: up to 4 KiB copied per line, ~6 KB of garbage per request at info level.)
 */
class ChunkedLines {
  private parts: string[] = [];
  private chars = 0;

  constructor(
    private readonly out: pino.DestinationStream & { flushSync(): void },
    private readonly chunkChars: number,
  ) {}

  write(line: string): boolean {
    this.parts.push(line);
    this.chars += line.length;
    if (this.chars >= this.chunkChars) this.flush();
    return true;
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const chunk = this.parts.length === 1 ? (this.parts[0] as string) : this.parts.join('');
    this.parts = [];
    this.chars = 0;
    try {
      this.out.write(chunk);
    } catch {
      // sonic-boom throws while it is still opening or after it ended: these lines are lost, as a line written then
      // would be.
    }
  }

  flushSync(): void {
    this.flush();
    try {
      this.out.flushSync();
    } catch {
      /* not writable */
    }
  }
}

/**
 * Writes one info line with a fixed message through the logger's own destination, exactly as pino would
 * (`{"level":30,"time":…<bindings><fields>,"msg":…}`), without pino's per-call work: no child logger, no redaction
 * pass, no object walk. For the hottest line only — the access line, one per request (with its two metrics it was
 * ~6 % of a c64 profile of ingest-api through pino, ~4.5 % this way). `fields` is pre-serialised JSON members, each starting with a comma, holding nothing that
 * redaction would remove. Null when the logger is not a plain pino instance (the caller falls back to it).
 */
export function fixedInfoLine(logger: Logger, msg: string): ((fields: string) => void) | null {
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as
    { write?: (line: string) => unknown; [key: symbol]: unknown } | undefined;
  const time = internals[pino.symbols.timeSym];
  const chindings = internals[pino.symbols.chindingsSym];
  const end = internals[pino.symbols.endSym];
  const head = (internals[pino.symbols.lsCacheSym] as Record<number, unknown> | undefined)?.[30];
  if (
    typeof stream?.write !== 'function' ||
    stream[pino.symbols.needsMetadataGsym] === true ||
    typeof time !== 'function' ||
    typeof chindings !== 'string' ||
    typeof end !== 'string' ||
    typeof head !== 'string'
  ) {
    return null;
  }
  const write = stream.write.bind(stream);
  const now = time as () => string;
  const tail = `,"msg":${JSON.stringify(msg)}${end}`;
  return (fields) => {
    if (logger.isLevelEnabled('info')) write(head + now() + chindings + fields + tail);
  };
}
